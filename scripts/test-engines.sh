#!/usr/bin/env bash
# Runs the engine suite against the engines of scripts/engines.sh, one after another (two cores
# are too few for parallel runs), and the raised-minimum checks against docker28-min144.
#
#   scripts/test-engines.sh REPORT_DIR [name...]    (default: docker26 docker28 podman, then min144)
#
# Writes REPORT_DIR/<name>.json (vitest's JSON report) for each engine, prints a line per engine,
# and exits 1 if any run failed. The engines must be up (scripts/engines.sh up): a missing one
# fails its run, it is never skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

out="${1:?usage: scripts/test-engines.sh REPORT_DIR [name...]}"
shift
mkdir -p "$out"
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(docker26 docker28 podman docker28-min144)

status=0
summary=()
for name in "${names[@]}"; do
  host="unix:///run/dockhand-engines/$name.sock"
  files=()
  # The raised-minimum engine refuses the API 1.41 that much of the suite pins: it gets its checks.
  [[ "$name" == *-min144 ]] && files=(test/engine/min-api.test.ts)
  echo "== engine suite against $name ($host)"
  start=$SECONDS
  DOCKER_HOST="$host" npx vitest run --project engine "${files[@]}" \
    --reporter=default --reporter=json --outputFile.json="$out/$name.json"
  rc=$?
  line="$(node scripts/test-summary.mjs "$out/$name.json" 2>/dev/null || echo 'no report')"
  summary+=("$name: ${line#Tests: } ($((SECONDS - start)) s)")
  [[ $rc -eq 0 ]] || status=1
done
echo "== engines"
printf '   %s\n' "${summary[@]}"
exit "$status"
