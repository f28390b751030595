#!/usr/bin/env bash
# Manages the private sshd the ssh:// transport tests connect through.
#
#   scripts/sshd.sh up       start an sshd on 127.0.0.1:2222 if none of ours answers,
#                            installing Debian's openssh-server with apt if needed (as root)
#   scripts/sshd.sh down     stop it, if this script started it
#   scripts/sshd.sh status   report whether it answers and lets the client key in
#
# This is not the system sshd (it is never started, stopped or reconfigured here): it
# is a separate daemon with its own config, host key, pid file and log, all kept in a
# state directory, ${TMPDIR:-/tmp}/dockhand-sshd:
#   sshd_config              the daemon's config (127.0.0.1:2222, public keys only)
#   ssh_host_ed25519_key     its host key (.pub beside it)
#   id_ed25519               the client key, no passphrase (.pub beside it); its public
#                            key is the only line of authorized_keys
#   known_hosts              the host key as [127.0.0.1]:2222, for StrictHostKeyChecking
#   ssh_config               a client config block for Host dockhand-test-ssh, to
#                            Include or copy into ~/.ssh/config
#   sshd.pid, sshd.log       the daemon's pid and its log (LogLevel VERBOSE: one
#                            "Accepted publickey" line per SSH connection)
#
# The login user is the one running this script (root, normally). `docker system
# dial-stdio` must run in a non-interactive session there: `up` checks that the docker
# CLI is on that session's PATH.
#
# Exit codes: 0 success (for `status`: it answers and logs the client key in), 1
# failure, 2 usage error.
set -euo pipefail

STATE="${TMPDIR:-/tmp}/dockhand-sshd"
SSHD_BIN=/usr/sbin/sshd
HOST=127.0.0.1
PORT=2222
ALIAS=dockhand-test-ssh
PRIVSEP_DIR=/run/sshd
START_TIMEOUT=20 # seconds to wait for the port to answer after starting sshd
STOP_TIMEOUT=10  # seconds to wait for sshd to exit after SIGTERM

log() { printf 'sshd: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/process.sh"

LOGIN_USER="$(id -un)"

# --- probes -------------------------------------------------------------------

# True if something on HOST:PORT speaks SSH.
port_answers() {
  [[ -n "$(ssh-keyscan -T 2 -p "$PORT" "$HOST" 2>/dev/null)" ]]
}

# Runs a command over ssh with the client key, checking the host key against known_hosts.
client_ssh() {
  ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes \
    -o "UserKnownHostsFile=$STATE/known_hosts" -o IdentitiesOnly=yes -i "$STATE/id_ed25519" \
    -p "$PORT" -l "$LOGIN_USER" "$HOST" -- "$@"
}

# True if the client key logs in (and the host key is ours).
login_works() {
  [[ -r "$STATE/id_ed25519" && -r "$STATE/known_hosts" ]] || return 1
  client_ssh true </dev/null >/dev/null 2>&1
}


# Prints the pid from our pid file if it is a live sshd started with our config (so a
# recycled pid is never signalled); prints nothing otherwise.
sshd_pid() {
  local pid cmdline
  pid="$(cat "$STATE/sshd.pid" 2>/dev/null || true)"
  alive "$pid" || return 0
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *"-f $STATE/sshd_config "* ]] && echo "$pid"
  return 0
}

# --- installation -------------------------------------------------------------

install_missing_packages() {
  local missing=()
  [[ -x "$SSHD_BIN" ]] || missing+=(openssh-server)
  { have ssh && have ssh-keygen && have ssh-keyscan; } || missing+=(openssh-client)
  ((${#missing[@]} > 0)) || return 0
  ((EUID == 0)) || die "missing ${missing[*]}; run this script as root to install them, or install them yourself"
  have apt-get || die "missing ${missing[*]} and apt-get is not available to install them"
  log "installing ${missing[*]}"
  apt-get update
  # Without an init system the package's attempt to start the system sshd does nothing
  # (and policy-rc.d usually forbids it anyway); this script never uses that daemon.
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# --- configuration ------------------------------------------------------------

make_keys() {
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  if [[ ! -s "$STATE/ssh_host_ed25519_key" ]]; then
    rm -f "$STATE/ssh_host_ed25519_key" "$STATE/ssh_host_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "dockhand-sshd host key" -f "$STATE/ssh_host_ed25519_key"
  fi
  if [[ ! -s "$STATE/id_ed25519" ]]; then
    rm -f "$STATE/id_ed25519" "$STATE/id_ed25519.pub"
    ssh-keygen -q -t ed25519 -N '' -C "dockhand-test client key" -f "$STATE/id_ed25519"
  fi
  chmod 600 "$STATE/ssh_host_ed25519_key" "$STATE/id_ed25519"
  cp "$STATE/id_ed25519.pub" "$STATE/authorized_keys.tmp"
  chmod 600 "$STATE/authorized_keys.tmp"
  mv "$STATE/authorized_keys.tmp" "$STATE/authorized_keys"
  # known_hosts from the key file itself, not from a scan: nothing on the port is trusted.
  local type key _comment
  read -r type key _comment <"$STATE/ssh_host_ed25519_key.pub"
  printf '[%s]:%s %s %s\n' "$HOST" "$PORT" "$type" "$key" >"$STATE/known_hosts"
}

write_configs() {
  {
    echo "# dockhand test sshd: not the system sshd (see scripts/sshd.sh)"
    echo "ListenAddress $HOST"
    echo "Port $PORT"
    echo "HostKey $STATE/ssh_host_ed25519_key"
    echo "PidFile $STATE/sshd.pid"
    echo "AuthorizedKeysFile $STATE/authorized_keys"
    echo "PubkeyAuthentication yes"
    echo "PasswordAuthentication no"
    echo "KbdInteractiveAuthentication no"
    echo "PermitRootLogin prohibit-password"
    echo "StrictModes no"
    echo "UsePAM no"
    echo "LogLevel VERBOSE"
    # Many channels (one per pooled HTTP connection) share one SSH connection.
    echo "MaxSessions 100"
    echo "MaxStartups 100:30:200"
    echo "ClientAliveInterval 30"
    echo "X11Forwarding no"
    echo "PrintMotd no"
    echo "Subsystem sftp internal-sftp"
    # The engine suite names the engine under test (SetEnv in its ssh config): the remote
    # `docker system dial-stdio` then reaches that engine, not the default one.
    echo "AcceptEnv DOCKER_HOST"
  } >"$STATE/sshd_config.tmp"
  mv "$STATE/sshd_config.tmp" "$STATE/sshd_config"
  {
    echo "Host $ALIAS"
    echo "  HostName $HOST"
    echo "  Port $PORT"
    echo "  User $LOGIN_USER"
    echo "  IdentityFile $STATE/id_ed25519"
    echo "  IdentitiesOnly yes"
    echo "  StrictHostKeyChecking yes"
    echo "  UserKnownHostsFile $STATE/known_hosts"
  } >"$STATE/ssh_config"
}

# --- lifecycle ----------------------------------------------------------------

# Waits up to $1 seconds for the port to answer; fails early if sshd (pid $2) exits.
wait_for_port() {
  local timeout="$1" pid="$2" start=$SECONDS
  while ((SECONDS - start < timeout)); do
    port_answers && return 0
    alive "$pid" || return 1
    sleep 0.2
  done
  port_answers
}

# Checks that a non-interactive session finds the docker CLI (for `docker system dial-stdio`).
check_remote_docker() {
  local where
  if ! where="$(client_ssh 'command -v docker' </dev/null 2>&1)"; then
    die "the client key cannot log in as $LOGIN_USER on $HOST:$PORT: $where (log: $STATE/sshd.log)"
  fi
  # shellcheck disable=SC2016 # $PATH is the remote session's, expanded there
  [[ -n "$where" ]] || die "docker is not on the PATH of a non-interactive ssh session ($(client_ssh 'echo $PATH' </dev/null 2>&1)); ssh:// hosts need it"
  log "a non-interactive session runs $where"
}

start_sshd() {
  local pid
  make_keys
  write_configs
  pid="$(sshd_pid)"
  if [[ -n "$pid" ]] && login_works; then
    kill -HUP "$pid" # re-reads the config just written (it may have changed)
    sleep 0.2
    log "sshd (pid $pid) answers on $HOST:$PORT ($STATE)"
    check_remote_docker
    return 0
  fi
  if [[ -n "$pid" ]]; then
    log "sshd (pid $pid) is running but does not let the client key in; restarting it"
    stop_process "$pid" "$STOP_TIMEOUT"
  fi
  if port_answers; then
    die "something else speaks SSH on $HOST:$PORT (not an sshd this script started); stop it or free the port"
  fi

  # The privilege-separation directory sshd insists on (root-owned, not group/world writable).
  mkdir -p "$PRIVSEP_DIR"
  chmod 755 "$PRIVSEP_DIR"
  "$SSHD_BIN" -t -f "$STATE/sshd_config" || die "sshd rejects $STATE/sshd_config"

  log "starting sshd on $HOST:$PORT (log: $STATE/sshd.log)"
  : >"$STATE/sshd.log"
  rm -f "$STATE/sshd.pid"
  # sshd forks into the background itself (new session, no terminal) and writes PidFile.
  "$SSHD_BIN" -f "$STATE/sshd_config" -E "$STATE/sshd.log" </dev/null

  local start=$SECONDS
  until pid="$(sshd_pid)" && [[ -n "$pid" ]]; do
    if ((SECONDS - start >= START_TIMEOUT)); then
      log "sshd wrote no pid file within ${START_TIMEOUT}s; last 30 lines of $STATE/sshd.log:"
      tail -n 30 "$STATE/sshd.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  if ! wait_for_port "$((START_TIMEOUT - (SECONDS - start)))" "$pid"; then
    log "sshd (pid $pid) did not answer on $HOST:$PORT within ${START_TIMEOUT}s; last 30 lines of $STATE/sshd.log:"
    tail -n 30 "$STATE/sshd.log" >&2 || true
    exit 1
  fi
  login_works || die "sshd answers on $HOST:$PORT but refuses the client key; see $STATE/sshd.log"
  log "sshd answers on $HOST:$PORT (pid $pid)"
  check_remote_docker
}


# --- subcommands --------------------------------------------------------------

cmd_up() {
  install_missing_packages
  start_sshd
}

cmd_down() {
  local pid
  pid="$(sshd_pid)"
  if [[ -n "$pid" ]]; then
    # Only the listener: sessions still open end when their clients close them.
    log "stopping sshd (pid $pid)"
    stop_process "$pid" "$STOP_TIMEOUT"
    log "sshd stopped"
  else
    log "no sshd started by this script is running; nothing to stop"
  fi
  rm -f "$STATE/sshd.pid"
}

cmd_status() {
  local pid
  pid="$(sshd_pid)"
  if [[ -n "$pid" ]] && login_works; then
    echo "sshd: answering on $HOST:$PORT (pid $pid); client key $STATE/id_ed25519, user $LOGIN_USER"
    return 0
  fi
  if [[ -n "$pid" ]]; then
    echo "sshd: pid $pid is running but the client key cannot log in on $HOST:$PORT"
    echo "  log: $STATE/sshd.log"
  elif have ssh-keyscan && port_answers; then
    echo "sshd: something else speaks SSH on $HOST:$PORT (not started by this script)"
  else
    echo "sshd: not running (start it with: scripts/sshd.sh up)"
  fi
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
