# Probes of an engine on a unix socket, and the import of the test image into it.
# Used by scripts/engines.sh. Needs lib/process.sh (log, die, have) and curl.
# shellcheck shell=bash

PROBE_TEST_IMAGE=dockhand-test/busybox:latest
PROBE_BUSYBOX=/bin/busybox
PROBE_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# curl against the engine on socket $1, path $2, more curl options after.
sock_curl() {
  local sock="$1" path="$2"
  shift 2
  curl -s --max-time "${PROBE_TIMEOUT:-3}" --unix-socket "$sock" "$@" "http://localhost$path"
}

# True if the engine on socket $1 answers GET /_ping.
sock_answers() {
  [[ -S "$1" ]] && sock_curl "$1" /_ping -f -o /dev/null 2>/dev/null
}

# Prints header $2 of the engine's GET /_ping answer (empty if it does not answer).
sock_ping_header() {
  sock_curl "$1" /_ping -f -o /dev/null -D - 2>/dev/null |
    tr -d '\r' | awk -F': *' -v h="$2" 'tolower($1) == tolower(h) { print $2 }' || true
}

sock_api_version() { sock_ping_header "$1" Api-Version; }
sock_server() { sock_ping_header "$1" Server; }

# Prints the engine's minimum API version (the last, top-level MinAPIVersion of GET /version).
sock_min_api_version() {
  sock_curl "$1" /version -f 2>/dev/null | grep -o '"MinAPIVersion":"[^"]*"' | tail -n 1 | cut -d'"' -f4 || true
}

# True if the engine on socket $1 has the test image.
sock_has_test_image() {
  [[ "$(sock_curl "$1" "/images/$PROBE_TEST_IMAGE/json" -o /dev/null -w '%{http_code}' 2>/dev/null)" == 200 ]]
}

# Imports the test image into the engine on socket $1 unless it is there. With dockhand built
# (dist/), through scripts/import-test-image.mjs as scripts/engine.sh does, with DOCKER_HOST set
# to the socket; without it, the same script writes the same rootfs tar and curl posts it to
# POST /images/create, so that nothing needs building in a working tree others may be editing.
sock_ensure_test_image() {
  local sock="$1" tar out
  if sock_has_test_image "$sock"; then
    log "test image $PROBE_TEST_IMAGE is present"
    return 0
  fi
  have node || die "node is not installed; it is needed to import the test image"
  [[ -x "$PROBE_BUSYBOX" ]] || die "$PROBE_BUSYBOX is missing (package busybox-static)"
  if [[ -f "$PROBE_REPO_ROOT/dist/esm/index.js" ]]; then
    log "importing test image $PROBE_TEST_IMAGE (scripts/import-test-image.mjs)"
    if ! out="$(cd "$PROBE_REPO_ROOT" && DOCKER_HOST="unix://$sock" node scripts/import-test-image.mjs --busybox "$PROBE_BUSYBOX" 2>&1)"; then
      printf '%s\n' "$out" >&2
      die "importing the test image failed"
    fi
  else
    log "importing test image $PROBE_TEST_IMAGE (dist/ is not built: the rootfs tar of scripts/import-test-image.mjs, posted with curl)"
    tar="$(mktemp "${TMPDIR:-/tmp}/dockhand-rootfs.XXXXXX")"
    # shellcheck disable=SC2064 # expand now: the trap runs after this function's locals are gone
    trap "rm -f '$tar'" RETURN
    (cd "$PROBE_REPO_ROOT" && node scripts/import-test-image.mjs --busybox "$PROBE_BUSYBOX" --out "$tar") >/dev/null
    out="$(PROBE_TIMEOUT=120 sock_curl "$sock" '/images/create?fromSrc=-&repo=dockhand-test%2Fbusybox&tag=latest&changes=CMD%20%5B%22%2Fbin%2Fsh%22%5D' \
      -X POST -H 'Content-Type: application/x-tar' --data-binary "@$tar" 2>&1)" || true
    if [[ "$out" == *'"error'* ]]; then
      printf '%s\n' "$out" >&2
      die "importing the test image failed"
    fi
  fi
  sock_has_test_image "$sock" || die "test image $PROBE_TEST_IMAGE is still missing after the import"
}
