#!/usr/bin/env node
/**
 * dockhand benchmarks, against the local engine (see README.md):
 *   1. request path: ContainerInspect, sequential and 32 in flight, per client: requests/s and
 *      this process's CPU µs per request, as ratios to a raw undici Pool measured in the same run;
 *      then dockhand against the raw Pool alone on ContainerCreate with a full body (the bench
 *      container's inspect fed back, validated field by field; answered 409, see README.md) and
 *      ContainerList;
 *   2. startup: a fresh process that pings the engine and exits, spawn to exit, vs raw node:http.
 *
 *   node bench/run.mjs [--strict] [--only=request|startup] [--rounds=5] [--runs=20] [--quick]
 *   DOCKHAND_DIST=/path/to/another/dist node bench/run.mjs --only=request   (measures that build)
 *
 * Prints figures and exits 0; with --strict, exits 1 if a target is missed. Needs the root built
 * (`npm run build`: the bench imports ../dist) and installs its own dependencies if they are missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { benchContainerSpec, createBodyOf } from './create-body.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
// The build measured: ../dist, or another copy of it (e.g. an older build, to compare before/after).
const DIST = process.env.DOCKHAND_DIST ? resolve(process.env.DOCKHAND_DIST) : join(ROOT, 'dist');

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name, fallback) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
if (flag('help') || flag('h')) {
  console.log('usage: node bench/run.mjs [--strict] [--only=request|startup] [--rounds=N] [--runs=N] [--quick]');
  process.exit(0);
}
const known = /^--(strict|quick|help|h|only=.*|rounds=.*|runs=.*)$/;
for (const a of argv) {
  if (!known.test(a)) {
    console.error(`bench: unknown argument ${a} (try --help)`);
    process.exit(2);
  }
}
const QUICK = flag('quick');
const STRICT = flag('strict');
const ONLY = option('only', 'all');
if (!['all', 'request', 'startup'].includes(ONLY)) {
  console.error('bench: --only must be request or startup');
  process.exit(2);
}
const ROUNDS = Number(option('rounds', QUICK ? 2 : 5));
const STARTUP_RUNS = Number(option('runs', QUICK ? 4 : 20));
const SEQ_N = QUICK ? 300 : 2000;
const CONC_N = QUICK ? 600 : 4000;
const CONCURRENCY = 32;
const WARMUP = QUICK ? 100 : 300;

const SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock';
const TEST_IMAGE = 'dockhand-test/busybox:latest';
const TARGETS = {
  throughput: 0.95, // dockhand / undici requests/s, at least
  cpu: 1.0, // dockhand / undici CPU per request, at most (ContainerInspect)
  bodyCpu: 1.05, // dockhand / undici CPU per request, at most (ContainerCreate, ContainerList)
  startup: 1.3, // dockhand / node:http spawn-to-exit, at most
};

// ---------------------------------------------------------------- preflight

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(1);
}

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Newest mtime under a directory (to tell whether dist/ is older than src/). */
function newest(dir) {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function checkBuild() {
  const esm = join(DIST, 'esm', 'index.js');
  const cjs = join(DIST, 'cjs', 'index.js');
  if (!existsSync(esm) || !existsSync(cjs)) {
    fail('dockhand is not built (no dist/esm/index.js or dist/cjs/index.js). Run `npm run build` in the repository root first.');
  }
  if (!existsSync(join(ROOT, 'node_modules', 'undici', 'package.json'))) {
    fail("dockhand's own dependencies are not installed (no node_modules/undici in the root). Run `npm install` in the repository root first.");
  }
  const src = join(ROOT, 'src');
  if (!process.env.DOCKHAND_DIST && existsSync(src) && newest(src) > statSync(esm).mtimeMs) {
    console.warn('bench: warning: src/ is newer than dist/: the figures are for the last build (run `npm run build` to refresh).');
  }
}

const BENCH_DEPS = ['undici', 'dockerode', '@docker/node-sdk'];

function installedVersion(dir, name) {
  const p = join(dir, 'node_modules', ...name.split('/'), 'package.json');
  return existsSync(p) ? readJson(p).version : undefined;
}

function ensureBenchDeps() {
  const missing = BENCH_DEPS.filter((d) => !installedVersion(BENCH, d));
  if (missing.length === 0) return;
  console.log(`bench: installing the bench's dependencies (missing: ${missing.join(', ')}): npm install --prefix bench --no-audit --no-fund`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', 'bench', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
  const still = BENCH_DEPS.filter((d) => !installedVersion(BENCH, d));
  if (r.status !== 0 || still.length) {
    fail(`could not install the bench's dependencies${r.error ? ` (${r.error.message})` : ''}. Run \`npm install --prefix bench --no-audit --no-fund\` in the repository root, then run the bench again.`);
  }
}

function checkUndiciPin() {
  const pinned = readJson(join(ROOT, 'package.json')).dependencies?.undici;
  const benchPinned = readJson(join(BENCH, 'package.json')).dependencies?.undici;
  const root = installedVersion(ROOT, 'undici');
  const bench = installedVersion(BENCH, 'undici');
  if (pinned !== benchPinned) console.warn(`bench: warning: bench/package.json pins undici ${benchPinned}, the root pins ${pinned}: keep them the same.`);
  if (root !== bench) console.warn(`bench: warning: undici installed: ${root} for dockhand, ${bench} for the raw baseline: the comparison is not like for like.`);
}

// ---------------------------------------------------------------- the engine, for setup and cleanup

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One request on the engine's socket over node:http, no keep-alive (setup and cleanup only). */
function engine(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = data === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) };
    const req = http.request({ socketPath: SOCKET, method, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = text;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode, headers: res.headers, json });
      });
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Waits until the engine answers /_ping (it may be restarting); returns its API version. */
async function waitForEngine(maxMs = 180_000) {
  const start = Date.now();
  let said = false;
  for (;;) {
    try {
      const r = await engine('GET', '/_ping');
      if (r.status === 200) {
        if (said) console.log(`bench: the engine answers again (after ${((Date.now() - start) / 1000).toFixed(1)} s)`);
        return String(r.headers['api-version']);
      }
    } catch {
      // not up (yet)
    }
    if (Date.now() - start > maxMs) fail(`the engine at ${SOCKET} did not answer /_ping within ${maxMs / 1000} s`);
    if (!said) {
      console.log(`bench: the engine at ${SOCKET} does not answer; waiting for it (up to ${maxMs / 1000} s)...`);
      said = true;
    }
    await sleep(1000);
  }
}

/** The container the request-path bench inspects: created (and removed) by the bench. */
class Target {
  id = undefined;
  name = undefined;
  image = undefined;
  created = false;
  note = '';

  constructor(version) {
    this.v = `/v${version}`;
  }

  async pickImage() {
    const own = await engine('GET', `${this.v}/images/${TEST_IMAGE}/json`);
    if (own.status === 200) return TEST_IMAGE;
    const list = await engine('GET', `${this.v}/images/json`);
    const images = Array.isArray(list.json) ? list.json : [];
    const tagged = images.flatMap((i) => i.RepoTags ?? []).find((t) => t && t !== '<none>:<none>');
    return tagged ?? images[0]?.Id;
  }

  async create() {
    this.image = await this.pickImage();
    if (!this.image) {
      // No image to create from: inspect an existing container instead (never removed by us).
      const list = await engine('GET', `${this.v}/containers/json?all=1`);
      const other = Array.isArray(list.json) ? list.json[0] : undefined;
      if (!other) return false;
      this.id = other.Id;
      this.note = `no image to create a container from: inspecting the existing container ${other.Id.slice(0, 12)} (left alone)`;
      return true;
    }
    const name = `dockhand-bench-${process.pid}-${Date.now().toString(36)}`;
    // Some of everything (bench/create-body.mjs), so that its inspect makes a realistic ContainerCreate body.
    const r = await engine('POST', `${this.v}/containers/create?name=${name}`, benchContainerSpec(this.image, { 'dockhand.bench': 'true' }));
    if (r.status !== 201) throw new Error(`creating the bench container from ${this.image} failed: ${r.status} ${JSON.stringify(r.json)}`);
    this.id = r.json.Id;
    this.name = name;
    this.created = true;
    if (this.image !== TEST_IMAGE) this.note = `${TEST_IMAGE} is missing: the container is made from ${this.image}`;
    return true;
  }

  /** After an engine restart: make sure the container is still there (re-create it if not). */
  async ensure() {
    const r = await engine('GET', `${this.v}/containers/${this.id}/json`);
    if (r.status === 200) return;
    if (r.status === 404 && this.created) {
      console.log('bench: the bench container is gone; creating it again');
      await this.create();
      return;
    }
    throw new Error(`inspecting the bench container: ${r.status} ${JSON.stringify(r.json)}`);
  }

  async remove() {
    if (!this.created || !this.id) return;
    const id = this.id;
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await engine('DELETE', `${this.v}/containers/${id}?force=1&v=1`);
        if (r.status === 204 || r.status === 404) {
          this.created = false;
          return;
        }
        throw new Error(`${r.status} ${JSON.stringify(r.json)}`);
      } catch (err) {
        if (attempt >= 3) {
          console.error(`bench: could not remove the bench container ${id.slice(0, 12)} (${err.message}); remove it with: docker rm -f ${id.slice(0, 12)}`);
          return;
        }
        await waitForEngine(60_000).catch(() => undefined);
      }
    }
  }
}

// ---------------------------------------------------------------- measuring

// A full GC before each measurement, so that one client's garbage is not charged to the next.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** n calls, `concurrency` in flight: requests/s and this process's CPU (user+system) µs/request. */
async function measure(call, id, n, concurrency) {
  gc();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  if (concurrency === 1) {
    for (let i = 0; i < n; i++) await call(id);
  } else {
    let started = 0;
    const worker = async () => {
      while (started < n) {
        started++;
        await call(id);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { rps: n / seconds, cpu: (cpu.user + cpu.system) / n };
}

async function makeClients(version) {
  const { Pool } = await import('undici');
  const { Docker } = await import(pathToFileURL(join(DIST, 'esm', 'index.js')).href);
  const { default: Dockerode } = await import('dockerode');
  const { DockerClient } = await import('@docker/node-sdk');
  const host = `unix://${SOCKET}`;

  const pool = new Pool('http://localhost', { socketPath: SOCKET });
  const prefix = `/v${version}/containers/`;
  const dockhand = new Docker({ host, env: {} });
  const dockhandNode = new Docker({ host, env: {}, transport: 'node' });
  const dockerode = new Dockerode({ socketPath: SOCKET });
  const sdk = await DockerClient.fromDockerHost(`unix:${SOCKET}`);

  return [
    {
      key: 'undici',
      name: `undici Pool ${installedVersion(BENCH, 'undici')} (baseline)`,
      call: async (id) => {
        const { statusCode, body } = await pool.request({ method: 'GET', path: `${prefix}${id}/json` });
        const json = await body.json();
        if (statusCode !== 200) throw new Error(`undici: ${statusCode} ${JSON.stringify(json)}`);
        return json;
      },
      close: () => pool.close(),
    },
    {
      key: 'dockhand',
      name: 'dockhand (auto: undici)',
      docker: dockhand,
      call: (id) => dockhand.containers.inspect(id),
      close: () => dockhand.close(),
    },
    {
      key: 'dockhand-node',
      name: 'dockhand (node:http) [info]',
      docker: dockhandNode,
      call: (id) => dockhandNode.containers.inspect(id),
      close: () => dockhandNode.close(),
    },
    {
      key: 'dockerode',
      name: `dockerode ${installedVersion(BENCH, 'dockerode')}`,
      call: (id) => dockerode.getContainer(id).inspect(),
      close: async () => undefined,
    },
    {
      key: 'node-sdk',
      name: `@docker/node-sdk ${installedVersion(BENCH, '@docker/node-sdk')}`,
      call: (id) => sdk.containerInspect(id),
      close: () => sdk.close(),
    },
  ];
}

/**
 * The ContainerCreate body an inspect of the bench container describes (the round trip of
 * test/engine/body-roundtrip.test.ts), and the ContainerList filter that finds only it.
 */
async function createBody(target, version) {
  const r = await engine('GET', `/v${version}/containers/${target.id}/json`);
  if (r.status !== 200) throw new Error(`inspecting the bench container: ${r.status}`);
  return createBodyOf(r.json);
}

/**
 * dockhand and the raw Pool on ContainerCreate (named like the bench container: the engine answers
 * 409 once dockhand has validated the whole body, so nothing piles up) and ContainerList.
 */
async function makeBodyClients(version, target, body) {
  const { Pool } = await import('undici');
  const { Docker } = await import(pathToFileURL(join(DIST, 'esm', 'index.js')).href);
  const pool = new Pool('http://localhost', { socketPath: SOCKET });
  const dockhand = new Docker({ host: `unix://${SOCKET}`, env: {} });
  await dockhand.apiVersion();
  const name = target.name;
  const filters = { label: ['dockhand.bench=true'] };
  // Both clients reject with an error carrying the engine's message and the status, and the bench
  // handles both rejections the same way (an earlier version had the raw client return its Error
  // instead: a rejection and its handler were dockhand's alone).
  const refused = (who, promise) =>
    promise.then(
      (res) => {
        throw new Error(`${who}: ContainerCreate was not refused as a name conflict: ${JSON.stringify(res).slice(0, 200)}`);
      },
      (err) => {
        if (err?.statusCode !== 409) throw err;
      },
    );
  const rawCreate = async () => {
    const { statusCode, body: res } = await pool.request({
      method: 'POST',
      path: `/v${version}/containers/create?name=${encodeURIComponent(name)}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (statusCode < 300) return json;
    // What any client does with an error answer: an Error carrying the engine's message (dockhand's is a ConflictError).
    throw Object.assign(new Error(json.message), { statusCode });
  };
  const raw = {
    create: () => refused('undici', rawCreate()),
    list: async () => {
      const { statusCode, body: res } = await pool.request({ method: 'GET', path: `/v${version}/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(filters))}` });
      const json = await res.json();
      if (statusCode !== 200 || json.length !== 1) throw new Error(`undici: ContainerList: ${statusCode} ${JSON.stringify(json).slice(0, 200)}`);
      return json;
    },
  };
  const mine = {
    create: () => refused('dockhand', dockhand.containers.create({ name, body })),
    list: async () => {
      const list = await dockhand.containers.list({ all: true, filters });
      if (list.length !== 1) throw new Error(`dockhand: ContainerList found ${list.length} containers`);
      return list;
    },
  };
  const pair = (op) => [
    { key: 'undici', name: `undici Pool ${installedVersion(BENCH, 'undici')} (baseline)`, call: raw[op] },
    { key: 'dockhand', name: 'dockhand (auto: undici)', docker: dockhand, call: mine[op] },
  ];
  return { create: pair('create'), list: pair('list'), close: () => Promise.allSettled([pool.close(), dockhand.close()]) };
}

/** Which transport a dockhand client serves requests on now (reads a private field: diagnostics only). */
function activeTransport(docker) {
  const t = docker?.requester?.transport;
  if (!t) return 'unknown';
  if ('active' in t) return t.active;
  return t.constructor?.name === 'NodeHttpTransport' ? 'node' : 'unknown';
}

async function warmUp(clients, target) {
  const dockhand = clients.find((c) => c.key === 'dockhand');
  await dockhand.docker.apiVersion();
  for (const c of clients) {
    const first = await c.call(target.id);
    if (first?.Id !== target.id) throw new Error(`${c.name}: ContainerInspect answered ${JSON.stringify(first).slice(0, 200)}`);
    await measure(c.call, target.id, WARMUP, 1);
    await measure(c.call, target.id, WARMUP, CONCURRENCY);
  }
  // The auto transport moves to undici (loaded in the background) after 16 requests.
  for (let i = 0; i < 50 && activeTransport(dockhand.docker) !== 'undici'; i++) {
    await sleep(20);
    await dockhand.call(target.id);
  }
  return activeTransport(dockhand.docker);
}

const describeError = (err) => `${err?.name ?? 'Error'}: ${err?.message || err?.statusCode || err?.code || String(err)}`;

/** Runs one measurement; if the engine went away (restart), waits for it and tries again. */
async function attempt(label, fn, target) {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= 3) {
        console.error(`bench: ${label}: failed ${i} times, skipping (${describeError(err)})`);
        return undefined;
      }
      console.log(`bench: ${label}: ${describeError(err)}; checking the engine and the container, then trying again`);
      await waitForEngine();
      await target.ensure().catch((e) => console.log(`bench: checking the container: ${describeError(e)}`));
    }
  }
}

async function requestScenario(clients, target, title, n, concurrency) {
  const results = new Map(clients.map((c) => [c.key, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // rotate the order every round so that no client always runs first or after the same one
    const order = clients.map((_, i) => clients[(i + round) % clients.length]);
    for (const c of order) {
      const r = await attempt(`${title}, ${c.name}, round ${round + 1}`, () => measure(c.call, target.id, n, concurrency), target);
      results.get(c.key)[round] = r; // undefined if it failed
    }
  }
  return results;
}

// ---------------------------------------------------------------- printing

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const verdict = (ok) => (ok ? 'met' : 'MISSED');
const misses = [];

function printRequestTable(title, clients, results, cpuTarget = TARGETS.cpu) {
  console.log(`\n${title}  (ratios: median over rounds of each round's ratio to undici)`);
  const header = `${pad('client', 34)}${lpad('req/s', 8)} ${pad(' (min-max)', 16)}${lpad('CPU us/req', 11)} ${pad(' (min-max)', 14)}${lpad('x undici req/s', 15)}${lpad('x undici CPU', 13)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  const base = results.get('undici');
  const ratios = {};
  for (const c of clients) {
    const all = results.get(c.key);
    const rs = all.filter(Boolean);
    const rps = rs.map((r) => r.rps);
    const cpu = rs.map((r) => r.cpu);
    const mRps = median(rps);
    const mCpu = median(cpu);
    // paired: each round's ratio to the baseline measured in the same round, then the median
    const paired = (field) => median(all.map((r, i) => (r && base[i] ? r[field] / base[i][field] : NaN)));
    ratios[c.key] = { rps: paired('rps'), cpu: paired('cpu') };
    const range = (xs, d) => (xs.length ? `(${fmt(Math.min(...xs), d)}-${fmt(Math.max(...xs), d)})` : '');
    console.log(
      `${pad(c.name, 34)}${lpad(fmt(mRps), 8)}  ${pad(range(rps, 0), 15)}${lpad(fmt(mCpu, 1), 11)}  ${pad(range(cpu, 1), 13)}${lpad(fmt(ratios[c.key].rps, 2), 15)}${lpad(fmt(ratios[c.key].cpu, 2), 13)}`,
    );
  }
  const d = ratios.dockhand;
  const okRps = d.rps >= TARGETS.throughput;
  const okCpu = d.cpu <= cpuTarget;
  console.log(`  dockhand/undici throughput ${fmt(d.rps, 3)} (target >= ${TARGETS.throughput}): ${verdict(okRps)}`);
  console.log(`  dockhand/undici CPU/request ${fmt(d.cpu, 3)} (target <= ${cpuTarget.toFixed(2)}): ${verdict(okCpu)}`);
  if (clients.length > 2) console.log(
    `  others vs undici, throughput / CPU: ${clients
      .filter((c) => !['undici', 'dockhand'].includes(c.key))
      .map((c) => `${c.key} ${fmt(ratios[c.key].rps, 2)} / ${fmt(ratios[c.key].cpu, 2)}`)
      .join(', ')}`,
  );
  if (!okRps) misses.push(`${title}: throughput ratio ${fmt(d.rps, 3)}`);
  if (!okCpu) misses.push(`${title}: CPU ratio ${fmt(d.cpu, 3)}`);
}

// ---------------------------------------------------------------- startup

const STARTUP = [
  { key: 'empty', name: 'node, empty script [info]', file: 'empty.mjs' },
  { key: 'node-http', name: 'node:http raw (baseline)', file: 'node-http.mjs' },
  { key: 'dockhand', name: 'dockhand ESM', file: 'dockhand-esm.mjs' },
  { key: 'dockhand-cjs', name: 'dockhand CJS', file: 'dockhand-cjs.cjs' },
  { key: 'undici', name: 'undici Pool raw', file: 'undici.mjs' },
  { key: 'dockerode', name: 'dockerode', file: 'dockerode.mjs' },
  { key: 'node-sdk', name: '@docker/node-sdk [info]', file: 'node-sdk.mjs' },
];

/** The line of a child's stderr that says what went wrong (its stack trace's headline). */
function firstError(stderr) {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^(\w*Error|Error)\b|^\w+Error:|ERR_/.test(l)) ?? lines.slice(-3).join(' | ');
}

/** Spawns `node file`, resolves with ms from spawn to exit (throws if it fails). */
function timeChild(file, env) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [join(BENCH, 'startup', file)], { cwd: BENCH, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(killer);
      if (code === 0) resolve(ms);
      else reject(new Error(`${file} exited with ${signal ?? code}: ${firstError(stderr)}`));
    });
  });
}

async function startupBench() {
  const env = { ...process.env, DOCKER_HOST: `unix://${SOCKET}`, BENCH_SOCKET: SOCKET };
  delete env.DOCKER_API_VERSION; // dockhand negotiates, as it does for a user without it
  delete env.NODE_OPTIONS;
  const times = new Map(STARTUP.map((s) => [s.key, []]));
  const run = async (s) => {
    for (let i = 1; ; i++) {
      try {
        return await timeChild(s.file, env);
      } catch (err) {
        if (i >= 3) {
          console.error(`bench: startup ${s.name}: ${err.message}`);
          return undefined;
        }
        await sleep(2000); // the engine restarting, or dist/ being rebuilt
        await waitForEngine();
      }
    }
  };
  // one unmeasured run each: file system cache, compile cache
  for (const s of STARTUP) await run(s);
  for (let i = 0; i < STARTUP_RUNS; i++) {
    for (let j = 0; j < STARTUP.length; j++) {
      const s = STARTUP[(i + j) % STARTUP.length];
      const ms = await run(s);
      if (ms !== undefined) times.get(s.key).push(ms);
    }
  }
  console.log(`\nStartup: spawn to exit of a process that pings the engine, ${STARTUP_RUNS} runs each, alternating (median)`);
  const header = `${pad('child (bench/startup/)', 42)}${lpad('median ms', 10)}${lpad('min', 8)}${lpad('max', 8)}${lpad('x node:http', 13)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  const base = median(times.get('node-http'));
  const ratio = {};
  for (const s of STARTUP) {
    const xs = times.get(s.key);
    const m = median(xs);
    ratio[s.key] = m / base;
    console.log(
      `${pad(`${s.name} (${s.file})`, 42)}${lpad(fmt(m, 1), 10)}${lpad(fmt(xs.length ? Math.min(...xs) : NaN, 1), 8)}${lpad(fmt(xs.length ? Math.max(...xs) : NaN, 1), 8)}${lpad(fmt(ratio[s.key], 2), 13)}`,
    );
  }
  const ok = ratio.dockhand <= TARGETS.startup;
  console.log(`  dockhand ESM/node:http ${fmt(ratio.dockhand, 3)} (target <= ${TARGETS.startup}): ${verdict(ok)}; dockhand CJS/node:http ${fmt(ratio['dockhand-cjs'], 3)}`);
  console.log(`  dockhand ESM minus node:http: ${fmt(median(times.get('dockhand')) - base, 1)} ms (dockhand sends 2 requests: /_ping to negotiate, then /v1.xx/_ping)`);
  if (!ok) misses.push(`startup: dockhand/node:http ${fmt(ratio.dockhand, 3)}`);
}

// ---------------------------------------------------------------- main

async function requestBench(version) {
  const target = new Target(version);
  let clients = [];
  const cleanup = async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await target.remove();
  };
  const onSignal = (sig) => {
    console.log(`\nbench: ${sig}: removing the bench container`);
    target.remove().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (!(await target.create())) {
      console.log(`\nRequest path: skipped: no image to create a container from and no container to inspect (\`npm run engine up\` imports ${TEST_IMAGE})`);
      return;
    }
    if (target.note) console.log(`bench: ${target.note}`);
    clients = await makeClients(version);
    const transport = await attempt('warm-up', () => warmUp(clients, target), target);
    console.log(`\nRequest path: ContainerInspect of one created container (image ${target.image ?? 'n/a'}), API ${version}, ${ROUNDS} rounds per client, interleaved; medians`);
    console.log(`dockhand (auto) is on: ${transport}${transport === 'undici' ? '' : '  <-- expected undici after the warm-up'}`);
    const seq = await requestScenario(clients, target, 'sequential', SEQ_N, 1);
    printRequestTable(`(a) sequential, N=${SEQ_N}`, clients, seq);
    const conc = await requestScenario(clients, target, 'concurrent', CONC_N, CONCURRENCY);
    printRequestTable(`(b) ${CONCURRENCY} in flight, N=${CONC_N}`, clients, conc);
    const after = activeTransport(clients.find((c) => c.key === 'dockhand').docker);
    if (after !== transport) console.log(`note: dockhand (auto) ended on ${after}`);
    await bodyBench(version, target);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** ContainerCreate with a full body, and ContainerList: dockhand against the raw Pool. */
async function bodyBench(version, target) {
  if (!target.created) {
    console.log('\nContainerCreate / ContainerList: skipped (the bench did not create its container)');
    return;
  }
  const body = await createBody(target, version);
  const pairs = await makeBodyClients(version, target, body);
  try {
    for (const [op, label] of [['create', `ContainerCreate, a ${JSON.stringify(body).length}-byte body (the bench container's inspect), answered 409`], ['list', 'ContainerList, all=1 and a label filter (one container)']]) {
      const clients = pairs[op];
      for (const c of clients) {
        await measure(c.call, target.id, WARMUP, 1);
        await measure(c.call, target.id, WARMUP, CONCURRENCY);
      }
      console.log(`\nRequest path: ${label}, API ${version}; dockhand on ${activeTransport(clients[1].docker)}`);
      printRequestTable(`(c) ${op} sequential, N=${SEQ_N}`, clients, await requestScenario(clients, target, `${op} sequential`, SEQ_N, 1), TARGETS.bodyCpu);
      printRequestTable(`(d) ${op} ${CONCURRENCY} in flight, N=${CONC_N}`, clients, await requestScenario(clients, target, `${op} concurrent`, CONC_N, CONCURRENCY), TARGETS.bodyCpu);
    }
  } finally {
    await pairs.close();
  }
}

async function main() {
  checkBuild();
  ensureBenchDeps();
  checkUndiciPin();
  const version = await waitForEngine();
  const engineVersion = (await engine('GET', '/version')).json;
  const dockhandVersion = readJson(join(ROOT, 'package.json')).version;
  const cpus = os.cpus();
  console.log(`dockhand ${dockhandVersion} bench: node ${process.version}, ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, engine ${engineVersion?.Version ?? '?'} (API ${version}) on ${SOCKET}${QUICK ? ' [--quick]' : ''}`);
  const load = os.loadavg()[0];
  if (load > Math.max(1, cpus.length / 2)) {
    console.log(`bench: warning: the machine is busy before the bench starts (load average ${load.toFixed(2)} on ${cpus.length} CPUs): the figures will be noisy`);
  }
  // dockhand negotiates min(engine, newest it knows): use the same version in the raw baseline's path.
  const { MAX_API_VERSION, compareVersions } = await import(pathToFileURL(join(DIST, 'esm', 'index.js')).href);
  const apiVersion = compareVersions(version, MAX_API_VERSION) > 0 ? MAX_API_VERSION : version;

  if (ONLY !== 'startup') await requestBench(apiVersion);
  if (ONLY !== 'request') await startupBench();

  console.log(misses.length ? `\nTargets missed: ${misses.join('; ')}` : '\nAll targets met.');
  if (STRICT && misses.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench: ${err?.stack ?? err}`);
  process.exitCode = 1;
});
