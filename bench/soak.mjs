#!/usr/bin/env node
/**
 * Soak: mixed calls and streams on ONE client against the local engine for a long time (default
 * 10 minutes), checking that memory, file descriptors and sockets stay flat.
 *
 * Workload, all at once, on one `new Docker({ transport, maxConnections })`:
 *   calls    N workers (--calls, default 24) looping ordinary calls: ping, inspect, image list,
 *            container list; more workers than connections (--max-connections, default 16), so
 *            the connection limit's queue is in use the whole time
 *   logs     workers (--logs, default 8) that follow the logs of a container printing a line
 *            every 100 ms, for 0.5 to 3 s, then stop: two times in three by breaking out of the
 *            loop, one in three through an AbortSignal (the loop then rejects with ABORTED)
 *   events   one followed events stream open the whole run, and a worker reading bounded event
 *            windows (`since`/`until`, ends by itself)
 *   exec     workers (--execs, default 2) running the exec helper with stdin
 *            (`cat; echo done >&2`: stdout must echo stdin, stderr `done`, exit code 0)
 *   copy     workers (--copies, default 1) copying a small local folder into the container
 *            (copyTo) and back (copyFrom) and comparing every file
 *
 * Every --interval seconds (default 5; for runs shorter than 150 s, 1/30 of the run) the workers pause at their next step and the bench waits
 * until all of them are idle (only the long-lived events stream stays open), forces a GC, and
 * samples RSS, heapUsed, file descriptors and sockets (/proc/self/fd), so a sample counts what the
 * client keeps (pooled keep-alive connections) plus anything leaked, not what happens to be in
 * flight. Then the workers go on. Each sample is printed as a table row.
 *
 * Flat means, over the last 2/3 of the run (the first third is the warm-up), against the first
 * sample of that window:
 *   RSS growth (max - start)       < 32 MB
 *   heapUsed growth (max - start)  < 32 MB   (after a forced GC)
 *   fds and sockets growth         <= 0      (max of the last 2/3 vs max of the first 1/3)
 * A quiet client's descriptor count still varies by a connection or two between samples: a stream
 * that ended normally (an archive, an event window) leaves its keep-alive connection in the pool
 * until a later stream takes it. Hence max against max, over many samples (~30 or more): the
 * warm-up reaches that ceiling, and a leak goes past it.
 * and, after `close()`: the followed events loop rejected with CLOSED and the process has no more
 * file descriptors than before the client was made. Any failed call, wrong output or stream error
 * other than the expected ones is counted and also fails the run.
 *
 *   node bench/soak.mjs [--seconds=600] [--interval=5] [--transport=auto|node|undici]
 *                       [--calls=24] [--max-connections=16] [--logs=8] [--execs=2] [--copies=1]
 *                       [--no-test-label]
 *   SOAK_SECONDS=60 node bench/soak.mjs
 *
 * Exits 0 when flat and error-free, 1 when not, 2 on bad arguments or a missing build.
 * Imports dockhand as built: ../dist/esm (run `npm run build` in the root first), or the folder
 * in DOCKHAND_DIST. The containers carry the labels dockhand.bench=soak and dockhand.bench.run
 * (and dockhand.test=true unless --no-test-label: the engine suite sweeps test containers older
 * than 30 minutes, so give --no-test-label for longer soaks while the suite may run) and are
 * removed at the end, on an error and on Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

const BENCH = dirname(fileURLToPath(import.meta.url));
const DIST = process.env.DOCKHAND_DIST ?? join(BENCH, '..', 'dist', 'esm');
const IMAGE = 'dockhand-test/busybox:latest';
const GROWTH_LIMIT = 32_000_000; // bytes, RSS and heapUsed
const MB = 1_000_000;

// ================================================================= arguments

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name, fallback) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
if (flag('help') || flag('h')) {
  console.log(
    'usage: node bench/soak.mjs [--seconds=600] [--interval=5] [--transport=auto|node|undici] [--calls=24]\n' +
      '                           [--max-connections=16] [--logs=8] [--execs=2] [--copies=1] [--no-test-label]\n' +
      '       (SOAK_SECONDS and SOAK_INTERVAL in the environment work too)',
  );
  process.exit(0);
}
for (const a of argv) {
  if (!/^--(no-test-label|(seconds|interval|calls|max-connections|logs|execs|copies)=\d+(\.\d+)?|transport=(auto|node|undici))$/.test(a)) {
    console.error(`soak: unknown argument ${a} (try --help)`);
    process.exit(2);
  }
}
const SECONDS = Number(option('seconds', process.env.SOAK_SECONDS ?? '600'));
// At least ~30 samples: a short run samples more often (see the fds check below).
const INTERVAL = Number(option('interval', process.env.SOAK_INTERVAL ?? String(Math.min(5, Math.max(1, Math.round(SECONDS / 30))))));
const TRANSPORT = option('transport', 'auto');
const CALLS = Number(option('calls', '24'));
const MAX_CONNECTIONS = Number(option('max-connections', '16'));
const LOGS = Number(option('logs', '8'));
const EXECS = Number(option('execs', '2'));
const COPIES = Number(option('copies', '1'));
const TEST_LABEL = !flag('no-test-label');
if (!(SECONDS > 0) || !(INTERVAL > 0) || !(MAX_CONNECTIONS >= 1)) {
  console.error('soak: --seconds, --interval and --max-connections must be positive');
  process.exit(2);
}
if (!existsSync(join(DIST, 'index.js'))) {
  console.error(`soak: ${join(DIST, 'index.js')} is missing: run \`npm run build\` in the repository root`);
  process.exit(2);
}

// ================================================================= measuring

/** `global.gc`, or the same function obtained at run time when node runs without --expose-gc. */
function exposeGc() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}
const gc = exposeGc();

/** Open file descriptors, and how many of them are sockets. */
function descriptors() {
  let fds = 0;
  let sockets = 0;
  for (const name of readdirSync('/proc/self/fd')) {
    fds++;
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith('socket:')) sockets++;
    } catch {
      // the descriptor readdir itself used, closed by now
    }
  }
  return { fds, sockets };
}

async function settledMemory() {
  for (let i = 0; i < 3; i++) {
    await new Promise(setImmediate);
    gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}

const fmt = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const mb = (bytes) => fmt(bytes / MB, 1);

// ================================================================= the run

const { Docker, DockerError } = await import(pathToFileURL(join(DIST, 'index.js')).href);
const run = `${process.pid}-${randomBytes(3).toString('hex')}`;
const labels = { 'dockhand.bench': 'soak', 'dockhand.bench.run': run, ...(TEST_LABEL ? { 'dockhand.test': 'true' } : {}) };
/** Setup and cleanup, straight to the engine (not the client under test). */
const admin = new Docker({ transport: 'node' });
const work = await fsp.mkdtemp(join(os.tmpdir(), 'dockhand-soak-'));

let removing;
async function cleanup() {
  removing ??= (async () => {
    const left = await admin.containers.list({ all: true, filters: { label: [`dockhand.bench.run=${run}`] } }).catch(() => []);
    for (const c of left) await admin.containers.remove(c.Id, { force: true, v: true }).catch((err) => console.error(`soak: could not remove ${c.Id}: ${err.message}`));
    await fsp.rm(work, { recursive: true, force: true });
    await admin.close();
  })();
  return removing;
}
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nsoak: ${signal}: stopping, removing the containers`);
    stopping = true;
    void cleanup().finally(() => process.exit(130));
  });
}

let stopping = false;
let exitCode = 0;
try {
  const version = await admin.system.version();
  await admin.images.inspect(IMAGE).catch(() => {
    throw new Error(`the engine has no ${IMAGE} (\`npm run engine -- up\` imports it)`);
  });
  const start = async (Cmd) => {
    const { Id } = await admin.containers.create({ body: { Image: IMAGE, Cmd, Labels: labels, StopTimeout: 1 } });
    await admin.containers.start(Id);
    return Id;
  };
  const sleeper = await start(['sleep', '86400']);
  const ticker = await start(['sh', '-c', 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.1; done']);

  // The small folder copied back and forth: a few files of a few KiB, one nested.
  const folder = join(work, 'src');
  await fsp.mkdir(join(folder, 'nested'), { recursive: true });
  const files = { 'a.txt': 'alpha\n'.repeat(100), 'b.bin': randomBytes(4096).toString('base64'), 'nested/c.json': JSON.stringify({ run, n: [1, 2, 3] }) };
  for (const [name, text] of Object.entries(files)) await fsp.writeFile(join(folder, name), text);

  console.log(
    `soak: node ${process.version}, engine ${version.Version} (API ${version.ApiVersion}), dockhand from ${DIST}\n` +
      `      ${fmt(SECONDS)} s, a sample every ${INTERVAL} s; transport ${TRANSPORT}, maxConnections ${MAX_CONNECTIONS}; ` +
      `workers: ${CALLS} calls, ${LOGS} logs, 1 events (+1 followed), ${EXECS} exec, ${COPIES} copy`,
  );

  const before = descriptors();
  const docker = new Docker({ transport: TRANSPORT, maxConnections: MAX_CONNECTIONS });

  // ---- counters and expected/unexpected errors
  const count = { calls: 0, logs: 0, logFrames: 0, aborted: 0, events: 0, eventWindows: 0, execs: 0, copies: 0 };
  const errors = [];
  const unexpected = (what, err) => {
    errors.push(`${what}: ${err?.name ?? ''} ${err?.code ?? ''}: ${err?.message ?? String(err)}`);
    if (errors.length <= 5) console.error(`soak: ${errors.at(-1)}`);
  };

  // ---- pausing: every worker parks at its next step; a sample waits until all are parked
  let paused = false;
  let parked = 0;
  let resume;
  let resumed = Promise.resolve();
  const gate = async () => {
    if (!paused) return;
    parked++;
    await resumed;
    parked--;
  };
  const workers = [];
  const worker = (name, step) => {
    workers.push(
      (async () => {
        for (let i = 0; !stopping; i++) {
          await gate();
          if (stopping) break;
          try {
            await step(i);
          } catch (err) {
            unexpected(name, err);
            await sleep(100);
          }
        }
      })(),
    );
  };

  // ---- the followed events stream, open for the whole run
  const followedEvents = (async () => {
    for await (const e of docker.system.events()) {
      void e;
      count.events++;
    }
  })();
  followedEvents.catch(() => undefined);

  const ordinary = [
    () => docker.system.ping(),
    () => docker.containers.inspect(sleeper).then((c) => c.Id === sleeper || Promise.reject(new Error('inspect: wrong container'))),
    () => docker.images.list(),
    () => docker.containers.list({ filters: { label: [`dockhand.bench.run=${run}`] } }).then((l) => l.length === 2 || Promise.reject(new Error(`list: ${l.length} containers, not 2`))),
  ];
  for (let w = 0; w < CALLS; w++) {
    worker('call', async (i) => {
      await ordinary[(i + w) % ordinary.length]();
      count.calls++;
    });
  }

  for (let w = 0; w < LOGS; w++) {
    worker('logs', async (i) => {
      const until = Date.now() + 500 + Math.random() * 2500;
      const viaSignal = i % 3 === 2;
      const controller = new AbortController();
      const timer = viaSignal ? setTimeout(() => controller.abort(), until - Date.now()) : undefined;
      let frames = 0;
      try {
        for await (const f of docker.containers.logs(ticker, { follow: true, tail: '5' }, viaSignal ? { signal: controller.signal } : {})) {
          if (!f.data.toString().startsWith('tick ')) throw new Error(`logs: unexpected frame ${JSON.stringify(f.data.toString())}`);
          frames++;
          if (paused || stopping || (!viaSignal && Date.now() >= until)) break;
        }
        if (viaSignal && !paused && !stopping) throw new Error('logs: the followed stream ended without the abort');
      } catch (err) {
        if (!(viaSignal && err instanceof DockerError && err.code === 'ABORTED')) throw err;
        count.aborted++;
      } finally {
        clearTimeout(timer);
        controller.abort(); // a loop left by pausing, with the signal still armed
      }
      if (frames === 0) throw new Error('logs: no frame');
      count.logs++;
      count.logFrames += frames;
    });
  }

  worker('events window', async () => {
    const now = Date.now();
    await docker.system.events({ since: new Date(now - 10_000), until: new Date(now) }).toArray();
    count.eventWindows++;
  });

  for (let w = 0; w < EXECS; w++) {
    worker('exec', async (i) => {
      const input = `soak ${w} ${i}\n`;
      const r = await docker.containers.exec(sleeper, { Cmd: ['sh', '-c', 'cat; echo done >&2'], stdin: input });
      if (r.exitCode !== 0 || r.stdout !== input || r.stderr !== 'done\n') throw new Error(`exec: got ${JSON.stringify(r)}`);
      count.execs++;
    });
  }

  for (let w = 0; w < COPIES; w++) {
    worker('copy', async (i) => {
      const remote = `/tmp/soak-${w}`;
      await docker.containers.copyTo(sleeper, `${folder}/.`, remote);
      const back = join(work, `back-${w}-${i}`);
      await fsp.mkdir(back);
      try {
        await docker.containers.copyFrom(sleeper, `${remote}/.`, back);
        for (const [name, text] of Object.entries(files)) {
          const got = await fsp.readFile(join(back, name), 'utf8');
          if (got !== text) throw new Error(`copy: ${name} came back different (${got.length} bytes, not ${text.length})`);
        }
      } finally {
        await fsp.rm(back, { recursive: true, force: true });
      }
      count.copies++;
    });
  }

  // ---- sampling
  const total = workers.length;
  const samples = [];
  const t0 = performance.now();
  let last = { ...count, t: 0 };
  console.log(
    `\n     t s   calls/s  logs  aborted  frames  events  windows  execs  copies   RSS MB  heap MB  fds  sockets  pause ms`,
  );
  const sample = async () => {
    const p0 = performance.now();
    paused = true;
    resumed = new Promise((r) => (resume = r));
    const deadline = Date.now() + 60_000;
    while (parked < total) {
      if (Date.now() > deadline) throw new Error(`only ${parked} of ${total} workers paused within 60 s (one is stuck)`);
      await sleep(5);
    }
    const memory = await settledMemory();
    const d = descriptors();
    const t = (performance.now() - t0) / 1000;
    const s = { t, ...memory, ...d, ...count };
    samples.push(s);
    const rate = (count.calls - last.calls) / (t - last.t);
    console.log(
      `${fmt(t, 0).padStart(8)} ${fmt(rate).padStart(9)} ${fmt(count.logs).padStart(5)} ${fmt(count.aborted).padStart(8)} ${fmt(count.logFrames).padStart(7)} ` +
        `${fmt(count.events).padStart(7)} ${fmt(count.eventWindows).padStart(8)} ${fmt(count.execs).padStart(6)} ${fmt(count.copies).padStart(7)} ` +
        `${mb(memory.rss).padStart(8)} ${mb(memory.heapUsed).padStart(8)} ${String(d.fds).padStart(4)} ${String(d.sockets).padStart(8)} ${fmt(performance.now() - p0).padStart(9)}`,
    );
    last = { ...count, t };
    paused = false;
    resume();
  };

  // A sample at every whole interval from the start, the last one at the end of the run.
  const sampleCount = Math.max(1, Math.floor(SECONDS / INTERVAL));
  for (let k = 1; k <= sampleCount && !stopping; k++) {
    await sleep(Math.max(0, t0 + (k === sampleCount ? SECONDS : k * INTERVAL) * 1000 - performance.now()));
    if (stopping) break;
    await sample();
  }

  // ---- the end: stop, close, and check that everything is gone
  stopping = true;
  paused = false;
  resume?.();
  await Promise.all(workers);
  const c0 = performance.now();
  await docker.close();
  const closeMs = performance.now() - c0;
  const eventsEnd = await followedEvents.then(
    () => 'ended without an error',
    (err) => (err instanceof DockerError && err.code === 'CLOSED' ? 'CLOSED' : `${err?.name} ${err?.code}: ${err?.message}`),
  );
  let after = descriptors();
  for (let i = 0; i < 100 && after.fds > before.fds; i++) {
    await sleep(50);
    after = descriptors();
  }

  // ---- verdict
  const checks = [];
  const check = (ok, text) => {
    checks.push(ok);
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${text}`);
  };
  console.log(
    `\nsoak: ${fmt(count.calls)} calls, ${fmt(count.logs)} followed logs (${fmt(count.aborted)} aborted, ${fmt(count.logFrames)} frames), ` +
      `${fmt(count.events)} events followed, ${fmt(count.eventWindows)} event windows, ${fmt(count.execs)} execs, ${fmt(count.copies)} copies; ` +
      `close() ${fmt(closeMs, 1)} ms`,
  );
  if (samples.length < 3) {
    check(false, `only ${samples.length} sample(s): run longer than 3 intervals (--seconds, --interval)`);
  } else {
    const k = Math.floor(samples.length / 3);
    const warm = samples.slice(0, k);
    const window = samples.slice(k);
    const base = window[0];
    const growth = (key) => Math.max(...window.map((s) => s[key])) - base[key];
    const rss = growth('rss');
    const heap = growth('heapUsed');
    const fdGrowth = Math.max(...window.map((s) => s.fds)) - Math.max(...warm.map((s) => s.fds));
    const sockGrowth = Math.max(...window.map((s) => s.sockets)) - Math.max(...warm.map((s) => s.sockets));
    console.log(`  flatness over the last ${window.length} of ${samples.length} samples (from t=${fmt(base.t)} s):`);
    check(rss < GROWTH_LIMIT, `RSS growth ${mb(rss)} MB (${mb(base.rss)} -> max ${mb(base.rss + rss)}) < ${mb(GROWTH_LIMIT)} MB`);
    check(heap < GROWTH_LIMIT, `heapUsed growth ${mb(heap)} MB (${mb(base.heapUsed)} -> max ${mb(base.heapUsed + heap)}) < ${mb(GROWTH_LIMIT)} MB`);
    check(fdGrowth <= 0, `fds growth ${fdGrowth} (max ${Math.max(...window.map((s) => s.fds))} vs ${Math.max(...warm.map((s) => s.fds))} in the first third) <= 0`);
    check(sockGrowth <= 0, `sockets growth ${sockGrowth} <= 0`);
  }
  check(errors.length === 0, `${errors.length} unexpected error(s)${errors.length ? `: ${errors.slice(0, 3).join(' | ')}` : ''}`);
  check(count.calls > 0 && count.logs > 0 && count.execs > 0 && (COPIES === 0 || count.copies > 0) && count.eventWindows > 0, 'every kind of work ran');
  check(count.events > 0, `the followed events stream saw ${fmt(count.events)} events`);
  check(eventsEnd === 'CLOSED', `after close(), the followed events loop: ${eventsEnd}`);
  check(after.fds <= before.fds, `after close(): ${after.fds} fds (${after.sockets} sockets), ${before.fds} (${before.sockets}) before the client was made`);
  exitCode = checks.every(Boolean) ? 0 : 1;
  console.log(exitCode === 0 ? 'soak: flat' : 'soak: NOT flat (or errors): exit 1');
} catch (err) {
  console.error(`soak: ${err?.stack ?? err}`);
  exitCode = 1;
} finally {
  stopping = true;
  await cleanup();
}
if (!interrupted) process.exit(exitCode);
