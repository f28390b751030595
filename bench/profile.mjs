#!/usr/bin/env node
/**
 * Where dockhand's CPU per request goes: runs ContainerInspect N times (sequential, on undici after
 * the auto transport's switch) under `node --cpu-prof`, then prints the top self-time functions,
 * overall and in dockhand's own files, and the split by origin (dockhand, undici, node, GC).
 *
 *   node bench/profile.mjs [--n=20000] [--concurrency=1] [--transport=auto|node|undici] [--raw]
 *
 * --raw profiles the raw undici Pool baseline instead, for comparison. Needs `npm run build` and a
 * running engine; creates one labelled container and removes it. The profile is written to a
 * temporary directory and deleted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
const SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock';
const opt = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const N = Number(opt('n', 20000));
const CONCURRENCY = Number(opt('concurrency', 1));
const TRANSPORT = opt('transport', 'auto');
const RAW = process.argv.includes('--raw');

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
  if (RAW) {
    const { Pool } = await import('undici');
    const pool = new Pool('http://localhost', { socketPath: SOCKET });
    await run(async (i) => {
      const { body } = await pool.request({ method: 'GET', path: `/v1.41/containers/${i}/json` });
      return body.json();
    });
    await pool.close();
  } else {
    const { Docker } = await import(pathToFileURL(join(ROOT, 'dist', 'esm', 'index.js')).href);
    const docker = new Docker({ host: `unix://${SOCKET}`, env: {}, transport: TRANSPORT });
    await docker.apiVersion();
    await run((i) => docker.containers.inspect(i));
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
}

const childId = opt('child', undefined);
if (childId) {
  await child(childId);
} else {
  const version = '1.41';
  const image = (await engine('GET', `/v${version}/images/dockhand-test/busybox:latest/json`)).status === 200 ? 'dockhand-test/busybox:latest' : undefined;
  if (!image) throw new Error('profile: needs the image dockhand-test/busybox:latest (npm run engine up)');
  const created = await engine('POST', `/v${version}/containers/create?name=dockhand-profile-${process.pid}`, { Image: image, Cmd: ['true'], Labels: { 'dockhand.test': 'true' } });
  if (created.status !== 201) throw new Error(`profile: create failed: ${JSON.stringify(created.json)}`);
  const dir = mkdtempSync(join(os.tmpdir(), 'dockhand-prof-'));
  try {
    const args = ['--cpu-prof', '--cpu-prof-dir', dir, fileURLToPath(import.meta.url), `--child=${created.json.Id}`, ...process.argv.slice(2)];
    const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: BENCH, env: { ...process.env, PROFILE_DIR: dir } });
    if (r.status !== 0) throw new Error(`profile: the profiled run failed (${r.status})`);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    summarize(join(dir, file), JSON.parse(readFileSync(join(dir, 'window.json'), 'utf8')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await engine('DELETE', `/v${version}/containers/${created.json.Id}?force=1`);
  }
}
