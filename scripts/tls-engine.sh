#!/usr/bin/env bash
# Manages a second, TLS-only Docker engine for the TLS and context tests.
#
#   scripts/tls-engine.sh up       make the certificates (once) and start a second
#                                  dockerd on tcp://127.0.0.1:2376 with --tlsverify,
#                                  unless it already answers
#   scripts/tls-engine.sh down     stop that dockerd (and its containerd) and remove
#                                  its bridge; the certificates and data stay
#   scripts/tls-engine.sh status   report whether it answers over TLS
#
# Everything lives in a state directory, ${TMPDIR:-/tmp}/dockhand-tls-engine:
#   ca.pem, ca-key.pem                  the CA both sides trust
#   server-cert.pem, server-key.pem     the engine's certificate (IP:127.0.0.1, DNS:localhost)
#   cert.pem, key.pem                   a client certificate (extendedKeyUsage=clientAuth)
#   other-ca.pem, other-ca-key.pem      an unrelated CA, for tests that must fail
#   data/ exec/ docker.pid docker.sock  the engine's data-root, exec-root, pid file and
#                                       its own (plain, unix) socket
#   daemon.json dockerd.log             its (empty) config file and its output
# The directory holds ca.pem, cert.pem and key.pem side by side, so it is a
# DOCKER_CERT_PATH as the docker CLI expects one. The certificates are made with
# openssl the first time and reused after that; delete the directory to start over.
#
# The main engine (unix:///var/run/docker.sock) is never touched. This one shares
# the machine's network namespace with it, so it gets a bridge of its own
# (dockhand-br1, 172.31.250.1/24) instead of docker0, and leaves iptables, IP
# masquerading and IP forwarding alone. It starts its own containerd (dockerd
# manages one under the exec-root) and has no images: it is there to answer.
#
# Exit codes: 0 success (for `status`: the engine answers over TLS), 1 failure (for
# `status`: it does not answer), 2 usage error.
set -euo pipefail

STATE="${TMPDIR:-/tmp}/dockhand-tls-engine"
ADDRESS=127.0.0.1
PORT=2376
BRIDGE=dockhand-br1
BRIDGE_CIDR=172.31.250.1/24
PIDFILE="$STATE/docker.pid"
SOCKET="$STATE/docker.sock"
DATA_ROOT="$STATE/data"
EXEC_ROOT="$STATE/exec"
CONTAINERD_PIDFILE="$EXEC_ROOT/containerd/containerd.pid"
CONFIG_FILE="$STATE/daemon.json"
LOGFILE="$STATE/dockerd.log"
CERT_DAYS=3650
START_TIMEOUT=60 # seconds to wait for /_ping over TLS after starting dockerd
STOP_TIMEOUT=20  # seconds to wait for dockerd to exit after SIGTERM

# dockerd and its helpers (ip, containerd, runc, ...) live in sbin directories,
# which are not always on a non-login PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf 'tls-engine: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/process.sh"

# --- probes -------------------------------------------------------------------

# curl with the client certificate against https://127.0.0.1:2376$1.
tls_curl() {
  curl -sf --noproxy '*' --max-time 3 \
    --cacert "$STATE/ca.pem" --cert "$STATE/cert.pem" --key "$STATE/key.pem" \
    "${@:2}" "https://$ADDRESS:$PORT$1"
}

# True if the engine answers GET /_ping over TLS with the client certificate.
engine_answers() {
  have curl && [[ -f "$STATE/ca.pem" && -f "$STATE/cert.pem" && -f "$STATE/key.pem" ]] &&
    tls_curl /_ping -o /dev/null 2>/dev/null
}

# Prints the Api-Version header of /_ping (empty if the engine does not answer).
api_version() {
  tls_curl /_ping -o /dev/null -D - 2>/dev/null |
    tr -d '\r' | awk -F': *' 'tolower($1) == "api-version" { print $2 }' || true
}

# Prints the engine's DockerRootDir (empty if it does not answer).
root_dir() {
  tls_curl /info 2>/dev/null | sed -n 's/.*"DockerRootDir":"\([^"]*\)".*/\1/p' || true
}

# True if something that is not this engine already listens on the port.
port_taken() {
  have ss && ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q .
}

# --- processes ----------------------------------------------------------------

# Prints the pid of this engine's dockerd if it runs (from its own pid file only:
# the main engine's dockerd must never be mistaken for it).
dockerd_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_process "$pid" dockerd; then echo "$pid"; fi
}

# Prints the pid of the containerd this engine's dockerd started, if it runs.
containerd_pid() {
  local pid
  pid="$(cat "$CONTAINERD_PIDFILE" 2>/dev/null || true)"
  if is_process "$pid" containerd; then echo "$pid"; fi
}

# Stops this engine's dockerd and then its containerd, if either runs.
stop_engine() {
  local pid
  pid="$(dockerd_pid)"
  if [[ -n "$pid" ]]; then
    log "stopping dockerd (pid $pid)"
    stop_process "$pid" "$STOP_TIMEOUT"
  fi
  pid="$(containerd_pid)"
  if [[ -n "$pid" ]]; then
    log "stopping containerd (pid $pid) left behind by dockerd"
    stop_process "$pid" "$STOP_TIMEOUT"
  fi
  rm -f "$PIDFILE" "$CONTAINERD_PIDFILE" "$SOCKET"
}

# --- certificates -------------------------------------------------------------

ssl() { openssl "$@" 2>>"$STATE/openssl.log"; }

# Makes a self-signed CA: $1.pem and $1-key.pem, subject CN=$2.
make_ca() {
  ssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$CERT_DAYS" -subj "/CN=$2" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout "$STATE/$1-key.pem" -out "$STATE/$1.pem"
  chmod 600 "$STATE/$1-key.pem"
}

# Makes a certificate signed by the CA: $1 (cert) and $2 (key), subject CN=$3,
# with the extensions in $4.
make_leaf() {
  local cert="$STATE/$1" key="$STATE/$2" csr="$STATE/$1.csr" ext="$STATE/$1.ext"
  ssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$3" -keyout "$key" -out "$csr"
  chmod 600 "$key"
  printf '%s\n' "$4" >"$ext"
  ssl x509 -req -sha256 -days "$CERT_DAYS" -in "$csr" -CA "$STATE/ca.pem" -CAkey "$STATE/ca-key.pem" \
    -CAcreateserial -CAserial "$STATE/ca.srl" -extfile "$ext" -out "$cert"
  rm -f "$csr" "$ext"
}

# Makes whatever certificates are missing. A new CA means new leaf certificates.
# Prints "new" if anything was made (a running engine then needs a restart).
ensure_certificates() {
  have openssl || die "openssl is not installed"
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  local made=
  if [[ ! -s "$STATE/ca.pem" || ! -s "$STATE/ca-key.pem" ]]; then
    log "making a CA in $STATE"
    rm -f "$STATE"/{server-cert,server-key,cert,key}.pem "$STATE/ca.srl"
    make_ca ca 'dockhand test CA'
    made=new
  fi
  if [[ ! -s "$STATE/server-cert.pem" || ! -s "$STATE/server-key.pem" ]]; then
    log "making the engine's certificate (IP:$ADDRESS, DNS:localhost)"
    make_leaf server-cert.pem server-key.pem 'dockhand TLS engine' \
      "$(printf '%s\n' "subjectAltName=IP:$ADDRESS,DNS:localhost" 'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature,keyEncipherment')"
    made=new
  fi
  if [[ ! -s "$STATE/cert.pem" || ! -s "$STATE/key.pem" ]]; then
    log "making the client certificate"
    make_leaf cert.pem key.pem 'dockhand test client' \
      "$(printf '%s\n' 'extendedKeyUsage=clientAuth' 'keyUsage=critical,digitalSignature,keyEncipherment')"
    made=new
  fi
  if [[ ! -s "$STATE/other-ca.pem" || ! -s "$STATE/other-ca-key.pem" ]]; then
    log "making an unrelated CA (other-ca.pem)"
    make_ca other-ca 'dockhand unrelated CA'
  fi
  echo "$made"
}

# --- network ------------------------------------------------------------------

# Creates the engine's bridge (if missing), gives it its address and brings it up.
ensure_bridge() {
  have ip || die "ip (iproute2) is not installed"
  if ! ip link show dev "$BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $BRIDGE ($BRIDGE_CIDR)"
    ip link add "$BRIDGE" type bridge
  fi
  if ! ip -4 addr show dev "$BRIDGE" | grep -qF "inet $BRIDGE_CIDR "; then
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  fi
  ip link set dev "$BRIDGE" up
}

remove_bridge() {
  if have ip && ip link show dev "$BRIDGE" >/dev/null 2>&1; then
    log "removing bridge $BRIDGE"
    ip link del dev "$BRIDGE"
  fi
}

# --- engine lifecycle ---------------------------------------------------------

# Waits up to $1 seconds for the engine to answer (gives up early if its dockerd died).
wait_for_engine() { wait_for_service "$1" engine_answers dockerd_pid; }

# Starts dockerd in its own session, immune to hangups, so it outlives this
# script and the shell that ran it.
launch_dockerd() {
  log "starting dockerd on tcp://$ADDRESS:$PORT (log: $LOGFILE)"
  mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
  [[ -s "$CONFIG_FILE" ]] || echo '{}' >"$CONFIG_FILE" # never read /etc/docker/daemon.json
  : >"$LOGFILE"
  setsid nohup dockerd \
    --config-file "$CONFIG_FILE" \
    --data-root "$DATA_ROOT" \
    --exec-root "$EXEC_ROOT" \
    --pidfile "$PIDFILE" \
    -H "unix://$SOCKET" \
    -H "tcp://$ADDRESS:$PORT" \
    --tlsverify \
    --tlscacert "$STATE/ca.pem" \
    --tlscert "$STATE/server-cert.pem" \
    --tlskey "$STATE/server-key.pem" \
    --bridge "$BRIDGE" \
    --iptables=false \
    --ip-masq=false \
    --ip-forward=false \
    </dev/null >>"$LOGFILE" 2>&1 &
  disown 2>/dev/null || true
}

start_engine() {
  ((EUID == 0)) || die "starting dockerd needs root; run this script as root"
  have dockerd || die "dockerd is not installed (apt-get install docker.io)"
  have curl || die "curl is not installed"

  local pid
  pid="$(dockerd_pid)"
  if [[ -n "$pid" ]]; then
    log "dockerd (pid $pid) is running but not answering yet; waiting up to ${START_TIMEOUT}s"
    if wait_for_engine "$START_TIMEOUT"; then return 0; fi
    log "dockerd (pid $pid) did not answer within ${START_TIMEOUT}s; stopping it and starting afresh"
  fi
  stop_engine # also clears a stale pid file, socket or orphaned containerd
  if port_taken; then
    die "something else already listens on $ADDRESS:$PORT: $(ss -Hltnp "sport = :$PORT" 2>/dev/null | head -n 1)"
  fi

  ensure_bridge
  launch_dockerd
  if ! wait_for_engine "$START_TIMEOUT"; then
    if [[ -n "$(dockerd_pid)" ]]; then
      log "dockerd did not answer on https://$ADDRESS:$PORT within ${START_TIMEOUT}s; last 50 lines of $LOGFILE:"
    else
      log "dockerd exited without answering on https://$ADDRESS:$PORT; last 50 lines of $LOGFILE:"
    fi
    tail -n 50 "$LOGFILE" >&2 || true
    exit 1
  fi
}

# --- subcommands --------------------------------------------------------------

cmd_up() {
  local made
  made="$(ensure_certificates)"
  if [[ -n "$made" && -n "$(dockerd_pid)" ]]; then
    log "certificates were remade; restarting dockerd so that it uses them"
    stop_engine
  fi
  if engine_answers; then
    log "engine answers on https://$ADDRESS:$PORT (API $(api_version))"
  else
    start_engine
    log "engine is up on https://$ADDRESS:$PORT (API $(api_version), pid $(dockerd_pid), data-root $(root_dir))"
  fi
  log "client: DOCKER_HOST=tcp://$ADDRESS:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$STATE"
}

cmd_down() {
  if [[ -n "$(dockerd_pid)" || -n "$(containerd_pid)" ]]; then
    ((EUID == 0)) || die "stopping dockerd needs root"
    stop_engine
    log "dockerd stopped"
  else
    log "no dockerd running from $PIDFILE; nothing to stop"
    rm -f "$PIDFILE" "$CONTAINERD_PIDFILE" "$SOCKET"
  fi
  remove_bridge
}

cmd_status() {
  if ! have curl; then
    echo "tls-engine: unknown (curl is not installed)"
    return 1
  fi
  local pid
  pid="$(dockerd_pid)"
  if engine_answers; then
    echo "tls-engine: answering on tcp://$ADDRESS:$PORT (TLS, client certificate required)"
    echo "api-version: $(api_version)"
    echo "data-root: $(root_dir)"
    echo "dockerd: pid ${pid:-unknown}; also on unix://$SOCKET"
    echo "certificates: $STATE (ca.pem cert.pem key.pem other-ca.pem)"
    return 0
  fi
  echo "tls-engine: not answering on tcp://$ADDRESS:$PORT"
  [[ -z "$pid" ]] || echo "dockerd: pid $pid is running (starting up, or hung)"
  [[ -f "$STATE/ca.pem" ]] || echo "certificates: not made yet (run: scripts/tls-engine.sh up)"
  echo "log: $LOGFILE"
  return 1
}

usage() {
  echo "usage: $0 up | down | status" >&2
  exit 2
}

(($# == 1)) || usage
case "$1" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  -h | --help) echo "usage: $0 up | down | status" ;;
  *) usage ;;
esac
