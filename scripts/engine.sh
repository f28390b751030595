#!/usr/bin/env bash
# Manages the local Docker engine the integration tests run against.
#
#   scripts/engine.sh up [--no-image]
#                              start dockerd if it is not answering (installing it
#                              with apt if needed) and make sure the test image
#                              dockhand-test/busybox:latest exists (unless --no-image)
#   scripts/engine.sh down     stop the dockerd that `up` started
#   scripts/engine.sh status   report whether the engine answers, and its API version
#
# The engine is always the one on /var/run/docker.sock. There is no init system
# to delegate to, so dockerd is started directly, detached from this shell, with
# its output in ${TMPDIR:-/tmp}/dockhand-dockerd.log.
#
# Exit codes: 0 success (for `status`: the engine answers), 1 failure (for
# `status`: the engine does not answer), 2 usage error.
set -euo pipefail

SOCKET=/var/run/docker.sock
PIDFILE=/var/run/docker.pid
CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid
LOGFILE="${TMPDIR:-/tmp}/dockhand-dockerd.log"
BUSYBOX=/bin/busybox
TEST_IMAGE=dockhand-test/busybox:latest
START_TIMEOUT=60 # seconds to wait for /_ping after starting dockerd
STOP_TIMEOUT=20  # seconds to wait for dockerd to exit after SIGTERM

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$SCRIPT_DIR")"

# dockerd and its helpers (iptables, ...) live in sbin directories, which are
# not always on a non-login PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf 'engine: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/process.sh"

# --- engine probes ------------------------------------------------------------

# True if the engine answers GET /_ping.
engine_answers() {
  have curl && curl -sf --max-time 3 --unix-socket "$SOCKET" http://localhost/_ping >/dev/null 2>&1
}

# Prints the Api-Version header of /_ping (empty if the engine does not answer).
api_version() {
  curl -sf --max-time 3 --unix-socket "$SOCKET" -o /dev/null -D - http://localhost/_ping 2>/dev/null |
    tr -d '\r' | awk -F': *' 'tolower($1) == "api-version" { print $2 }' || true
}

# True if the test image exists (GET /images/{name}/json answers 200).
image_exists() {
  local code
  code="$(curl -s --max-time 10 --unix-socket "$SOCKET" -o /dev/null -w '%{http_code}' \
    "http://localhost/images/$TEST_IMAGE/json" || true)"
  [[ "$code" == 200 ]]
}

# Waits up to $1 seconds for the engine to answer (gives up early if its dockerd died).
wait_for_engine() { wait_for_service "$1" engine_answers dockerd_pid; }

# --- processes ----------------------------------------------------------------

# Prints the pid of a running dockerd, preferring the one in the pid file.
dockerd_pid() {
  local pid dir
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_process "$pid" dockerd; then
    echo "$pid"
    return
  fi
  # A dockerd still starting may not have written its pid file yet. Only one started with
  # the default pid file counts: other engines (e.g. the TLS one of the tests) pass --pidfile.
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    if is_process "$pid" dockerd && ! tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -q -- '--pidfile'; then
      echo "$pid"
      return
    fi
  done
}

# Removes pid files whose process is gone (or is now some other program); a
# leftover pid file would otherwise stop dockerd or containerd from starting.
remove_stale_pidfiles() {
  local pid
  if [[ -e "$PIDFILE" ]]; then
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if ! is_process "$pid" dockerd; then
      log "removing stale $PIDFILE (pid '${pid}' is not a running dockerd)"
      rm -f "$PIDFILE"
    fi
  fi
  if [[ -e "$CONTAINERD_PIDFILE" ]]; then
    pid="$(cat "$CONTAINERD_PIDFILE" 2>/dev/null || true)"
    if ! is_process "$pid" containerd; then
      log "removing stale $CONTAINERD_PIDFILE (pid '${pid}' is not a running containerd)"
      rm -f "$CONTAINERD_PIDFILE"
    fi
  fi
}

# Stops the containerd that dockerd supervises, if it outlived dockerd.
stop_orphaned_containerd() {
  local pid
  pid="$(cat "$CONTAINERD_PIDFILE" 2>/dev/null || true)"
  if is_process "$pid" containerd; then
    log "stopping containerd (pid $pid) left behind by dockerd"
    stop_process "$pid" "$STOP_TIMEOUT"
  fi
  rm -f "$CONTAINERD_PIDFILE"
}

# --- installation -------------------------------------------------------------

# True if a statically linked busybox is installed (Debian's busybox-static).
# The dynamically linked `busybox` package would yield an image whose binary
# cannot run, as the image has no shared libraries.
have_static_busybox() {
  if have dpkg-query; then
    dpkg-query -W -f='${db:Status-Abbrev}' busybox-static 2>/dev/null | grep -q '^ii'
  else
    [[ -x "$BUSYBOX" ]]
  fi
}

# Installs whatever `up` needs and is missing: curl, busybox-static, and
# docker.io unless an engine already answers.
install_missing_packages() {
  local missing=()
  have curl || missing+=(curl)
  have_static_busybox || missing+=(busybox-static)
  if ! engine_answers && ! have dockerd; then missing+=(docker.io); fi
  ((${#missing[@]} > 0)) || return 0

  if ((EUID != 0)); then
    die "missing ${missing[*]}; run this script as root to install them, or install them yourself"
  fi
  have apt-get || die "missing ${missing[*]} and apt-get is not available to install them"
  log "installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# --- engine lifecycle ---------------------------------------------------------

# Starts dockerd in its own session, immune to hangups, so it outlives this
# script and the shell that ran it.
launch_dockerd() {
  log "starting dockerd (log: $LOGFILE)"
  mkdir -p "$(dirname "$LOGFILE")"
  : >"$LOGFILE"
  setsid nohup dockerd </dev/null >>"$LOGFILE" 2>&1 &
  disown 2>/dev/null || true
}

start_engine() {
  if [[ -S "$SOCKET" && ! -w "$SOCKET" ]]; then
    die "$SOCKET is not writable by this user; run this script as root, or join the socket's group"
  fi
  ((EUID == 0)) || die "no engine answers on $SOCKET and starting dockerd needs root; run this script as root"
  have dockerd || die "dockerd is not installed"

  remove_stale_pidfiles

  local pid
  pid="$(dockerd_pid)"
  if [[ -n "$pid" ]]; then
    # Probably still starting up: wait for it rather than start a second one.
    log "dockerd (pid $pid) is running but not answering yet; waiting up to ${START_TIMEOUT}s"
    if wait_for_engine "$START_TIMEOUT"; then return 0; fi
    if alive "$pid"; then
      log "dockerd (pid $pid) did not answer within ${START_TIMEOUT}s; killing it and starting afresh"
      stop_process "$pid" "$STOP_TIMEOUT"
      stop_orphaned_containerd
    fi
    remove_stale_pidfiles
  fi

  launch_dockerd
  if ! wait_for_engine "$START_TIMEOUT"; then
    if [[ -n "$(dockerd_pid)" ]]; then
      log "dockerd did not answer on $SOCKET within ${START_TIMEOUT}s; last 50 lines of $LOGFILE:"
    else
      log "dockerd exited without answering on $SOCKET; last 50 lines of $LOGFILE:"
    fi
    tail -n 50 "$LOGFILE" >&2 || true
    exit 1
  fi
}

ensure_test_image() {
  if image_exists; then
    log "test image $TEST_IMAGE is present"
    return 0
  fi
  have node || die "node is not installed; it is needed to import the test image"
  if [[ ! -f "$REPO_ROOT/dist/esm/index.js" ]]; then
    # The import goes through dockhand itself, so build it first.
    [[ -d "$REPO_ROOT/node_modules/typescript" ]] ||
      die "test image $TEST_IMAGE is missing and importing it needs dockhand built; run \`npm ci\` first, then run this again"
    log "building dockhand (needed to import the test image)"
    (cd "$REPO_ROOT" && node scripts/build.mjs)
  fi
  log "importing test image $TEST_IMAGE"
  # Import into the same engine this script checks, whatever DOCKER_HOST says.
  (cd "$REPO_ROOT" && DOCKER_HOST="unix://$SOCKET" node scripts/import-test-image.mjs --busybox "$BUSYBOX")
  image_exists || die "test image $TEST_IMAGE is still missing after the import"
}

# --- subcommands --------------------------------------------------------------

cmd_up() {
  install_missing_packages
  if engine_answers; then
    log "engine answers on $SOCKET (API $(api_version))"
  else
    start_engine
    log "engine is up on $SOCKET (API $(api_version))"
  fi
  if [[ "${1:-}" == "--no-image" ]]; then return 0; fi
  ensure_test_image
}

cmd_down() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_process "$pid" dockerd; then
    ((EUID == 0)) || die "stopping dockerd (pid $pid) needs root"
    log "stopping dockerd (pid $pid)"
    stop_process "$pid" "$STOP_TIMEOUT"
    stop_orphaned_containerd
    log "dockerd stopped"
  else
    log "no dockerd running from $PIDFILE; nothing to stop"
    remove_stale_pidfiles
  fi
  rm -f "$PIDFILE"
}

cmd_status() {
  if ! have curl; then
    echo "engine: unknown (curl is not installed)"
    return 1
  fi
  if engine_answers; then
    echo "engine: answering on unix://$SOCKET"
    echo "api-version: $(api_version)"
    if image_exists; then
      echo "test image: $TEST_IMAGE present"
    else
      echo "test image: $TEST_IMAGE missing (run: scripts/engine.sh up)"
    fi
    return 0
  fi
  echo "engine: not answering on unix://$SOCKET"
  [[ ! -S "$SOCKET" || -w "$SOCKET" ]] || echo "socket: not writable by this user"
  local pid
  pid="$(dockerd_pid)"
  [[ -z "$pid" ]] || echo "dockerd: pid $pid is running (starting up, or hung)"
  echo "log of a dockerd started by this script: $LOGFILE"
  return 1
}

usage() {
  echo "usage: $0 up [--no-image] | down | status" >&2
  exit 2
}

(($# >= 1)) || usage
case "$1" in
  up) (($# == 1)) || [[ $# == 2 && "$2" == "--no-image" ]] || usage; cmd_up "${2:-}" ;;
  down) (($# == 1)) || usage; cmd_down ;;
  status) cmd_status ;;
  -h | --help) echo "usage: $0 up [--no-image] | down | status" ;;
  *) usage ;;
esac
