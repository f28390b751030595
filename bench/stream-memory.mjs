#!/usr/bin/env node
/**
 * Memory while streaming about 1 GiB through dockhand, against the local engine:
 *
 *   logs    a container (label dockhand.test=true) runs `yes <line> | head -c <bytes>` and exits;
 *           then `for await (const f of docker.containers.logs(id))` counts the bytes
 *   export  a container writes a 1 GiB file (`dd if=/dev/zero of=/big bs=1M count=1024`) and exits;
 *           then `docker.containers.export(id)` is piped to a Writable that counts bytes
 *   exec    in a running container, `docker.exec.create` + `docker.exec.start(id, { Tty: false })`
 *           of `yes <line> | head -c <bytes>`; `session.output` is iterated, counting bytes
 *
 * Each case runs in a fresh child process (node --expose-gc), so that one case's freed memory
 * cannot hide the next one's growth. The child prepares its container, forces a GC, takes the
 * baseline RSS, then streams while sampling process.memoryUsage() every 100 ms. Reported: baseline
 * RSS, max RSS, growth (max - baseline), MiB/s of the streaming phase, and the byte count, which
 * must be exact. Target: growth < 32 MB (32,000,000 bytes) in every case.
 *
 * About the logs case: dockerd 20.10 writes and flushes one HTTP chunk per log line, and stores one
 * JSON record per line. With the 37-byte lines of `yes 0123456789abcdefghijklmnopqrstuvwxyz`, a
 * GiB is 29 million records: on a 2-core machine that takes the engine several minutes to write
 * and again to serve, whatever the client. So by default the logs case prints 1 GiB of 1 KiB lines
 * (1 million records, the same alphabet repeated); `--logs-line=37` gives the 37-byte lines, and
 * `--logs-mib=N` a smaller volume (e.g. `--logs-line=37 --logs-mib=128`).
 *
 *   node bench/stream-memory.mjs [--strict] [--only=logs,export,exec] [--mib=1024]
 *                                [--logs-mib=N] [--logs-line=1024]
 *
 * Every container is removed in a finally block and on SIGINT/SIGTERM (with its log file: the
 * bench checks the file is gone). The engine suite sweeps `dockhand.test` containers; if that
 * removes a container mid-case, the case is run again (twice at most).
 *
 * Prints figures and exits 0; with --strict, exits 1 if a target is missed or a case fails.
 * Imports dockhand as built: ../dist/esm (run `npm run build` in the root first).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
const DIST = process.env.DOCKHAND_DIST ?? join(BENCH, '..', 'dist', 'esm');
const IMAGE = 'dockhand-test/busybox:latest';
const TARGET_GROWTH = 32_000_000; // bytes
const MiB = 1024 * 1024;
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const CASES = ['logs', 'export', 'export-raw', 'exec'];
const SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock';
const VANISHED = 75; // child exit code: the container was removed under us (a sweep): run again

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name, fallback) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
const fmt = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const mib = (bytes) => `${fmt(bytes / MiB, 1)} MiB`;

// ================================================================= child: one case

if (option('child', undefined)) await child(option('child'));
else await parent();

async function child(name) {
  const bytes = Number(option('bytes'));
  const line = Number(option('line', '37'));
  const runLabel = option('run');
  const testLabel = option('test-label', '1') === '1';
  const transport = option('transport', 'auto');
  const gcEvery = Number(option('gc-every', '0')) * MiB; // diagnostic: gc() every N bytes streamed
  let nextGc = gcEvery || Infinity;
  /** Counts streamed bytes; with --gc-every, forces a GC at every step (to tell garbage from retention). */
  let streamed = 0;
  const tally = (n) => {
    streamed += n;
    if (streamed >= nextGc) {
      globalThis.gc();
      nextGc += gcEvery;
    }
  };
  if (typeof globalThis.gc !== 'function') throw new Error('the child needs --expose-gc');
  const { Docker, NotFoundError } = await import(pathToFileURL(join(DIST, 'index.js')).href);
  const docker = new Docker({ transport });
  const labels = { ...(testLabel ? { 'dockhand.test': 'true' } : {}), 'dockhand.bench': 'stream-memory', 'dockhand.bench.run': runLabel };
  const created = new Map(); // id -> log path
  let vanished = false;

  /** Whether the container is gone or going (removed by someone else, e.g. the engine suite's sweep). */
  async function gone(id) {
    try {
      const info = await docker.containers.inspect(id);
      return info.State?.Status === 'removing' || info.State?.Status === 'dead';
    } catch (err) {
      return err instanceof NotFoundError;
    }
  }
  async function removeAll() {
    for (const [id, known] of created) {
      created.delete(id);
      // LogPath is set when the container starts: read it now (the engine may already have removed it).
      const info = await docker.containers.inspect(id).catch(() => undefined);
      const logPath = info?.LogPath || known;
      await docker.containers.remove(id, { force: true, v: true }).catch((err) => {
        // 404: already removed; 409 "removal already in progress": someone else's sweep, waited for below
        if (!(err instanceof NotFoundError) && !/already in progress/.test(err.message)) {
          console.error(`  could not remove container ${id.slice(0, 12)}: ${err.message}`);
        }
      });
      for (let i = 0; i < 300; i++) {
        if (await docker.containers.inspect(id).then(() => false, (err) => err instanceof NotFoundError)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (!logPath) continue;
      const dir = dirname(logPath);
      if (existsSync(logPath) || existsSync(dir)) console.error(`  WARNING: still present after removal: ${existsSync(logPath) ? logPath : dir}`);
      else report({ logFileRemoved: logPath });
    }
  }
  let stopping = false;
  const onSignal = (signal) => {
    if (stopping) return;
    stopping = true;
    console.error(`  ${name}: ${signal}, removing containers`);
    removeAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  async function create(cmd) {
    const res = await docker.containers.create({ body: { Image: IMAGE, Cmd: cmd, Labels: labels } });
    created.set(res.Id, undefined);
    return res.Id;
  }
  async function runToCompletion(cmd) {
    const id = await create(cmd);
    const t0 = performance.now();
    await docker.containers.start(id);
    const { StatusCode } = await docker.containers.wait(id);
    if (StatusCode !== 0) {
      if (StatusCode === 137 || (await gone(id))) vanished = true;
      throw new Error(`container exited with ${StatusCode}${vanished ? ' (killed or removed by someone else)' : ''}`);
    }
    return { id, seconds: (performance.now() - t0) / 1000 };
  }
  const producer = (n) => ['sh', '-c', 'yes "$0" | head -c "$1"', ALPHABET.repeat(Math.ceil(line / ALPHABET.length)).slice(0, line - 1), String(n)];

  /** Samples RSS and heap every 100 ms around `stream()`, after a GC and a baseline. */
  async function measured(stream) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 50));
    globalThis.gc();
    const base = process.memoryUsage();
    const max = { rss: base.rss, heapUsed: base.heapUsed, external: base.external, arrayBuffers: base.arrayBuffers };
    let samples = 0;
    const sample = () => {
      samples++;
      const m = process.memoryUsage();
      for (const k of Object.keys(max)) if (m[k] > max[k]) max[k] = m[k];
    };
    const timer = setInterval(sample, 100);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    try {
      const counted = await stream();
      sample();
      const seconds = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      return { ...counted, seconds, cpuSeconds: (c.user + c.system) / 1e6, base, max, samples };
    } finally {
      clearInterval(timer);
    }
  }

  const t0 = performance.now();
  try {
    let setup;
    let result;
    if (name === 'logs') {
      setup = await runToCompletion(producer(bytes));
      const id = setup.id;
      result = await measured(async () => {
        let stdout = 0;
        let stderr = 0;
        let frames = 0;
        for await (const f of docker.containers.logs(id)) {
          frames++;
          tally(f.data.length);
          if (f.stream === 'stderr') stderr += f.data.length;
          else stdout += f.data.length;
        }
        return { stdout, stderr, frames, expect: bytes };
      });
      if ((result.stdout !== bytes || result.stderr !== 0) && (await gone(id))) vanished = true;
    } else if (name === 'export' || name === 'export-raw') {
      setup = await runToCompletion(['dd', 'if=/dev/zero', 'of=/big', 'bs=1M', `count=${Math.round(bytes / MiB)}`]);
      const id = setup.id;
      const path = `/v${await docker.apiVersion()}/containers/${id}/export`;
      result = await measured(async () => {
        let total = 0;
        // export-raw, for information: the same bytes through plain node:http, no dockhand.
        const body =
          name === 'export'
            ? await docker.containers.export(id)
            : await new Promise((resolve, reject) => {
                http
                  .get({ socketPath: SOCKET, path }, (res) => {
                    if (res.statusCode === 200) return resolve(res);
                    res.resume();
                    reject(new Error(`GET ${path}: HTTP ${res.statusCode}`));
                  })
                  .on('error', reject);
              });
        await pipeline(
          body,
          new Writable({
            write(chunk, _enc, cb) {
              total += chunk.length;
              tally(chunk.length);
              cb();
            },
          }),
        );
        // The tarball: the busybox rootfs (about 2 MiB), the file, and the tar headers.
        return { stdout: total, stderr: 0, expect: Math.round(bytes / MiB) * MiB, atLeast: true };
      });
    } else if (name === 'exec') {
      const s0 = performance.now();
      const id = await create(['sleep', '3600']);
      await docker.containers.start(id);
      const exec = await docker.exec.create(id, { execConfig: { Cmd: producer(bytes), AttachStdout: true } });
      setup = { id, seconds: (performance.now() - s0) / 1000 };
      result = await measured(async () => {
        let stdout = 0;
        let stderr = 0;
        let frames = 0;
        const session = await docker.exec.start(exec.Id, { Tty: false });
        for await (const f of session.output) {
          frames++;
          tally(f.data.length);
          if (f.stream === 'stderr') stderr += f.data.length;
          else stdout += f.data.length;
        }
        return { stdout, stderr, frames, expect: bytes };
      });
      const info = await docker.exec.inspect(exec.Id).catch(() => undefined);
      result.exitCode = info?.ExitCode;
      if (result.stdout !== bytes && (result.exitCode === 137 || (await gone(id)))) vanished = true;
    } else {
      throw new Error(`unknown case ${name}`);
    }
    const short = result.atLeast ? result.stdout < result.expect : result.stdout !== result.expect;
    if (short && !vanished) for (const id of created.keys()) if (await gone(id)) vanished = true;
    if (vanished) console.error(`  ${name}: stream ended early (${result.stdout} bytes${result.exitCode !== undefined ? `, exec exit code ${result.exitCode}` : ''}): the container was killed or removed`);
    else report({ case: name, setupSeconds: setup.seconds, ...result, totalSeconds: (performance.now() - t0) / 1000 });
  } catch (err) {
    if (!vanished && created.size > 0) {
      for (const id of created.keys()) if (await gone(id)) vanished = true;
    }
    if (stopping) return; // interrupted: the signal handler removes the containers and exits
    console.error(`  ${name}: ${err?.stack ?? err}`);
    process.exitCode = vanished ? VANISHED : 1;
  } finally {
    await removeAll();
    await docker.close();
  }
  if (vanished) process.exitCode = VANISHED;
}

/** The child reports to the parent as JSON lines on stdout. */
function report(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

// ================================================================= parent

async function parent() {
  if (flag('help') || flag('h')) {
    console.log(
      'usage: node bench/stream-memory.mjs [--strict] [--only=logs,export,exec] [--mib=1024] [--logs-mib=N] [--logs-line=1024]\n' +
        '                                    [--transport=auto|node|undici] [--gc-every=MiB] [--no-test-label]',
    );
    process.exit(0);
  }
  for (const a of argv) {
    if (!/^--(strict|help|h|no-test-label|only=[a-z,-]+|mib=\d+|logs-mib=\d+|logs-line=\d+|gc-every=\d+|transport=(auto|node|undici))$/.test(a)) {
      console.error(`stream-memory bench: unknown argument ${a} (try --help)`);
      process.exit(2);
    }
  }
  if (!existsSync(join(DIST, 'index.js'))) {
    console.error(`stream-memory bench: ${join(DIST, 'index.js')} is missing: run \`npm run build\` in the repository root`);
    process.exit(1);
  }
  const STRICT = flag('strict');
  const only = option('only', CASES.join(',')).split(',');
  for (const c of only) {
    if (!CASES.includes(c)) {
      console.error(`stream-memory bench: --only takes ${CASES.join(', ')}`);
      process.exit(2);
    }
  }
  const total = Number(option('mib', '1024')) * MiB;
  const logsBytes = Number(option('logs-mib', String(total / MiB))) * MiB;
  const logsLine = Number(option('logs-line', '1024'));
  if (logsLine < 2) {
    console.error('stream-memory bench: --logs-line must be at least 2 (the newline included)');
    process.exit(2);
  }
  const run = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const extra = [`--transport=${option('transport', 'auto')}`, `--gc-every=${option('gc-every', '0')}`, `--test-label=${flag('no-test-label') ? 0 : 1}`];
  const started = performance.now();

  const { Docker } = await import(pathToFileURL(join(DIST, 'index.js')).href);
  const docker = new Docker();
  const version = await docker.system.version();
  console.log(
    `stream-memory bench: node ${process.version}, engine ${version.Version} (API ${await docker.apiVersion()}), ` +
      `dockhand from ${DIST}; target: RSS growth < 32 MB (${mib(TARGET_GROWTH)}) per case`,
  );
  console.log(
    `transport ${option('transport', 'auto')}${option('gc-every', '0') !== '0' ? `; DIAGNOSTIC: gc() every ${option('gc-every')} MiB streamed` : ''}; ` +
      `labels ${flag('no-test-label') ? '' : 'dockhand.test=true, '}dockhand.bench=stream-memory, dockhand.bench.run=${run}`,
  );

  let current;
  const forward = (signal) => {
    if (current && current.exitCode === null) current.kill(signal);
  };
  process.on('SIGINT', () => forward('SIGINT'));
  process.on('SIGTERM', () => forward('SIGTERM'));

  const rows = [];
  let failed = false;
  let interrupted = false;
  try {
    for (const name of only) {
      const bytes = name === 'logs' ? logsBytes : total;
      const line = name === 'logs' ? logsLine : 37;
      const what =
        name === 'logs'
          ? `logs of \`yes <${line - 1} chars> | head -c ${bytes}\` (${fmt(Math.ceil(bytes / line))} lines of ${line} bytes)`
          : name === 'export'
            ? `export of a container holding a ${mib(bytes)} file (dd from /dev/zero)`
            : name === 'export-raw'
              ? `for information, no dockhand: the same export read with plain node:http.get into the same counter`
            : `exec output of \`yes ${ALPHABET} | head -c ${bytes}\``;
      console.log(`\n${name}: ${what}`);
      let result;
      for (let attempt = 1; attempt <= 3 && !result; attempt++) {
        const { code, lines } = await runChild(name, bytes, line, run, extra, (c) => (current = c));
        for (const l of lines) if (l.logFileRemoved) console.log(`  container removed; its log file and directory are gone: ${l.logFileRemoved}`);
        result = lines.find((l) => l.case === name);
        if (code === 130) {
          interrupted = true;
          break;
        }
        if (code === VANISHED && attempt < 3) {
          console.log(
            `  the container was killed or removed by someone else (the engine suite sweeps dockhand.test containers; ` +
              `--no-test-label avoids that): running the case again`,
          );
          result = undefined;
          continue;
        }
        if (code !== 0 || !result) {
          console.log(`  FAILED (child exit code ${code})`);
          failed = true;
          result = undefined;
          break;
        }
      }
      if (interrupted) break;
      if (!result) continue;
      const r = result;
      const growth = r.max.rss - r.base.rss;
      const exact = r.atLeast ? r.stdout >= r.expect && r.stdout < r.expect + 64 * MiB : r.stdout === r.expect && r.stderr === 0;
      const info = name === 'export-raw'; // a baseline: no target
      const ok = info ? null : growth < TARGET_GROWTH;
      console.log(`  setup ${fmt(r.setupSeconds, 1)} s (container run to completion or started), streaming ${fmt(r.seconds, 1)} s, case total ${fmt(r.totalSeconds, 1)} s`);
      console.log(
        `  bytes: ${fmt(r.stdout)} stdout, ${fmt(r.stderr)} stderr${r.frames !== undefined ? `, ${fmt(r.frames)} frames` : ''}` +
          `${r.exitCode !== undefined ? `, exec exit code ${r.exitCode}` : ''}; expected ${r.atLeast ? 'at least ' : ''}${fmt(r.expect)}: ${exact ? 'ok' : 'WRONG'}`,
      );
      console.log(
        `  RSS baseline ${mib(r.base.rss)}, max ${mib(r.max.rss)}, growth ${mib(growth)} (${fmt(growth / 1e6, 1)} MB): ${info ? 'baseline, no target' : ok ? 'met' : 'MISSED'}` +
          ` | heapUsed ${mib(r.base.heapUsed)} -> max ${mib(r.max.heapUsed)}, arrayBuffers ${mib(r.base.arrayBuffers)} -> max ${mib(r.max.arrayBuffers)}` +
          ` | ${fmt(r.samples)} samples`,
      );
      console.log(`  throughput ${fmt(r.stdout / MiB / r.seconds, 1)} MiB/s; client CPU ${fmt(r.cpuSeconds, 1)} s (${fmt((r.cpuSeconds * 1000 * 1024 * MiB) / Math.max(r.stdout, 1))} ms per GiB)`);
      if (!exact) failed = true;
      rows.push({ name, growth, ok, mibs: r.stdout / MiB / r.seconds, seconds: r.totalSeconds });
    }
  } finally {
    // Anything a child left behind (killed before its finally block): remove it here.
    const left = await docker.containers.list({ all: true, filters: { label: [`dockhand.bench.run=${run}`] } }).catch(() => []);
    for (const c of left) {
      console.log(`  removing leftover container ${c.Id.slice(0, 12)}`);
      await docker.containers.remove(c.Id, { force: true, v: true }).catch(() => undefined);
    }
    await docker.close();
  }
  if (interrupted) {
    console.log('interrupted');
    process.exit(130);
  }

  console.log('\nsummary (target: RSS growth < 32 MB):');
  for (const r of rows) {
    const verdict = r.ok === null ? 'info  ' : r.ok ? 'met   ' : 'MISSED';
    console.log(`  ${r.name.padEnd(10)} growth ${mib(r.growth).padStart(10)}  ${verdict}  ${fmt(r.mibs, 1).padStart(7)} MiB/s  ${fmt(r.seconds, 1).padStart(6)} s`);
  }
  const ex = rows.find((r) => r.name === 'export');
  const raw = rows.find((r) => r.name === 'export-raw');
  if (ex && raw) {
    console.log(`  export through dockhand vs plain node:http: ${ex.growth >= raw.growth ? '+' : ''}${mib(ex.growth - raw.growth)} of RSS growth`);
  }
  console.log(`took ${fmt((performance.now() - started) / 1000, 1)} s`);
  const missed = rows.some((r) => r.ok === false) || failed || rows.length < only.length;
  process.exit(STRICT && missed ? 1 : 0);
}

function runChild(name, bytes, line, run, extra, onSpawn) {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', fileURLToPath(import.meta.url), `--child=${name}`, `--bytes=${bytes}`, `--line=${line}`, `--run=${run}`, ...extra];
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    c.stderr.setEncoding('utf8');
    c.stderr.on('data', (d) => process.stdout.write(d.replace(/^(?=.)/gm, '  | ')));
    onSpawn(c);
    let out = '';
    c.stdout.setEncoding('utf8');
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', (code, signal) => {
      const lines = [];
      for (const l of out.split('\n')) {
        if (!l.trim()) continue;
        try {
          lines.push(JSON.parse(l));
        } catch {
          console.log(`  ${l}`);
        }
      }
      resolve({ code: code ?? (signal ? 130 : 1), lines });
    });
  });
}
