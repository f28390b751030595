#!/usr/bin/env node
/**
 * Where dockhand's CPU per request goes: runs one call N times (sequential, on undici after the auto
 * transport's switch) under `node --cpu-prof`, then prints the top self-time functions, overall and
 * in dockhand's own files, and the split by origin (dockhand, undici, node, GC).
 *
 *   node bench/profile.mjs [--op=inspect|create|list] [--n=20000] [--concurrency=1]
 *                          [--transport=auto|node|undici] [--raw]
 *
 * --op: ContainerInspect (default); ContainerCreate with the container's inspect fed back, named
 * like it so the engine answers 409 (as in run.mjs); ContainerList with a label filter that finds
 * only it. --raw profiles the raw undici Pool baseline instead, doing what run.mjs's baseline does.
 * Needs `npm run build` and a running engine; creates one labelled container and removes it. The
 * profile is written to a temporary directory and deleted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchContainerSpec, createBodyOf } from './create-body.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
const SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock';
const opt = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const N = Number(opt('n', 20000));
const CONCURRENCY = Number(opt('concurrency', 1));
const TRANSPORT = opt('transport', 'auto');
const RAW = process.argv.includes('--raw');
const OP = opt('op', 'inspect');
if (!['inspect', 'create', 'list'].includes(OP)) throw new Error('profile: --op must be inspect, create or list');

function engine(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = data === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) };
    const req = http.request({ socketPath: SOCKET, method, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, json: chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function child(id) {
  const run = async (call) => {
    for (let i = 0; i < 500; i++) await call(id); // warm-up (and the auto transport's switch)
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 500; i++) await call(id);
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    let started = 0;
    const worker = async () => {
      while (started < N) {
        started++;
        await call(id);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const t1 = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpu0);
    const s = Number(t1 - t0) / 1e9;
    // the measured window, in the profile's clock (µs, monotonic), so that warm-up is left out
    writeFileSync(join(process.env.PROFILE_DIR, 'window.json'), JSON.stringify({ start: Number(t0 / 1000n), end: Number(t1 / 1000n) }));
    console.log(`${N} requests, ${CONCURRENCY} in flight: ${(N / s).toFixed(0)} req/s, ${((cpu.user + cpu.system) / N).toFixed(1)} CPU us/req`);
  };
  const { name, body, label } = JSON.parse(process.env.PROFILE_TARGET);
  const filters = { label: [label] };
  // as in run.mjs: both clients reject on the 409, and the rejection is handled the same way
  const refused = () => {
    throw new Error('ContainerCreate was not refused');
  };
  const expect409 = (err) => {
    if (err?.statusCode !== 409) throw err;
  };
  if (RAW) {
    const { Pool } = await import('undici');
    const pool = new Pool('http://localhost', { socketPath: SOCKET });
    // what run.mjs's baseline does for each call
    const calls = {
      inspect: async (i) => {
        const { body: res } = await pool.request({ method: 'GET', path: `/v1.41/containers/${i}/json` });
        return res.json();
      },
      create: () =>
        (async () => {
          const { statusCode, body: res } = await pool.request({
            method: 'POST',
            path: `/v1.41/containers/create?name=${encodeURIComponent(name)}`,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          const json = await res.json();
          if (statusCode < 300) return json;
          throw Object.assign(new Error(json.message), { statusCode });
        })().then(refused, expect409),
      list: async () => {
        const { body: res } = await pool.request({ method: 'GET', path: `/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(filters))}` });
        return res.json();
      },
    };
    await run(calls[OP]);
    await pool.close();
  } else {
    const { Docker } = await import(pathToFileURL(join(ROOT, 'dist', 'esm', 'index.js')).href);
    const docker = new Docker({ host: `unix://${SOCKET}`, env: {}, transport: TRANSPORT });
    await docker.apiVersion();
    const calls = {
      inspect: (i) => docker.containers.inspect(i),
      create: () => docker.containers.create({ name, body }).then(refused, expect409),
      list: () => docker.containers.list({ all: true, filters }),
    };
    await run(calls[OP]);
    console.log(`dockhand transport: ${docker.requester?.transport?.active ?? TRANSPORT}`);
    await docker.close();
  }
}

function summarize(file, window) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  // a sample's weight is the time until the next sample; only samples inside the measured window count
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += dt[i] ?? 0;
    const weight = dt[i + 1] ?? 0;
    if (t < window.start || t > window.end) continue;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + weight);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map();
  const origins = new Map();
  const rootUrl = pathToFileURL(ROOT).href;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const where = url.startsWith(rootUrl) ? url.slice(rootUrl.length + 1) : url.replace(/^.*node_modules\//, '');
    const key = `${functionName || '(anonymous)'}  ${where ? `${where}:${lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const origin = url.includes('/dist/') && url.startsWith(rootUrl) ? 'dockhand (dist/)'
      : url.includes('node_modules/undici') ? 'undici'
      : url.startsWith('node:') ? 'node internals (JS)'
      : functionName === '(garbage collector)' ? 'garbage collector'
      : functionName === '(idle)' ? 'idle (waiting on the engine)'
      : functionName === '(program)' ? 'program (native, outside JS)'
      : url ? 'other JS' : `native: ${functionName}`;
    origins.set(origin, (origins.get(origin) ?? 0) + us);
  }
  const busy = total - (origins.get('idle (waiting on the engine)') ?? 0);
  const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)}% ${(us / N).toFixed(2).padStart(7)} us/req`;
  console.log(`\nMeasured window only: ${(busy / N).toFixed(1)} us/req of samples on the main thread (not idle)`);
  console.log('\nSelf time by origin (% of non-idle samples, and per request):');
  for (const [k, us] of [...origins].sort((a, b) => b[1] - a[1])) if (!k.startsWith('idle') && us / N >= 0.05) console.log(`  ${pct(us)}  ${k}`);
  console.log('\nTop 25 self-time functions:');
  for (const [k, us] of [...fns].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(us)}  ${k}`);
  console.log("\nTop self-time functions in dockhand's files:");
  const own = [...fns].filter(([k]) => k.includes(' dist/')).sort((a, b) => b[1] - a[1]).slice(0, 15);
  for (const [k, us] of own) console.log(`  ${pct(us)}  ${k}`);
  // inclusive: each sample counts once for every dockhand function on its stack (self + callees)
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const { functionName, url, lineNumber } = byId.get(n).callFrame;
      if (!url.startsWith(rootUrl) || !url.includes('/dist/')) continue;
      const key = `${functionName || '(anonymous)'}  ${url.slice(rootUrl.length + 1)}:${lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + us);
    }
  }
  console.log("\nTop inclusive-time functions in dockhand's files (self + what they call):");
  for (const [k, us] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(us)}  ${k}`);
}

const childId = opt('child', undefined);
if (childId) {
  await child(childId);
} else {
  const version = '1.41';
  const image = (await engine('GET', `/v${version}/images/dockhand-test/busybox:latest/json`)).status === 200 ? 'dockhand-test/busybox:latest' : undefined;
  if (!image) throw new Error('profile: needs the image dockhand-test/busybox:latest (npm run engine up)');
  const name = `dockhand-profile-${process.pid}`;
  const label = `dockhand.profile=${process.pid}`;
  // the same container as run.mjs's (bench/create-body.mjs), so that its inspect is a realistic body
  const created = await engine('POST', `/v${version}/containers/create?name=${name}`, benchContainerSpec(image, { 'dockhand.profile': String(process.pid) }));
  if (created.status !== 201) throw new Error(`profile: create failed: ${JSON.stringify(created.json)}`);
  const c = (await engine('GET', `/v${version}/containers/${created.json.Id}/json`)).json;
  const body = createBodyOf(c);
  const dir = mkdtempSync(join(os.tmpdir(), 'dockhand-prof-'));
  try {
    const args = ['--cpu-prof', '--cpu-prof-dir', dir, fileURLToPath(import.meta.url), `--child=${created.json.Id}`, ...process.argv.slice(2)];
    const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: BENCH, env: { ...process.env, PROFILE_DIR: dir, PROFILE_TARGET: JSON.stringify({ name, body, label }) } });
    if (r.status !== 0) throw new Error(`profile: the profiled run failed (${r.status})`);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    summarize(join(dir, file), JSON.parse(readFileSync(join(dir, 'window.json'), 'utf8')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await engine('DELETE', `/v${version}/containers/${created.json.Id}?force=1`);
  }
}
