#!/usr/bin/env bash
# Everything the test suites talk to, on this machine: the engine (with the test image), the
# registries on 127.0.0.1:5000 (open) and :5001 (htpasswd), a second engine with TLS on
# 127.0.0.1:2376, and an sshd on 127.0.0.1:2222. Each script installs what it lacks (as root).
#
#   scripts/services.sh up|down|status
set -euo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"

case "${1:-}" in
  up)
    bash "$dir/engine.sh" up
    bash "$dir/registry.sh" up --auth
    bash "$dir/tls-engine.sh" up
    bash "$dir/sshd.sh" up
    ;;
  down)
    bash "$dir/sshd.sh" down
    bash "$dir/tls-engine.sh" down
    bash "$dir/registry.sh" down
    bash "$dir/engine.sh" down
    ;;
  status)
    rc=0
    for s in engine registry tls-engine sshd; do bash "$dir/$s.sh" status || rc=1; done
    exit "$rc"
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
