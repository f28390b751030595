#!/usr/bin/env node
/**
 * The README's compatibility tables, made from test results (never typed by hand):
 *   - engine × area: vitest JSON reports of the engine suite, one per engine;
 *   - runtime × suite: the JSON written by scripts/test-runtimes.sh.
 *
 *   node scripts/compat-table.mjs --engine 'Docker 20.10 (API 1.41)=report.json' ... \
 *     [--runtimes runtimes.json] [--write README.md]
 *
 * Prints the tables; with --write, replaces what stands between the README's
 * `<!-- compat:start -->` and `<!-- compat:end -->` markers.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const engines = [];
let runtimes;
let write;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--engine') {
    const spec = args[++i] ?? '';
    const eq = spec.lastIndexOf('=');
    if (eq < 1) throw new Error(`--engine wants 'Name=report.json', not ${JSON.stringify(spec)}`);
    engines.push({ name: spec.slice(0, eq), file: spec.slice(eq + 1) });
  } else if (a === '--runtimes') runtimes = args[++i];
  else if (a === '--write') write = args[++i];
  else throw new Error(`compat-table: unknown argument ${a}`);
}

/** Per test file (the area), passed and total tests of one vitest JSON report. */
function areas(file) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const out = new Map();
  for (const result of report.testResults ?? []) {
    // engine suite files only: unit and package tests do not depend on the engine
    if (!/[\\/]test[\\/]engine[\\/]/.test(result.name)) continue;
    const area = path.basename(result.name).replace(/\.test\.[cm]?[jt]s$/, '');
    const cell = out.get(area) ?? { passed: 0, total: 0 };
    for (const t of result.assertionResults ?? []) {
      if (t.status === 'skipped' || t.status === 'pending' || t.status === 'todo') continue;
      cell.total++;
      if (t.status === 'passed') cell.passed++;
    }
    out.set(area, cell);
  }
  return out;
}

/**
 * Areas whose tests talk (all or in part) to an engine other than the one under test, whatever
 * DOCKER_HOST says: their cells in every column are that engine's results. Shown with a note.
 */
const ELSEWHERE = {
  swarm: 'the swarm is made on the TLS Docker 20.10 engine (tcp://127.0.0.1:2376), never on the engine under test',
  'tls-contexts': 'TLS cases talk to the TLS Docker 20.10 engine, default-context cases to /var/run/docker.sock',
};

const cellText = (c) => (c === undefined ? '–' : c.passed === c.total ? `✓ ${c.total}` : `✗ ${c.passed}/${c.total}`);

const lines = [];
if (engines.length) {
  const results = engines.map((e) => ({ ...e, areas: areas(e.file) }));
  const names = [...new Set(results.flatMap((r) => [...r.areas.keys()]))].sort();
  lines.push(`| area | ${results.map((r) => r.name).join(' | ')} |`, `|---|${results.map(() => '---').join('|')}|`);
  const notes = [];
  for (const area of names) {
    let label = area;
    if (ELSEWHERE[area]) {
      notes.push(`${notes.length + 1}. \`${area}\`: ${ELSEWHERE[area]}.`);
      label = `${area} (${notes.length})`;
    }
    lines.push(`| ${label} | ${results.map((r) => cellText(r.areas.get(area))).join(' | ')} |`);
  }
  const totals = results.map((r) => [...r.areas.values()].reduce((t, c) => ({ passed: t.passed + c.passed, total: t.total + c.total }), { passed: 0, total: 0 }));
  lines.push(`| **all** | ${totals.map(cellText).join(' | ')} |`);
  if (notes.length) lines.push('', ...notes);
}
if (runtimes) {
  const rows = JSON.parse(readFileSync(runtimes, 'utf8'));
  const suites = [...new Set(rows.map((r) => r.suite))];
  const byRuntime = new Map();
  for (const r of rows) {
    const key = `${r.runtime} ${r.version}`;
    if (!byRuntime.has(key)) byRuntime.set(key, new Map());
    byRuntime.get(key).set(r.suite, { passed: r.passed, total: r.passed + r.failed });
  }
  if (lines.length) lines.push('');
  lines.push(`| runtime | ${suites.join(' | ')} |`, `|---|${suites.map(() => '---').join('|')}|`);
  for (const [runtime, cells] of byRuntime) lines.push(`| ${runtime} | ${suites.map((s) => cellText(cells.get(s))).join(' | ')} |`);
}
const table = lines.join('\n');
console.log(table);

if (write) {
  const readme = readFileSync(write, 'utf8');
  const start = '<!-- compat:start -->';
  const end = '<!-- compat:end -->';
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${write} has no ${start} ... ${end} section`);
  writeFileSync(write, `${readme.slice(0, a + start.length)}\n${table}\n${readme.slice(b)}`);
}
