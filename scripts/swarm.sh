#!/usr/bin/env bash
# A 3-node Docker swarm on this one machine, for test/engine/swarm-cluster.test.ts:
#
#   scripts/swarm.sh up       start the three nodes that do not answer (installing what is missing
#                             with apt), import dockhand-test/busybox:latest into each, and bring the
#                             swarm to its resting shape: node1 the manager (it inits the swarm),
#                             node2 and node3 workers, all three ready, no stale node entries
#   scripts/swarm.sh down     every node leaves the swarm; then no daemon, container, mount,
#                             namespace, veth, bridge or firewall rule of the cluster is left
#   scripts/swarm.sh status   each node's socket, swarm state and role; exit 1 unless all answer
#
# The nodes are three dedicated dockerd instances (Debian bookworm's /usr/sbin/dockerd, the same
# binary as the default engine), never the default engine on /var/run/docker.sock, which stays out
# of any swarm. Each runs in its own network namespace, dockhand-swarm-<node> (`ip netns add`; the
# daemon is started with `nsenter --net`, which unlike `ip netns exec` keeps the host's mounts and
# so its cgroup mounts), with an eth0 that is one end of a veth pair whose other end is enslaved to
# the host bridge dockhand-swarm0:
#
#   10.99.0.1/24    the host, on dockhand-swarm0
#   10.99.0.11      node1   unix:///run/dockhand-swarm/node1.sock   manager (inits the swarm)
#   10.99.0.12      node2   unix:///run/dockhand-swarm/node2.sock   worker
#   10.99.0.13      node3   unix:///run/dockhand-swarm/node3.sock   worker
#
# so the nodes reach each other on their own addresses (2377/tcp, 7946/tcp+udp, 4789/udp VXLAN).
# The host's br_netfilter passes bridged frames through the host's FORWARD chain, whose policy the
# default engine sets to DROP: one rule, `-i dockhand-swarm0 -o dockhand-swarm0 -j ACCEPT`, at the
# top of FORWARD lets the cluster's traffic through (docker0 and the default engine's own rules are
# left as they are). The swarm's overlay networks take their subnets from 10.200.0.0/16 (swarm init
# DefaultAddrPool), away from the bridge's 10.99.0.0/24.
#
#   /run/dockhand-swarm/<node>.sock        the API socket
#   /run/dockhand-swarm/<node>/            pid files, exec-root; down deletes it
#   /var/lib/dockhand-swarm/<node>/        data-root, daemon.json, daemon.log (kept: the test
#                                          image is imported once)
#   cgroup /dockhand-swarm-<node>          the node's containers (--cgroup-parent)
#
# The tests (DOCKHAND_SWARM=unix:///run/dockhand-swarm/node1.sock) take node2 and node3 out and
# join them again through dockhand (node3 as a second manager), and put them back as `up` leaves
# them; `up` also restores that shape after a run that died half-way.
#
# Exit codes: 0 success (for `status`: every node answers), 1 failure, 2 usage error.
set -euo pipefail

START_TIMEOUT=90 # seconds to wait for /_ping after starting a daemon
STOP_TIMEOUT=30  # seconds to wait for a daemon to exit after SIGTERM
READY_TIMEOUT=90 # seconds to wait for every node to be ready in the swarm

NODES=(node1 node2 node3)
BRIDGE=dockhand-swarm0
NET=10.99.0
HOST_ADDR="$NET.1"
ADDR_POOL=10.200.0.0/16
SWARM_RUN=/run/dockhand-swarm
SWARM_STATE=/var/lib/dockhand-swarm
DOCKERD=/usr/sbin/dockerd

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

NODE_NAME=
log() { printf 'swarm: %s\n' "${NODE_NAME:+$NODE_NAME: }$*" >&2; }

LIB="$(dirname "${BASH_SOURCE[0]}")/lib"
# shellcheck source=scripts/lib/process.sh
source "$LIB/process.sh"
# shellcheck source=scripts/lib/netns.sh
source "$LIB/netns.sh"
# shellcheck source=scripts/lib/engine-probe.sh
source "$LIB/engine-probe.sh"

# --- per-node names --------------------------------------------------------------------------

node_index() { echo "${1#node}"; }
node_addr() { echo "$NET.$((10 + $(node_index "$1")))"; }
node_socket() { echo "$SWARM_RUN/$1.sock"; }
node_netns() { echo "dockhand-swarm-$1"; }
node_veth() { echo "dhswarm-$1"; } # the host's end (at most 15 characters)

select_node() {
  NODE_NAME="$1"
  SOCKET="$(node_socket "$1")"
  RUN_DIR="$SWARM_RUN/$1"
  STATE_DIR="$SWARM_STATE/$1"
  LOGFILE="$STATE_DIR/daemon.log"
  NETNS="$(node_netns "$1")"
  VETH="$(node_veth "$1")"
  ADDR="$(node_addr "$1")"
  CGROUP_PARENT="dockhand-swarm-$1"
  PIDFILE="$RUN_DIR/daemon.pid"
}

answers() { sock_answers "$SOCKET"; }

daemon_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_process "$pid" dockerd; then
    echo "$pid"
    return 0
  fi
  for pid in $(netns_pids "$NETNS"); do
    if is_process "$pid" dockerd; then
      echo "$pid"
      return 0
    fi
  done
}

# curl against node $1's API: method $2, path $3, JSON body $4 (optional). Prints the answer; fails
# on an error status, with the engine's message.
api() {
  local sock out code body_args=()
  sock="$(node_socket "$1")"
  [[ -z "${4:-}" ]] || body_args=(--data "$4")
  out="$(PROBE_TIMEOUT=60 sock_curl "$sock" "$3" -X "$2" -H 'Content-Type: application/json' "${body_args[@]}" -w '\n%{http_code}')" || {
    log "$2 $3 on $1: no answer"
    return 1
  }
  code="${out##*$'\n'}"
  out="${out%$'\n'*}"
  if [[ "$code" != 2* ]]; then
    log "$2 $3 on $1: $code $out"
    return 1
  fi
  printf '%s' "$out"
}

# --- host packages, bridge and firewall ------------------------------------------------------

prepare() {
  ((EUID == 0)) || die "the swarm needs root (network namespaces, bridges, daemons); run this script as root"
  local missing=()
  have curl || missing+=(curl)
  have jq || missing+=(jq)
  have ip || missing+=(iproute2)
  have nsenter || missing+=(util-linux)
  have iptables || missing+=(iptables)
  have runc || missing+=(runc)
  [[ -x "$DOCKERD" ]] || missing+=(docker.io)
  dpkg-query -W -f='${db:Status-Abbrev}' busybox-static 2>/dev/null | grep -q '^ii' || missing+=(busybox-static)
  if ((${#missing[@]} > 0)); then
    have apt-get || die "missing ${missing[*]} and apt-get is not available to install them"
    log "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

FORWARD_RULE=(-i "$BRIDGE" -o "$BRIDGE" -j ACCEPT -m comment --comment dockhand-swarm)

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "making bridge $BRIDGE ($HOST_ADDR/24)"
    ip link add "$BRIDGE" type bridge
  fi
  [[ "$(ip addr show dev "$BRIDGE")" == *"inet $HOST_ADDR/24"* ]] || ip addr add "$HOST_ADDR/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Bridged frames go through the host's FORWARD chain (br_netfilter), policy DROP under dockerd.
  iptables -C FORWARD "${FORWARD_RULE[@]}" 2>/dev/null || iptables -I FORWARD 1 "${FORWARD_RULE[@]}"
}

remove_bridge() {
  while iptables -C FORWARD "${FORWARD_RULE[@]}" 2>/dev/null; do iptables -D FORWARD "${FORWARD_RULE[@]}"; done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "removing bridge $BRIDGE"
    ip link delete "$BRIDGE"
  fi
}

# The node's namespace, and its eth0 on the bridge with its address.
ensure_node_net() {
  netns_ensure "$NETNS"
  if ! ip -n "$NETNS" link show eth0 >/dev/null 2>&1; then
    ip link delete "$VETH" 2>/dev/null || true
    ip link add "$VETH" type veth peer name eth0 netns "$NETNS"
  fi
  ip link set "$VETH" master "$BRIDGE"
  ip link set "$VETH" up
  [[ "$(ip -n "$NETNS" addr show dev eth0)" == *"inet $ADDR/24 "* ]] || ip -n "$NETNS" addr add "$ADDR/24" dev eth0
  ip -n "$NETNS" link set eth0 up
}

# --- one node ----------------------------------------------------------------------------------

clean_node() {
  local pid
  pid="$(daemon_pid)"
  if [[ -n "$pid" ]]; then
    log "stopping dockerd (pid $pid)"
    stop_process "$pid" "$STOP_TIMEOUT"
  fi
  netns_kill_all "$NETNS" 10
  cgroup_remove "$CGROUP_PARENT"
  unmount_under "$RUN_DIR" "$STATE_DIR"
  netns_remove "$NETNS"
  ip link delete "$VETH" 2>/dev/null || true
  rm -rf "$RUN_DIR"
  rm -f "$SOCKET"
}

launch_node() {
  mkdir -p "$STATE_DIR"
  [[ -s "$STATE_DIR/daemon.json" ]] || echo '{}' >"$STATE_DIR/daemon.json"
  log "starting $("$DOCKERD" --version | sed 's/^Docker version //; s/,.*//') at $ADDR in namespace $NETNS (log: $LOGFILE)"
  : >"$LOGFILE"
  dockerd_in_netns "$NETNS_DIR/$NETNS" "$DOCKERD" /usr/sbin:/usr/bin:/sbin:/bin \
    "$STATE_DIR" "$RUN_DIR" "$SOCKET" "$CGROUP_PARENT" "$LOGFILE"
  echo $! >"$PIDFILE"
}

up_node() {
  select_node "$1"
  local started=$SECONDS
  if answers && [[ "$(ip -n "$NETNS" addr show dev eth0 2>/dev/null)" == *"inet $ADDR/24 "* ]]; then
    log "answers on unix://$SOCKET"
  else
    local pid
    pid="$(daemon_pid)"
    if [[ -n "$pid" ]] && ip -n "$NETNS" link show eth0 >/dev/null 2>&1; then
      log "dockerd (pid $pid) is running but not answering yet; waiting up to ${START_TIMEOUT}s"
      wait_for_service "$START_TIMEOUT" answers daemon_pid || true
    fi
    if ! answers; then
      clean_node # a dead run's daemon, containers, mounts, namespace, socket and pid files
      mkdir -p "$RUN_DIR" "$STATE_DIR" "$SWARM_RUN"
      ensure_node_net
      launch_node
      if ! wait_for_service "$START_TIMEOUT" answers daemon_pid; then
        log "dockerd did not answer on $SOCKET within ${START_TIMEOUT}s; last 40 lines of $LOGFILE:"
        tail -n 40 "$LOGFILE" >&2 || true
        exit 1
      fi
      log "up on unix://$SOCKET (pid $(daemon_pid), $((SECONDS - started))s)"
    fi
  fi
  ensure_node_net
  sock_ensure_test_image "$SOCKET"
}

# --- the swarm -----------------------------------------------------------------------------------

local_state() { api "$1" GET /info | jq -r '.Swarm.LocalNodeState // "inactive"'; }
node_id() { api "$1" GET /info | jq -r '.Swarm.NodeID // ""'; }

# Brings the swarm to its resting shape (see the top of this file).
ensure_swarm() {
  NODE_NAME=
  local state tokens worker id name role json version spec
  state="$(local_state node1)"
  if [[ "$state" != active ]]; then
    [[ "$state" == inactive ]] || api node1 POST '/swarm/leave?force=1' >/dev/null || true
    log "node1 inits the swarm (advertising $(node_addr node1))"
    api node1 POST /swarm/init "$(jq -nc --arg a "$(node_addr node1)" --arg pool "$ADDR_POOL" \
      '{ListenAddr: ($a + ":2377"), AdvertiseAddr: $a, DefaultAddrPool: [$pool], SubnetSize: 24}')" >/dev/null
  fi
  api node1 GET /swarm >/dev/null || die "node1 is in a swarm but not its manager; run scripts/swarm.sh down, then up"
  tokens="$(api node1 GET /swarm)"
  worker="$(jq -r .JoinTokens.Worker <<<"$tokens")"
  local members
  members="$(api node1 GET /nodes | jq -r '.[].ID')"
  for name in node2 node3; do
    id="$(node_id "$name")"
    state="$(local_state "$name")"
    if [[ "$state" == active && -n "$id" ]] && grep -qx "$id" <<<"$members"; then continue; fi
    [[ "$state" == inactive ]] || { log "$name is $state outside this swarm; it leaves"; api "$name" POST '/swarm/leave?force=1' >/dev/null || true; }
    log "$name joins as a worker"
    api "$name" POST /swarm/join "$(jq -nc --arg a "$(node_addr "$name")" --arg m "$(node_addr node1):2377" --arg t "$worker" \
      '{ListenAddr: ($a + ":2377"), AdvertiseAddr: $a, RemoteAddrs: [$m], JoinToken: $t}')" >/dev/null
  done
  # Roles back to node1 manager, node2 and node3 workers, all active; stale entries (nodes that
  # left and joined again under a new id) removed.
  local current=()
  for name in "${NODES[@]}"; do current+=("$(node_id "$name")"); done
  json="$(api node1 GET /nodes)"
  while read -r id; do
    [[ " ${current[*]} " == *" $id "* ]] && continue
    log "removing the stale node entry $id"
    api node1 DELETE "/nodes/$id?force=1" >/dev/null || true
  done < <(jq -r '.[].ID' <<<"$json")
  for name in node2 node3; do
    id="$(node_id "$name")"
    json="$(api node1 GET "/nodes/$id")"
    role="$(jq -r .Spec.Role <<<"$json")"
    if [[ "$role" != worker || "$(jq -r .Spec.Availability <<<"$json")" != active ]]; then
      log "$name: role $role, availability $(jq -r .Spec.Availability <<<"$json"): back to an active worker"
      version="$(jq -r .Version.Index <<<"$json")"
      spec="$(jq -c '.Spec | .Role = "worker" | .Availability = "active"' <<<"$json")"
      api node1 POST "/nodes/$id/update?version=$version" "$spec" >/dev/null
    fi
  done
  # Every node ready, and the manager seeing them as so.
  local deadline=$((SECONDS + READY_TIMEOUT)) ready
  while :; do
    ready="$(api node1 GET /nodes | jq --argjson ids "$(printf '%s\n' "${current[@]}" | jq -R . | jq -sc .)" \
      '[.[] | select(.Status.State == "ready" and (.ID as $i | $ids | index($i)))] | length')"
    [[ "$ready" == 3 ]] && break
    ((SECONDS < deadline)) || die "only $ready of 3 nodes ready after ${READY_TIMEOUT}s"
    sleep 1
  done
  log "3 nodes ready: node1 manager, node2 and node3 workers"
}

# --- subcommands -------------------------------------------------------------------------------

cmd_up() {
  prepare
  mkdir -p "$SWARM_RUN" "$SWARM_STATE"
  ensure_bridge
  local pids=() rc=0 i
  for i in "${NODES[@]}"; do
    (up_node "$i") &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || rc=1; done
  NODE_NAME=
  ((rc == 0)) || die "a node did not come up"
  ensure_swarm
  for i in "${NODES[@]}"; do printf '%-6s DOCKER_HOST=unix://%s\n' "$i" "$(node_socket "$i")"; done
  echo "DOCKHAND_SWARM=unix://$(node_socket node1)"
}

cmd_down() {
  ((EUID == 0)) || die "stopping the swarm needs root"
  local name
  # Workers first, so the manager sees them go; then the manager.
  for name in node3 node2 node1; do
    select_node "$name"
    if answers && [[ "$(local_state "$name")" != inactive ]]; then
      log "leaving the swarm"
      api "$name" POST '/swarm/leave?force=1' >/dev/null || log "swarm leave failed; stopping all the same"
    fi
  done
  for name in "${NODES[@]}"; do
    select_node "$name"
    clean_node
    log "down"
  done
  NODE_NAME=
  remove_bridge
  rmdir "$SWARM_RUN" 2>/dev/null || true
}

cmd_status() {
  have curl || { echo "swarm: unknown (curl is not installed)"; return 1; }
  local name rc=0 info
  for name in "${NODES[@]}"; do
    select_node "$name"
    if answers; then
      info="$(api "$name" GET /info 2>/dev/null || echo '{}')"
      printf '%-6s answering  unix://%s  %s  swarm %s%s\n' "$name" "$SOCKET" "$ADDR" \
        "$(jq -r '.Swarm.LocalNodeState // "?"' <<<"$info")" \
        "$(jq -r 'if .Swarm.ControlAvailable then "  manager" elif .Swarm.LocalNodeState == "active" then "  worker" else "" end' <<<"$info")"
    else
      rc=1
      printf '%-6s NOT answering  unix://%s  (log: %s)\n' "$name" "$SOCKET" "$LOGFILE"
    fi
  done
  return "$rc"
}

usage() {
  echo "usage: $0 up|down|status" >&2
  exit 2
}

take_lock() {
  mkdir -p "$SWARM_STATE"
  exec 9>"$SWARM_STATE/.lock"
  flock -w 600 9 || die "another scripts/swarm.sh up/down holds $SWARM_STATE/.lock"
}

(($# == 1)) || usage
case "$1" in
  up) take_lock; cmd_up ;;
  down) take_lock; cmd_down ;;
  status) cmd_status ;;
  -h | --help) echo "usage: $0 up|down|status" ;;
  *) usage ;;
esac
