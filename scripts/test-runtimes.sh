#!/usr/bin/env bash
# The runtime compatibility matrix: the unit suite (vitest) and the engine smoke suite
# (test/runtime/smoke.mjs, against the BUILT package) under Node 20, 22 and 24, Bun and Deno, one
# after another. Prints a summary table and writes the results as JSON, then exits 1 if any
# test failed (or a suite did not report), 0 otherwise.
#
#   scripts/test-runtimes.sh [RESULT.json]     default ${TMPDIR:-/tmp}/dockhand-runtimes.json
#
# RESULT.json is an array, one object per runtime and suite:
#   [{ "runtime": "node", "version": "22.23.5", "suite": "unit", "passed": 267, "failed": 0 }, ...]
# (scripts/compat-table.mjs --runtimes RESULT.json turns it into the README's table).
#
# Environment:
#   DOCKHAND_RUNTIMES        which runtimes (default: node20 node22 node24 bun deno; see scripts/runtimes.sh)
#   DOCKHAND_RUNTIME_SUITES  which suites (default: unit smoke)
#   DOCKHAND_SKIP_BUILD=1    use dist/ as it is instead of running `node scripts/build.mjs` first
#   DOCKHAND_NO_SERVICES=1   do not start the engine and the registry (scripts/engine.sh up,
#                            scripts/registry.sh up) before the smoke suite
#   DOCKER_HOST              the engine the smoke suite talks to (default: the usual sockets)
#
# How each runtime runs them (the logs of every leg stay in a folder printed at the end):
#   node  node node_modules/vitest/vitest.mjs run --project unit ...;  node test/runtime/smoke.mjs
#   bun   bun --bun node_modules/vitest/vitest.mjs run --project unit ...;  bun test/runtime/smoke.mjs
#   deno  deno run -A node_modules/vitest/vitest.mjs run --project unit ...  with TMPDIR set to a
#         folder holding test/runtime/deno.json (see below);
#         deno run -A --config test/runtime/deno.json test/runtime/smoke.mjs
# Every unit leg gets --testTimeout=30000: this matrix is about what works where, and a property
# test that takes 4 s on Node may take 6 s under another runtime on a busy 2-core machine.
#
# Deno and the unit suite's child processes: test/support/child.ts runs crash cases as
# `process.execPath --unhandled-rejections=strict --import tsx case.mjs`, a case.mjs written to
# os.tmpdir(). Under Deno, execPath is deno, which runs the case as `deno run` and drops
# `--import tsx`, so the case cannot load src/*.ts through its `.js` import specifiers. Deno
# finds a deno.json beside the script it runs: the one in test/runtime/ (sloppy imports: `.js`
# resolves to `.ts`; node_modules as it is) is copied into a fresh TMPDIR for the Deno unit leg.
# Deno ends a process on an unhandled rejection by default, as `--unhandled-rejections=strict`.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh

result="${1:-${TMPDIR:-/tmp}/dockhand-runtimes.json}"
runtimes="${DOCKHAND_RUNTIMES:-$DOCKHAND_ALL_RUNTIMES}"
suites="${DOCKHAND_RUNTIME_SUITES:-unit smoke}"
UNIT_LIMIT=900  # seconds for one unit leg
SMOKE_LIMIT=600 # seconds for one smoke leg (each check also has its own 60 s bound)

logs="$(mktemp -d "${TMPDIR:-/tmp}/dockhand-runtimes-logs.XXXXXX")"
rows="$logs/rows.tsv"
: >"$rows"
say() { printf '== runtimes: %s\n' "$*"; }

if [[ -z "${DOCKHAND_SKIP_BUILD:-}" && " $suites " == *" smoke "* ]]; then
  say "building dist/ (node scripts/build.mjs)"
  node scripts/build.mjs || { echo "runtimes: the build failed" >&2; exit 1; }
fi
if [[ -z "${DOCKHAND_NO_SERVICES:-}" && " $suites " == *" smoke "* ]]; then
  if [[ -z "${DOCKER_HOST:-}" ]]; then bash scripts/engine.sh up || exit 1; fi
  bash scripts/registry.sh up || exit 1
fi

# Records one row: runtime family, version, suite, passed, failed, seconds.
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$rows"; }

# Runs the unit suite under one runtime; prints its failing tests.
unit_leg() {
  local name="$1" family="$2" bin="$3" version="$4" json="$logs/unit-$1.json" log="$logs/unit-$1.log" start rc counts passed failed denotmp=""
  local -a cmd
  case "$family" in
    node) cmd=(env "PATH=$(dirname "$bin"):$PATH" "$bin" node_modules/vitest/vitest.mjs) ;;
    bun) cmd=("$bin" --bun node_modules/vitest/vitest.mjs) ;;
    deno)
      denotmp="$(mktemp -d "${TMPDIR:-/tmp}/dockhand-deno-tmp.XXXXXX")"
      cp test/runtime/deno.json "$denotmp/deno.json"
      cmd=(env "TMPDIR=$denotmp" "$bin" run -A node_modules/vitest/vitest.mjs)
      ;;
  esac
  say "$family $version: unit suite (log: $log)"
  start=$SECONDS
  timeout --kill-after=10 "$UNIT_LIMIT" "${cmd[@]}" run --project unit --testTimeout=30000 \
    --reporter=dot --reporter=json --outputFile.json="$json" </dev/null >"$log" 2>&1
  rc=$?
  [[ -n "$denotmp" ]] && rm -rf "$denotmp"
  # the failing tests, and "passed failed" into a file (a file that did not even load counts as one)
  passed=0 failed=0
  if [[ -s "$json" ]] && node -e '
    const fs = require("fs");
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const first = (m) => String(m ?? "").split("\n")[0].slice(0, 240);
    let broken = 0;
    for (const f of r.testResults ?? []) {
      for (const t of f.assertionResults ?? []) if (t.status === "failed") console.log(`   FAIL ${t.fullName}: ${first(t.failureMessages?.[0])}`);
      if (f.status === "failed" && !(f.assertionResults ?? []).length) {
        broken++;
        console.log(`   FAIL ${f.name}: ${first(f.message)}`);
      }
    }
    fs.writeFileSync(process.argv[2], `${r.numPassedTests} ${r.numFailedTests + broken}\n`);
  ' "$json" "$logs/counts"; then
    read -r passed failed <"$logs/counts"
  fi
  if [[ $rc -ne 0 && $failed -eq 0 ]]; then
    # no report, a crash, a timeout, or errors outside any test: a failure all the same
    failed=1
    echo "   FAIL the runner exited with code $rc$( [[ $rc -eq 124 || $rc -eq 137 ]] && echo " (over ${UNIT_LIMIT} s)"); last lines:"
    tail -n 15 "$log" | sed 's/^/     /'
  fi
  record "$family" "$version" unit "$passed" "$failed" "$((SECONDS - start))"
}

# Runs the smoke suite under one runtime; prints its failing checks.
smoke_leg() {
  local name="$1" family="$2" bin="$3" version="$4" log="$logs/smoke-$1.log" start rc line passed=0 failed=0
  local -a cmd
  case "$family" in
    node | bun) cmd=("$bin" test/runtime/smoke.mjs) ;;
    deno) cmd=("$bin" run -A --config test/runtime/deno.json test/runtime/smoke.mjs) ;;
  esac
  say "$family $version: engine smoke suite (log: $log)"
  start=$SECONDS
  timeout --kill-after=10 "$SMOKE_LIMIT" "${cmd[@]}" </dev/null >"$log" 2>&1
  rc=$?
  grep -E '^(FAIL|ok  )' "$log" | sed 's/^/   /'
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)"
  if [[ -n "$line" ]]; then
    passed="${line%% passed*}"
    failed="${line#*, }"
    failed="${failed%% failed}"
  fi
  if [[ $rc -ne 0 && $failed -eq 0 ]]; then
    failed=1
    echo "   FAIL the smoke suite exited with code $rc without counting a failure; last lines:"
    tail -n 15 "$log" | sed 's/^/     /'
  fi
  record "$family" "$version" smoke "$passed" "$failed" "$((SECONDS - start))"
}

for name in $runtimes; do
  case "$name" in
    node*) family=node ;;
    bun) family=bun ;;
    deno) family=deno ;;
    *) family="$name" ;;
  esac
  if ! bin="$(runtime_bin "$name")" || ! version="$(runtime_version "$name")"; then
    say "$name: could not be installed"
    for suite in $suites; do record "$name" unknown "$suite" 0 1 0; done
    continue
  fi
  for suite in $suites; do
    case "$suite" in
      unit) unit_leg "$name" "$family" "$bin" "$version" ;;
      smoke) smoke_leg "$name" "$family" "$bin" "$version" ;;
      *) echo "runtimes: unknown suite '$suite' (unit, smoke)" >&2; exit 2 ;;
    esac
  done
done

mkdir -p "$(dirname "$result")"
echo "logs: $logs"
# the table, the JSON, and the closing line; exits 1 when anything failed
node -e '
  const fs = require("fs");
  const [rowsFile, out] = process.argv.slice(1);
  const rows = fs.readFileSync(rowsFile, "utf8").split("\n").filter(Boolean).map((l) => l.split("\t"));
  const json = rows.map(([runtime, version, suite, passed, failed]) => ({ runtime, version, suite, passed: Number(passed), failed: Number(failed) }));
  fs.writeFileSync(out, JSON.stringify(json, null, 2) + "\n");
  const pad = (s, n) => String(s).padEnd(n);
  console.log("");
  console.log(`${pad("runtime", 16)}${pad("suite", 8)}${pad("passed", 8)}${pad("failed", 8)}seconds`);
  for (const [runtime, version, suite, passed, failed, seconds] of rows) console.log(`${pad(`${runtime} ${version}`, 16)}${pad(suite, 8)}${pad(passed, 8)}${pad(failed, 8)}${seconds}`);
  const sum = (k) => json.reduce((n, r) => n + r[k], 0);
  console.log(`\nresults: ${out}`);
  console.log(`runtimes: ${sum("passed")} passed, ${sum("failed")} failed`);
  process.exitCode = json.length === 0 || sum("failed") > 0 ? 1 : 0;
' "$rows" "$result"
