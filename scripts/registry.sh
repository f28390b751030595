#!/usr/bin/env bash
# Manages the local private registries the registry tests push to and pull from.
#
#   scripts/registry.sh up           start the registry on 127.0.0.1:5000 (no auth) if it
#                                    is not answering, installing Debian's docker-registry
#                                    (and apache2-utils) with apt if needed
#   scripts/registry.sh up --auth    the same, plus a second registry on 127.0.0.1:5001
#                                    that requires htpasswd basic auth
#                                    (user dockhand, password dockhand-secret)
#   scripts/registry.sh down         stop both registries, if this script started them
#   scripts/registry.sh status       report whether each registry answers
#
# Each registry keeps its config.yml, its storage (data/), its log (registry.log) and
# its pid file (registry.pid) in a state directory:
#   ${TMPDIR:-/tmp}/dockhand-registry        the plain one (port 5000)
#   ${TMPDIR:-/tmp}/dockhand-registry-auth   the one with auth (port 5001)
# `down` leaves the stored images there; delete the directories to start empty.
#
# There is no init system to delegate to (Debian's unit is not used): each registry
# is started directly, detached from this shell. dockerd treats 127.0.0.0/8 registries
# as insecure (plain HTTP) by default, so the engine needs no configuration.
#
# Exit codes: 0 success (for `status`: the plain registry answers, and the one with
# auth too if it was started), 1 failure, 2 usage error.
set -euo pipefail

STATE_ROOT="${TMPDIR:-/tmp}"
REGISTRY_BIN=/usr/bin/docker-registry
HOST=127.0.0.1
PLAIN_PORT=5000
AUTH_PORT=5001
AUTH_USER=dockhand
AUTH_PASSWORD=dockhand-secret
START_TIMEOUT=30 # seconds to wait for /v2/ after starting a registry
STOP_TIMEOUT=10  # seconds to wait for a registry to exit after SIGTERM

log() { printf 'registry: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/process.sh"

# Per-registry settings, selected by kind (plain or auth).
state_dir() { if [[ "$1" == auth ]]; then echo "$STATE_ROOT/dockhand-registry-auth"; else echo "$STATE_ROOT/dockhand-registry"; fi; }
port_of() { if [[ "$1" == auth ]]; then echo "$AUTH_PORT"; else echo "$PLAIN_PORT"; fi; }
url_of() { echo "http://$HOST:$(port_of "$1")/v2/"; }

# --- probes -------------------------------------------------------------------

# True if the registry of kind $1 answers GET /v2/ with 200 (with credentials for auth).
answers() {
  local creds=()
  [[ "$1" == auth ]] && creds=(-u "$AUTH_USER:$AUTH_PASSWORD")
  have curl && curl -sf --noproxy '*' --max-time 3 "${creds[@]}" -o /dev/null "$(url_of "$1")" 2>/dev/null
}

# The HTTP status of an anonymous GET /v2/ (000 when nothing answers).
anonymous_status() {
  curl -s --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' "$(url_of "$1")" 2>/dev/null || true
}


# Prints the pid from the pid file of kind $1 if it is a live docker-registry serving
# this kind's config (so a recycled pid is never signalled); prints nothing otherwise.
registry_pid() {
  local dir pid cmdline
  dir="$(state_dir "$1")"
  pid="$(cat "$dir/registry.pid" 2>/dev/null || true)"
  alive "$pid" || return 0
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == "$REGISTRY_BIN serve $dir/config.yml " ]] && echo "$pid"
  return 0
}

# --- installation -------------------------------------------------------------

install_missing_packages() {
  local missing=()
  have curl || missing+=(curl)
  [[ -x "$REGISTRY_BIN" ]] || missing+=(docker-registry)
  have htpasswd || missing+=(apache2-utils)
  ((${#missing[@]} > 0)) || return 0
  ((EUID == 0)) || die "missing ${missing[*]}; run this script as root to install them, or install them yourself"
  have apt-get || die "missing ${missing[*]} and apt-get is not available to install them"
  log "installing ${missing[*]}"
  apt-get update
  # The package's postinst may try to start Debian's own registry service; without an
  # init system that does nothing, and this script never uses it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# --- configuration ------------------------------------------------------------

# A YAML single-quoted scalar.
yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

write_config() {
  local kind="$1" dir secret
  dir="$(state_dir "$kind")"
  mkdir -p "$dir/data"
  secret="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  {
    echo "version: 0.1"
    echo "log:"
    echo "  level: info"
    echo "  fields:"
    echo "    service: dockhand-registry-$kind"
    echo "storage:"
    echo "  filesystem:"
    echo "    rootdirectory: $(yaml_quote "$dir/data")"
    echo "  delete:"
    echo "    enabled: true"
    echo "  cache:"
    echo "    blobdescriptor: inmemory"
    echo "http:"
    echo "  addr: $HOST:$(port_of "$kind")"
    echo "  secret: $secret"
    echo "  headers:"
    echo "    X-Content-Type-Options: [nosniff]"
    if [[ "$kind" == auth ]]; then
      echo "auth:"
      echo "  htpasswd:"
      echo "    realm: dockhand-registry"
      echo "    path: $(yaml_quote "$dir/htpasswd")"
    fi
  } >"$dir/config.yml.tmp"
  mv "$dir/config.yml.tmp" "$dir/config.yml"
  if [[ "$kind" == auth ]]; then
    # The registry reads bcrypt entries only.
    htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$dir/htpasswd.tmp"
    mv "$dir/htpasswd.tmp" "$dir/htpasswd"
  fi
}

# --- lifecycle ----------------------------------------------------------------

# Waits up to $2 seconds for the registry of kind $1 (pid $3) to answer; fails early
# if the process exits.
wait_for_registry() {
  local kind="$1" timeout="$2" pid="$3" start=$SECONDS
  while ((SECONDS - start < timeout)); do
    answers "$kind" && return 0
    alive "$pid" || { answers "$kind" && return 0; return 1; }
    sleep 0.2
  done
  answers "$kind"
}

start_registry() {
  local kind="$1" dir port pid
  dir="$(state_dir "$kind")"
  port="$(port_of "$kind")"
  if answers "$kind"; then
    log "$kind registry answers on $HOST:$port ($dir)"
    return 0
  fi
  pid="$(registry_pid "$kind")"
  if [[ -n "$pid" ]]; then
    log "$kind registry (pid $pid) is running but not answering yet; waiting up to ${START_TIMEOUT}s"
    if wait_for_registry "$kind" "$START_TIMEOUT" "$pid"; then
      log "$kind registry answers on $HOST:$port"
      return 0
    fi
    log "$kind registry (pid $pid) did not answer; stopping it and starting afresh"
    stop_process "$pid" "$STOP_TIMEOUT"
  fi
  if [[ "$kind" == auth && "$(anonymous_status auth)" == 401 ]]; then
    die "something on $HOST:$port asks for credentials but refuses $AUTH_USER's; not a registry this script started"
  fi

  write_config "$kind"
  log "starting $kind registry on $HOST:$port (log: $dir/registry.log)"
  : >"$dir/registry.log"
  setsid nohup "$REGISTRY_BIN" serve "$dir/config.yml" </dev/null >>"$dir/registry.log" 2>&1 &
  pid=$!
  disown 2>/dev/null || true
  echo "$pid" >"$dir/registry.pid"

  if ! wait_for_registry "$kind" "$START_TIMEOUT" "$pid"; then
    if alive "$pid"; then
      log "$kind registry did not answer on $(url_of "$kind") within ${START_TIMEOUT}s; last 30 lines of $dir/registry.log:"
    else
      log "$kind registry exited without answering on $(url_of "$kind"); last 30 lines of $dir/registry.log:"
    fi
    tail -n 30 "$dir/registry.log" >&2 || true
    exit 1
  fi
  log "$kind registry answers on $HOST:$port (pid $pid)"
}


stop_registry() {
  local kind="$1" dir pid
  dir="$(state_dir "$kind")"
  pid="$(registry_pid "$kind")"
  if [[ -n "$pid" ]]; then
    log "stopping $kind registry (pid $pid)"
    stop_process "$pid" "$STOP_TIMEOUT"
    log "$kind registry stopped"
  else
    log "no $kind registry started by this script is running; nothing to stop"
  fi
  rm -f "$dir/registry.pid"
}

# --- subcommands --------------------------------------------------------------

cmd_up() {
  install_missing_packages
  start_registry plain
  if [[ "${1:-}" == --auth ]]; then start_registry auth; fi
}

cmd_down() {
  stop_registry plain
  stop_registry auth
}

cmd_status() {
  local rc=0 kind pid
  have curl || { echo "registry: unknown (curl is not installed)"; return 1; }
  for kind in plain auth; do
    pid="$(registry_pid "$kind")"
    if answers "$kind"; then
      echo "$kind registry: answering on $(url_of "$kind")${pid:+ (pid $pid)}"
    elif [[ "$kind" == auth && -z "$pid" ]]; then
      echo "$kind registry: not running (start it with: scripts/registry.sh up --auth)"
    else
      echo "$kind registry: not answering on $(url_of "$kind") (HTTP $(anonymous_status "$kind"))${pid:+; pid $pid is running}"
      echo "  log: $(state_dir "$kind")/registry.log"
      rc=1
    fi
  done
  return "$rc"
}

usage() {
  echo "usage: $0 up [--auth] | down | status" >&2
  exit 2
}

(($# >= 1)) || usage
case "$1" in
  up) (($# == 1)) || [[ $# == 2 && "$2" == --auth ]] || usage; cmd_up "${2:-}" ;;
  down) (($# == 1)) || usage; cmd_down ;;
  status) (($# == 1)) || usage; cmd_status ;;
  -h | --help) echo "usage: $0 up [--auth] | down | status" ;;
  *) usage ;;
esac
