#!/usr/bin/env bash
# Runs more engines beside the default one, to test dockhand against several at once:
#
#   docker28          Docker 28.5: Debian sid's docker.io, with sid's containerd
#   docker26          Docker 26.1: Debian trixie's docker.io, with trixie's containerd
#   podman            Podman 4.3 (bookworm's podman), its Docker-compatible API service
#   docker28-min144   Docker 28.5 again, started with DOCKER_MIN_API_VERSION=1.44 (standing in
#                     for Docker 29, which raised its minimum API version to 1.44)
#
#   scripts/engines.sh up [name...]      start those engines (all of them without names) that do
#                                        not answer, installing and fetching what is missing, and
#                                        import dockhand-test/busybox:latest into each
#   scripts/engines.sh down [name...]    stop them, and leave no daemon, container, mount or
#                                        network namespace of theirs behind
#   scripts/engines.sh status [name...]  each engine's socket, API version, and whether it answers
#   scripts/engine-env.sh name           prints the DOCKER_HOST line for one engine
#
# The default engine (/var/run/docker.sock, docker0, its iptables rules) is never touched. Each
# engine here runs in a network namespace of its own, dockhand-<name> (`ip netns add`; the daemon
# is started with `nsenter --net`, which, unlike `ip netns exec`, keeps the host's mounts and so
# its cgroup mounts), where it makes its own bridge and firewall rules. Its API is a unix socket,
# a file, so it is reached from the host all the same:
#
#   /run/dockhand-engines/<name>.sock       the API socket   (DOCKER_HOST=unix://...)
#   /run/dockhand-engines/<name>/           pid files, exec-root (dockerd) or runroot and tmp
#                                           dir (podman), registry bridge sockets; down deletes it
#   /var/lib/dockhand-engines/<name>/       data-root (dockerd) or storage (podman), config
#                                           files, daemon.log (the daemon's output); kept
#   /var/cache/dockhand-engines/            the .debs from sid and trixie and the trees they are
#                                           unpacked into (dpkg -x); kept, so `up` fetches once
#
# The Docker engines run the unpacked dockerd, containerd (started and managed by dockerd, under
# the exec-root), containerd-shim, docker-proxy and docker-init (tini-static) of their suite,
# with bookworm's runc (sid's and trixie's need glibc 2.38; bookworm has 2.36): the unpacked
# tree comes first on the daemon's PATH, then bookworm's /usr/sbin and /usr/bin. Their containers
# go under the cgroup /dockhand-<name> (--cgroup-parent). The .debs are fetched with apt-get and a
# private apt state (see lib/suite-debs.sh): /etc/apt and /var/lib/apt are left as they are.
#
# Registries: 127.0.0.1 inside a namespace is the namespace's own loopback, so the registries of
# scripts/registry.sh (the host's 127.0.0.1:5000 and :5001) are bridged into each namespace: a
# socat in the namespace listens on 127.0.0.1:5000 (and :5001) and passes each connection to a
# unix socket under the engine's run directory, where a socat in the host's namespace passes it on
# to the host's 127.0.0.1:5000 (:5001). Pushes and pulls of 127.0.0.1:5000/... images then work
# through every engine. Nothing else on the host's loopback is reachable from the engines (a
# build context served by a test on 127.0.0.1:<port> is not), and ports a container publishes
# are published in the engine's namespace, not on the host's 127.0.0.1.
#
# Podman: containers.conf (CONTAINERS_CONF: cgroupfs, file events, default ulimits within this
# machine's hard limits, its own tmp, static, volume and network config directories),
# registries.conf (CONTAINERS_REGISTRIES_CONF: 127.0.0.1:5000 and :5001 insecure) and
# storage.conf (CONTAINERS_STORAGE_CONF: its own graphroot and runroot), all in its state
# directory. Podman 4.3 always keeps its netavark IPAM database in /run/containers/networks and
# its containers' network namespaces in /run/netns/netns-*, and puts its containers under the
# cgroup /libpod_parent.
#
# `up` leaves an engine that answers alone; one that does not is cleaned up (its processes,
# containers, mounts, namespace, socket and pid files, as `down` does) and started afresh.
# Engines start in parallel; `up` prints each one's DOCKER_HOST line at the end.
#
# Exit codes: 0 success (for `status`: every engine named answers), 1 failure, 2 usage error.
set -euo pipefail

START_TIMEOUT=90 # seconds to wait for /_ping after starting a daemon
STOP_TIMEOUT=30  # seconds to wait for a daemon to exit after SIGTERM (dockerd stops containers first)
# 5000, 5001: the registries; 5080: where the engine suite serves downloads to the engine (build
# contexts, tars fetched by URL: TEST_HTTP_PORT in test/support/engine.ts)
BRIDGED_PORTS=(5000 5001 5080)

# ip, runc, iptables and the like live in sbin directories, which are not always on a non-login PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

ENGINE_NAME= # the engine a log line is about, if any
log() { printf 'engines: %s\n' "${ENGINE_NAME:+$ENGINE_NAME: }$*" >&2; }

LIB="$(dirname "${BASH_SOURCE[0]}")/lib"
# shellcheck source=scripts/lib/process.sh
source "$LIB/process.sh"
# shellcheck source=scripts/lib/engines-conf.sh
source "$LIB/engines-conf.sh"
# shellcheck source=scripts/lib/netns.sh
source "$LIB/netns.sh"
# shellcheck source=scripts/lib/suite-debs.sh
source "$LIB/suite-debs.sh"
# shellcheck source=scripts/lib/engine-probe.sh
source "$LIB/engine-probe.sh"

# --- per-engine paths and probes -------------------------------------------------------------

# Sets the variables the functions below use for engine $1.
select_engine() {
  ENGINE_NAME="$1"
  KIND="$(engine_kind "$1")"
  SUITE="$(engine_suite "$1")"
  SOCKET="$(engine_socket "$1")"
  RUN_DIR="$(engine_run_dir "$1")"
  STATE_DIR="$(engine_state_dir "$1")"
  LOGFILE="$(engine_log "$1")"
  NETNS="$(engine_netns "$1")"
  CGROUP_PARENT="$(engine_cgroup_parent "$1")"
  PIDFILE="$RUN_DIR/daemon.pid"
  TREE=
  [[ -z "$SUITE" ]] || TREE="$ENGINES_CACHE/trees/$SUITE"
}

answers() { sock_answers "$SOCKET"; }

# Prints the pid of the engine's daemon: the one in its pid file, or else the daemon process in
# its network namespace (there is only ever one).
daemon_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_process "$pid" "$KIND"; then
    echo "$pid"
    return 0
  fi
  for pid in $(netns_pids "$NETNS"); do
    if is_process "$pid" "$KIND"; then
      echo "$pid"
      return 0
    fi
  done
}

wait_for_engine() { wait_for_service "$1" answers daemon_pid; }

# --- host packages and cached binaries -------------------------------------------------------

have_static_busybox() { dpkg-query -W -f='${db:Status-Abbrev}' busybox-static 2>/dev/null | grep -q '^ii'; }

# Installs what the engines named need and this machine lacks, with apt from its own suites, and
# fetches and unpacks the suites the Docker engines run.
prepare() {
  ((EUID == 0)) || die "the engines need root (network namespaces, mounts, daemons); run this script as root"
  local name missing=() docker=0 podman=0 suites=()
  for name in "$@"; do
    case "$(engine_kind "$name")" in
      dockerd)
        docker=1
        [[ " ${suites[*]} " == *" $(engine_suite "$name") "* ]] || suites+=("$(engine_suite "$name")")
        ;;
      podman) podman=1 ;;
    esac
  done
  have curl || missing+=(curl)
  have ip || missing+=(iproute2)
  have socat || missing+=(socat)
  have nsenter || missing+=(util-linux)
  have_static_busybox || missing+=(busybox-static)
  ((docker == 0)) || have runc || missing+=(runc)
  ((docker == 0)) || have iptables || missing+=(iptables)
  if ((podman)); then
    have podman || missing+=(podman)
    [[ -x /usr/libexec/podman/catatonit ]] || missing+=(catatonit) # for --init
  fi
  if ((${#missing[@]} > 0)); then
    have apt-get || die "missing ${missing[*]} and apt-get is not available to install them"
    log "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
  local suite packages want
  for suite in "${suites[@]}"; do
    packages="SUITE_PACKAGES_$suite"
    want="SUITE_DOCKER_VERSION_$suite"
    # shellcheck disable=SC2086 # a list of package names
    ensure_suite_tree "$suite" "${!want}" "$ENGINES_CACHE" ${!packages}
  done
}

# --- cleanup -------------------------------------------------------------------------------

# Stops the engine and removes all it left: daemon, containers, registry bridges and any other
# process in its namespace, mounts under its directories, the namespace, its cgroup, its socket
# and its run directory.
clean_engine() {
  local pid
  if [[ "$KIND" == podman && -f "$STATE_DIR/containers.conf" && -n "$(netns_inode "$NETNS")" ]] && have podman; then
    # Stopping its containers through podman itself also undoes their networks and mounts.
    # Inside the namespace, so that netavark's firewall changes stay there.
    if [[ -n "$(podman_cli ps -q 2>/dev/null || true)" ]]; then
      log "stopping podman's containers"
      podman_cli stop --all --time 5 >/dev/null 2>&1 || log "podman stop --all failed; killing what is left"
    fi
  fi
  pid="$(daemon_pid)"
  if [[ -n "$pid" ]]; then
    log "stopping $KIND (pid $pid)"
    stop_process "$pid" "$STOP_TIMEOUT"
  fi
  stop_bridges
  netns_kill_all "$NETNS" 10
  if [[ "$KIND" == dockerd ]]; then
    cgroup_remove "$CGROUP_PARENT"
  else
    cgroup_prune libpod_parent # only what is empty: podman's cgroup parent is not its own
  fi
  unmount_under "$RUN_DIR" "$STATE_DIR"
  netns_remove "$NETNS"
  rm -rf "$RUN_DIR"
  rm -f "$SOCKET"
}

# --- registry bridges ------------------------------------------------------------------------

# Starts whatever half of the bridges from the namespace's 127.0.0.1:5000/5001 to the host's
# is not running (see the top of this file).
ensure_bridges() {
  local port sock pid
  for port in "${BRIDGED_PORTS[@]}"; do
    sock="$RUN_DIR/registry-$port.sock"
    pid="$(cat "$RUN_DIR/bridge-host-$port.pid" 2>/dev/null || true)"
    if ! is_process "$pid" socat; then
      rm -f "$sock"
      setsid nohup socat "UNIX-LISTEN:$sock,fork,mode=600" "TCP:127.0.0.1:$port" \
        </dev/null >>"$STATE_DIR/bridges.log" 2>&1 9>&- &
      echo $! >"$RUN_DIR/bridge-host-$port.pid"
    fi
    pid="$(cat "$RUN_DIR/bridge-netns-$port.pid" 2>/dev/null || true)"
    if ! is_process "$pid" socat; then
      setsid nohup nsenter --net="$NETNS_DIR/$NETNS" -- \
        socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock" \
        </dev/null >>"$STATE_DIR/bridges.log" 2>&1 9>&- &
      echo $! >"$RUN_DIR/bridge-netns-$port.pid"
    fi
  done
}

stop_bridges() {
  local port pid half
  for port in "${BRIDGED_PORTS[@]}"; do
    for half in host netns; do
      pid="$(cat "$RUN_DIR/bridge-$half-$port.pid" 2>/dev/null || true)"
      if is_process "$pid" socat; then stop_process "$pid" 5; fi
    done
  done
}

# --- dockerd ---------------------------------------------------------------------------------

launch_dockerd() {
  local env=() extra
  [[ -x "$TREE/usr/sbin/dockerd" ]] || die "$TREE/usr/sbin/dockerd is missing"
  mkdir -p "$STATE_DIR"
  # Never /etc/docker/daemon.json, which belongs to the default engine.
  [[ -s "$STATE_DIR/daemon.json" ]] || echo '{}' >"$STATE_DIR/daemon.json"
  for extra in $(engine_extra_env "$ENGINE_NAME"); do env+=("$extra"); done
  log "starting dockerd $("$TREE/usr/sbin/dockerd" --version | sed 's/^Docker version //; s/,.*//')${env[*]:+ with ${env[*]}} in namespace $NETNS (log: $LOGFILE)"
  : >"$LOGFILE"
  dockerd_in_netns "$NETNS_DIR/$NETNS" "$TREE/usr/sbin/dockerd" "$TREE/usr/sbin:$TREE/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "$STATE_DIR" "$RUN_DIR" "$SOCKET" "$CGROUP_PARENT" "$LOGFILE" "${env[@]}" \
    -- --userland-proxy-path "$TREE/usr/sbin/docker-proxy"
  echo $! >"$PIDFILE"
}

# --- podman ----------------------------------------------------------------------------------

podman_env() {
  echo "CONTAINERS_CONF=$STATE_DIR/containers.conf"
  echo "CONTAINERS_STORAGE_CONF=$STATE_DIR/storage.conf"
  echo "CONTAINERS_REGISTRIES_CONF=$STATE_DIR/registries.conf"
}

# Runs the podman command line on the engine's storage, in its namespace.
podman_cli() {
  local env=()
  mapfile -t env < <(podman_env)
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "${env[@]}" \
    nsenter --net="$NETNS_DIR/$NETNS" -- podman "$@"
}

# The smaller of $1 and the hard limit printed by `ulimit $2`.
within_hard_limit() {
  local hard
  hard="$(ulimit "$2")"
  if [[ "$hard" =~ ^[0-9]+$ ]] && ((hard < $1)); then echo "$hard"; else echo "$1"; fi
}

write_podman_config() {
  local nofile nproc
  nofile="$(within_hard_limit 20000 -Hn)"
  nproc="$(within_hard_limit 32768 -Hu)"
  mkdir -p "$STATE_DIR/storage" "$STATE_DIR/networks"
  cat >"$STATE_DIR/containers.conf" <<EOF
# Written by scripts/engines.sh (rewritten by every start).
[containers]
# Within this machine's hard limits (podman's default, nofile 1048576, is not).
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[network]
network_backend = "netavark"
network_config_dir = "$STATE_DIR/networks"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$RUN_DIR/events.log"
# Podman rotates this file at 1 MB by default, and a rotation ends every followed events stream
# (GET /events): a long test run crosses that. 256 MB is hundreds of full runs.
events_logfile_max_size = "256m"
runtime = "runc"
tmp_dir = "$RUN_DIR/libpod"
static_dir = "$STATE_DIR/storage/libpod"
volume_path = "$STATE_DIR/storage/volumes"
EOF
  cat >"$STATE_DIR/storage.conf" <<EOF
# Written by scripts/engines.sh (rewritten by every start).
[storage]
driver = "overlay"
graphroot = "$STATE_DIR/storage"
runroot = "$RUN_DIR/storage"
EOF
  cat >"$STATE_DIR/registries.conf" <<EOF
# Written by scripts/engines.sh (rewritten by every start).
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "127.0.0.1:5000"
insecure = true

[[registry]]
location = "127.0.0.1:5001"
insecure = true
EOF
}

launch_podman() {
  local env=()
  write_podman_config
  mapfile -t env < <(podman_env)
  log "starting $(podman --version) service in namespace $NETNS (log: $LOGFILE)"
  : >"$LOGFILE"
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "${env[@]}" \
    setsid nohup nsenter --net="$NETNS_DIR/$NETNS" -- \
    podman system service --time=0 "unix://$SOCKET" \
    </dev/null >>"$LOGFILE" 2>&1 9>&- &
  echo $! >"$PIDFILE"
}

# --- subcommands -----------------------------------------------------------------------------

start_engine() {
  local pid
  pid="$(daemon_pid)"
  if [[ -n "$pid" ]]; then
    log "$KIND (pid $pid) is running but not answering yet; waiting up to ${START_TIMEOUT}s"
    if wait_for_engine "$START_TIMEOUT"; then return 0; fi
    log "$KIND (pid $pid) did not answer within ${START_TIMEOUT}s; starting afresh"
  fi
  clean_engine # a dead run's pid files, socket, namespace, mounts, containers
  mkdir -p "$RUN_DIR" "$STATE_DIR" "$(dirname "$SOCKET")"
  netns_ensure "$NETNS"
  ensure_bridges
  "launch_$KIND"
  if ! wait_for_engine "$START_TIMEOUT"; then
    if [[ -n "$(daemon_pid)" ]]; then
      log "$KIND did not answer on $SOCKET within ${START_TIMEOUT}s; last 40 lines of $LOGFILE:"
    else
      log "$KIND exited without answering on $SOCKET; last 40 lines of $LOGFILE:"
    fi
    tail -n 40 "$LOGFILE" >&2 || true
    exit 1
  fi
}

up_one() {
  select_engine "$1"
  local started=$SECONDS
  if answers; then
    log "answers on unix://$SOCKET (API $(sock_api_version "$SOCKET"))"
    [[ -n "$(netns_inode "$NETNS")" ]] && ensure_bridges
  else
    start_engine
    log "up on unix://$SOCKET (API $(sock_api_version "$SOCKET"), $(sock_server "$SOCKET"), pid $(daemon_pid), $((SECONDS - started))s)"
  fi
  sock_ensure_test_image "$SOCKET"
}

# Runs function $1 for each engine named after it, all at once, each in a subshell of its own (so
# that one engine's failure, a `die`, ends only its own). Fails if any failed.
for_each_engine() {
  local fn="$1" name i rc=0 pids=() failed=()
  shift
  for name in "$@"; do
    ("$fn" "$name") &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { rc=1; failed+=("${@:i+1:1}"); }
  done
  ((rc == 0)) || log "FAILED: ${failed[*]}"
  return "$rc"
}

cmd_up() {
  local name rc=0
  prepare "$@"
  for_each_engine up_one "$@" || rc=1
  for name in "$@"; do
    select_engine "$name"
    answers && printf '%-16s DOCKER_HOST=unix://%s\n' "$name" "$SOCKET"
  done
  return "$rc"
}

down_one() {
  select_engine "$1"
  clean_engine
  log "down"
}

cmd_down() {
  ((EUID == 0)) || die "stopping the engines needs root"
  for_each_engine down_one "$@"
}

cmd_status() {
  have curl || { echo "engines: unknown (curl is not installed)"; return 1; }
  local name rc=0 pid
  for name in "$@"; do
    select_engine "$name"
    if answers; then
      printf '%-16s answering  unix://%s  API %s (min %s)  %s\n' "$name" "$SOCKET" \
        "$(sock_api_version "$SOCKET")" "$(sock_min_api_version "$SOCKET")" "$(sock_server "$SOCKET")"
      printf '%-16s DOCKER_HOST=unix://%s\n' '' "$SOCKET"
    else
      rc=1
      pid="$(daemon_pid)"
      printf '%-16s NOT answering  unix://%s%s  (log: %s)\n' "$name" "$SOCKET" \
        "${pid:+  ($KIND pid $pid is running: starting up, or hung)}" "$LOGFILE"
    fi
  done
  return "$rc"
}

usage() {
  echo "usage: $0 up|down|status [${ENGINES[*]}]..." >&2
  exit 2
}

(($# >= 1)) || usage
command="$1"
shift
for name in "$@"; do is_engine "$name" || { echo "engines: unknown engine '$name' (known: ${ENGINES[*]})" >&2; usage; }; done
(($# > 0)) || set -- "${ENGINES[@]}"

take_lock() {
  mkdir -p "$ENGINES_RUN"
  exec 9>"$ENGINES_RUN/.lock"
  flock -w 900 9 || die "another scripts/engines.sh up/down holds $ENGINES_RUN/.lock"
}

case "$command" in
  up) take_lock; cmd_up "$@" ;;
  down) take_lock; cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  -h | --help) echo "usage: $0 up|down|status [${ENGINES[*]}]..." ;;
  *) usage ;;
esac
