# The engines of scripts/engines.sh, beside the default one: their names, what each runs, and
# where each keeps things. Sourced by scripts/engines.sh and scripts/engine-env.sh.
# shellcheck shell=bash disable=SC2034 # the variables are used by the scripts that source this

# In the order `up`, `down` and `status` take them when no name is given.
ENGINES=(docker28 docker26 podman docker28-min144)

# Sockets, pid files, exec-roots and runroots: what only means something while an engine runs.
# `down` unmounts and deletes each engine's part of it.
ENGINES_RUN="${DOCKHAND_ENGINES_RUN:-/run/dockhand-engines}"
# Data-roots (images, containers, volumes), configuration and logs: kept by `down`.
ENGINES_STATE="${DOCKHAND_ENGINES_STATE:-/var/lib/dockhand-engines}"
# The .debs fetched from other Debian suites, and the trees they are unpacked into: kept.
ENGINES_CACHE="${DOCKHAND_ENGINES_CACHE:-/var/cache/dockhand-engines}"

# The Debian suite whose docker.io (and containerd, and tini) a Docker engine runs, and the
# docker.io version that suite is expected to hold.
SUITE_PACKAGES_sid="docker.io containerd tini-static"
SUITE_PACKAGES_trixie="docker.io containerd tini"
SUITE_DOCKER_VERSION_sid=28.5
SUITE_DOCKER_VERSION_trixie=26.1

is_engine() {
  local e
  for e in "${ENGINES[@]}"; do [[ "$e" == "$1" ]] && return 0; done
  return 1
}

# dockerd or podman: the program (and the /proc comm) of the engine's daemon.
engine_kind() { case "$1" in podman) echo podman ;; *) echo dockerd ;; esac; }

# The suite a Docker engine's binaries come from (empty for podman, which is bookworm's own).
engine_suite() {
  case "$1" in
    docker28 | docker28-min144) echo sid ;;
    docker26) echo trixie ;;
  esac
}

# Environment variables (NAME=value ...) the engine's daemon is started with, beyond its own.
engine_extra_env() {
  case "$1" in
    docker28-min144) echo DOCKER_MIN_API_VERSION=1.44 ;;
  esac
}

engine_socket() { echo "$ENGINES_RUN/$1.sock"; }
engine_run_dir() { echo "$ENGINES_RUN/$1"; }
engine_state_dir() { echo "$ENGINES_STATE/$1"; }
engine_log() { echo "$ENGINES_STATE/$1/daemon.log"; }
engine_netns() { echo "dockhand-$1"; }
# The cgroup (relative to each hierarchy's root) the engine's containers are made under
# (--cgroup-parent). Podman 4.3 has no such setting: its containers go under /libpod_parent.
engine_cgroup_parent() { echo "dockhand-$1"; }
