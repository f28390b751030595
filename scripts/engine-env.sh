#!/usr/bin/env bash
# Prints the environment that points the docker CLI, dockhand and its tests at one of the engines
# of scripts/engines.sh:
#
#   eval "$(bash scripts/engine-env.sh docker26)"    then `docker version`, `npm test`, ...
#   bash scripts/engine-env.sh                       the line of every engine
#
# Says on stderr when the engine does not answer (start it with `bash scripts/engines.sh up NAME`).
# Exit codes: 0 printed, 2 usage error (an unknown engine).
set -euo pipefail

# shellcheck source=scripts/lib/engines-conf.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/engines-conf.sh"

(($# <= 1)) || { echo "usage: $0 [${ENGINES[*]}]" >&2; exit 2; }
if (($# == 0)); then
  for name in "${ENGINES[@]}"; do printf '%-16s DOCKER_HOST=unix://%s\n' "$name" "$(engine_socket "$name")"; done
  exit 0
fi
is_engine "$1" || { echo "engine-env: unknown engine '$1' (known: ${ENGINES[*]})" >&2; exit 2; }
socket="$(engine_socket "$1")"
if ! curl -sf --max-time 3 --unix-socket "$socket" -o /dev/null http://localhost/_ping 2>/dev/null; then
  echo "engine-env: $1 does not answer on $socket; start it with: bash scripts/engines.sh up $1" >&2
fi
echo "export DOCKER_HOST=unix://$socket"
