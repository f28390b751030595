# Shared by the service scripts (engine, registry, TLS engine, sshd): process checks and stops.
# The sourcing script defines log() first.
# shellcheck shell=bash

die() { log "$*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# True if process $1 exists and is not a zombie. (PID 1 here does not reap, so a stopped
# daemon can linger unreaped, and `kill -0` still succeeds on it.) `read` rather than `cat`:
# this runs for every process while a script waits.
alive() {
  local stat
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat="${stat##*) }" # drop "pid (comm) "; the state letter comes next
  [[ -n "$stat" && "${stat%% *}" != [ZX] ]]
}

# True if process $1 is alive and its command name is $2.
is_process() {
  local comm
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  { read -r comm <"/proc/$1/comm"; } 2>/dev/null || return 1
  [[ "$comm" == "$2" ]] && alive "$1"
}

# Sends SIGTERM to process $1, waits up to $2 seconds, then sends SIGKILL.
stop_process() {
  local pid="$1" timeout="$2" deadline
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true # a stopped process cannot act on SIGTERM
  deadline=$((SECONDS + timeout))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$pid"; then
    log "pid $pid still running after ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    alive "$pid" && die "could not kill pid $pid"
  fi
  return 0
}

# Waits up to $1 seconds for command $2 to succeed. Gives up early when command $3 prints no
# pid (the daemon died), after a short grace period for a launch still on its way through
# setsid and nohup.
wait_for_service() {
  local start=$SECONDS
  while ((SECONDS - start < $1)); do
    "$2" && return 0
    if ((SECONDS - start >= 3)) && [[ -z "$("$3")" ]]; then
      return 1
    fi
    sleep 0.5
  done
  "$2"
}
