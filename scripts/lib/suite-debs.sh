# Fetches .debs from another Debian suite (sid, trixie, ...) and unpacks them into a tree, without
# changing this machine's apt state: apt-get runs with sources, preferences, package lists and
# cache of its own (under the cache directory), and with an empty dpkg status, so /etc/apt and
# /var/lib/apt are only read, never written, and nothing installed can be upgraded from the
# suite, not even while the download runs. The suite's lists are deleted again afterwards.
# Used by scripts/engines.sh. Needs lib/process.sh (log, die, have).
# shellcheck shell=bash

DEBIAN_MIRROR="${DOCKHAND_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# apt-get/apt-cache options for a private apt state in directory $1.
private_apt_options() {
  local dir="$1" arch
  arch="$(dpkg --print-architecture)"
  printf '%s\n' \
    -o "Dir::Etc::SourceList=/dev/null" \
    -o "Dir::Etc::SourceParts=$dir/sources.list.d" \
    -o "Dir::Etc::Preferences=/dev/null" \
    -o "Dir::Etc::PreferencesParts=$dir/preferences.d" \
    -o "Dir::State::Lists=$dir/lists" \
    -o "Dir::State::status=/dev/null" \
    -o "Dir::State::extended_states=$dir/extended_states" \
    -o "Dir::Cache=$dir/cache" \
    -o "APT::Architecture=$arch" \
    -o "APT::Architectures::=$arch" \
    -o "APT::Sandbox::User=root"
}

# Downloads the candidate .debs of packages $3... from suite $1 into directory $2 (emptied first).
suite_download() {
  local suite="$1" dest="$2" apt_dir
  shift 2
  have apt-get || die "apt-get is not available to fetch $* from $suite"
  [[ -r "$DEBIAN_KEYRING" ]] || die "$DEBIAN_KEYRING is missing (package debian-archive-keyring)"
  apt_dir="$(dirname "$dest")/apt-$suite"
  rm -rf "$apt_dir" "$dest"
  mkdir -p "$apt_dir"/{sources.list.d,preferences.d,lists/partial,cache/archives/partial} "$dest"
  cat >"$apt_dir/sources.list.d/$suite.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $suite
Components: main
Signed-By: $DEBIAN_KEYRING
EOF
  local opts=()
  mapfile -t opts < <(private_apt_options "$apt_dir")
  log "fetching the package list of Debian $suite (private apt state in $apt_dir)"
  if ! apt-get "${opts[@]}" -q update >"$apt_dir/update.log" 2>&1; then
    tail -n 20 "$apt_dir/update.log" >&2
    die "apt-get update for $suite failed"
  fi
  log "downloading $* from $suite"
  if ! (cd "$dest" && apt-get "${opts[@]}" -q download "$@") >"$apt_dir/download.log" 2>&1; then
    tail -n 20 "$apt_dir/download.log" >&2
    die "apt-get download $* from $suite failed"
  fi
  rm -rf "$apt_dir"
}

# Prints the Version of package $1 among the .debs in directory $2.
deb_version() {
  local deb
  for deb in "$2"/*.deb; do
    if [[ "$(dpkg-deb -f "$deb" Package)" == "$1" ]]; then
      dpkg-deb -f "$deb" Version
      return 0
    fi
  done
}

# Makes sure $cache/trees/$suite holds packages $4... of suite $1, unpacked (dpkg -x), with
# docker.io at version $2.* ($3 is the cache directory). Fetches nothing if the tree is there.
ensure_suite_tree() {
  local suite="$1" want="$2" cache="$3"
  shift 3
  local debs="$cache/debs/$suite" tree="$cache/trees/$suite" marker="$cache/trees/$suite.ok"
  local pkg deb version
  [[ -f "$marker" && -d "$tree" ]] && return 0
  mkdir -p "$cache/debs" "$cache/trees"
  for pkg in "$@"; do
    if [[ -z "$(deb_version "$pkg" "$debs" 2>/dev/null)" ]]; then
      suite_download "$suite" "$debs" "$@"
      break
    fi
  done
  for pkg in "$@"; do
    [[ -n "$(deb_version "$pkg" "$debs")" ]] || die "$pkg is missing from $debs after the download"
  done
  version="$(deb_version docker.io "$debs")"
  if [[ -n "$want" && "$version" != "$want".* ]]; then
    die "Debian $suite's docker.io is $version now, not $want.*; the cached .debs in $debs are kept by later runs, so put $want.* .debs there (or change the engine table in scripts/lib/engines-conf.sh)"
  fi
  log "unpacking $(cd "$debs" && echo *.deb) into $tree"
  rm -rf "$tree" "$tree.tmp" "$marker"
  mkdir -p "$tree.tmp"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$tree.tmp"; done
  mv "$tree.tmp" "$tree"
  (cd "$debs" && ls -- *.deb) >"$marker"
}
