# Network namespaces, and cleaning up after daemons run in one: the processes left in a namespace
# (and the containers under them), mounts left under a directory, cgroups left under a parent.
# Used by scripts/engines.sh. Needs lib/process.sh (log, die, alive, is_process).
# shellcheck shell=bash

NETNS_DIR=/run/netns

# Creates network namespace $1 (ip netns add) unless it exists, and brings its loopback up.
netns_ensure() {
  if [[ ! -e "$NETNS_DIR/$1" ]]; then
    ip netns add "$1"
  fi
  ip -n "$1" link set dev lo up
}

# Removes network namespace $1 (its name: the namespace itself lives on while a process is in it).
netns_remove() {
  [[ -e "$NETNS_DIR/$1" ]] || return 0
  if ! ip netns delete "$1" 2>/dev/null; then
    umount "$NETNS_DIR/$1" 2>/dev/null || umount -l "$NETNS_DIR/$1" 2>/dev/null || true
    rm -f "$NETNS_DIR/$1"
  fi
}

# Prints the inode that identifies network namespace $1, if it exists and is not the
# namespace this script runs in (so nothing below can ever sweep the host's namespace).
netns_inode() {
  local ino own
  ino="$(stat -L -c %i "$NETNS_DIR/$1" 2>/dev/null)" || return 0
  own="$(stat -L -c %i /proc/self/ns/net 2>/dev/null)" || return 0
  [[ -n "$ino" && "$ino" != "$own" && "$ino" != "$(stat -L -c %i /proc/1/ns/net 2>/dev/null)" ]] && echo "$ino"
}

# Prints the pids of the processes in network namespace $1 (none if it does not exist).
netns_pids() {
  local ino dir link
  ino="$(netns_inode "$1")"
  [[ -n "$ino" ]] || return 0
  for dir in /proc/[0-9]*; do
    link="$(readlink "$dir/ns/net" 2>/dev/null)" || continue
    [[ "$link" == "net:[$ino]" ]] && echo "${dir#/proc/}"
  done
  return 0
}

# Prints the parent pid of process $1.
ppid_of() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  stat="${stat##*) }" # "pid (comm) S ppid ..." -> "S ppid ..."
  stat="${stat#* }"
  echo "${stat%% *}"
}

# Sends signal $1 to the pids given after it, and waits up to $2 seconds for them to go.
signal_and_wait() {
  local sig="$1" timeout="$2" pid deadline left
  shift 2
  (($# > 0)) || return 0
  kill "-$sig" "$@" 2>/dev/null || true
  kill -CONT "$@" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    left=0
    for pid in "$@"; do alive "$pid" && left=1 && break; done
    ((left)) || return 0
    sleep 0.2
  done
  return 1
}

# Ends every process in network namespace $1, and every child of one of them that lives in a
# namespace of its own (a container's init, under a containerd shim or conmon: ending it ends
# its container). Children first, with SIGKILL; then the namespace's processes, SIGTERM and
# after $2 seconds SIGKILL.
netns_kill_all() {
  local ns="$1" timeout="$2" pid dir parent
  local -A in_ns=()
  local inside=() children=()
  for pid in $(netns_pids "$ns"); do in_ns[$pid]=1; inside+=("$pid"); done
  ((${#inside[@]} > 0)) || return 0
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    [[ -z "${in_ns[$pid]:-}" ]] || continue
    parent="$(ppid_of "$pid")"
    [[ -n "$parent" && -n "${in_ns[$parent]:-}" ]] && children+=("$pid")
  done
  if ((${#children[@]} > 0)); then
    log "killing ${#children[@]} container process(es) left under namespace $ns"
    signal_and_wait KILL 10 "${children[@]}" || true
  fi
  log "stopping ${#inside[@]} process(es) left in namespace $ns"
  signal_and_wait TERM "$timeout" "${inside[@]}" && return 0
  # shellcheck disable=SC2046 # the pids still there
  signal_and_wait KILL 5 $(netns_pids "$ns") || log "some processes in namespace $ns did not die"
}

# Prints the mount points at or under the directories given, deepest first.
mounts_under() {
  local dir mp
  while read -r mp; do
    mp="$(printf '%b' "$mp")" # mountinfo escapes spaces and the like as \040
    for dir in "$@"; do
      if [[ "$mp" == "$dir" || "$mp" == "$dir/"* ]]; then
        echo "$mp"
        break
      fi
    done
  done < <(awk '{ print $5 }' /proc/self/mountinfo) | sort -r -u
}

# Unmounts everything mounted at or under the directories given (deepest first; lazily if a
# mount is busy).
unmount_under() {
  local mp n=0
  while read -r mp; do
    [[ -n "$mp" ]] || continue
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "could not unmount $mp"
    n=$((n + 1))
  done < <(mounts_under "$@")
  ((n == 0)) || log "unmounted $n mount(s) under $*"
}

# Prints the directories of cgroup $1 (a path relative to the hierarchies' roots) in every
# mounted hierarchy (cgroup v1 controllers and the unified one).
cgroup_dirs() {
  local dir
  for dir in /sys/fs/cgroup/"$1" /sys/fs/cgroup/*/"$1"; do
    [[ -d "$dir" ]] && echo "$dir"
  done
  return 0
}

# Kills the processes left in cgroup $1 or below it, then removes its (empty) directories.
cgroup_remove() {
  local dir pid pids=()
  local -A seen=()
  while read -r dir; do
    while read -r pid; do
      [[ -n "$pid" && -z "${seen[$pid]:-}" ]] && seen[$pid]=1 && pids+=("$pid")
    done < <(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null)
  done < <(cgroup_dirs "$1")
  if ((${#pids[@]} > 0)); then
    log "killing ${#pids[@]} process(es) left in cgroup /$1"
    signal_and_wait KILL 10 "${pids[@]}" || log "some processes in cgroup /$1 did not die"
  fi
  while read -r dir; do
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done < <(cgroup_dirs "$1")
}

# Removes the directories of cgroup $1 (and below) that are empty, and kills nothing.
cgroup_prune() {
  local dir
  while read -r dir; do
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done < <(cgroup_dirs "$1")
}

# dockerd_in_netns NETNS_PATH DOCKERD PATH_VALUE STATE_DIR RUN_DIR SOCKET CGROUP_PARENT LOGFILE [VAR=VALUE ...] [-- EXTRA_FLAG ...]
# Starts a dockerd detached in the network namespace NETNS_PATH (nsenter --net: `ip netns exec`
# would hide the cgroup mounts), with a clean environment (PATH_VALUE and the given VAR=VALUE
# pairs), its own config file ($STATE_DIR/daemon.json), data-root ($STATE_DIR/data), exec-root
# ($RUN_DIR/exec), pidfile, socket and cgroup parent, its output appended to LOGFILE. Runs in the
# caller's shell: `$!` is the launched process's pid afterwards.
dockerd_in_netns() {
  local netns="$1" dockerd="$2" path="$3" state="$4" run="$5" socket="$6" cgroup="$7" logfile="$8"
  shift 8
  local env=() flags=()
  while (($#)) && [[ "$1" != -- ]]; do env+=("$1"); shift; done
  (($#)) && shift
  flags=("$@")
  mkdir -p "$state/data" "$run/exec"
  env -i PATH="$path" HOME=/root LANG=C.UTF-8 "${env[@]}" \
    setsid nohup nsenter --net="$netns" -- "$dockerd" \
    --config-file "$state/daemon.json" \
    --data-root "$state/data" \
    --exec-root "$run/exec" \
    --pidfile "$run/dockerd.pid" \
    --host "unix://$socket" \
    --cgroup-parent "$cgroup" \
    "${flags[@]}" \
    </dev/null >>"$logfile" 2>&1 9>&- &
}
