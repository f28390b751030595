#!/usr/bin/env node
/**
 * Demultiplexing CPU per GiB on identical bytes (no engine involved).
 *
 * Builds in memory a multiplexed stream (the engine's 8-byte-header format for logs, attach and
 * exec without a TTY) of log-like frames: many small lines (80-200 bytes) and some 16-32 KiB
 * frames, stdout and stderr mixed. It cuts the stream into 64 KiB chunks, like socket reads, and
 * feeds the same chunks to each contender until about 1 GiB has gone through:
 *
 *   (a) dockhand demux():      for await (const f of demux(Readable.from(chunks))) (async iteration)
 *   (b) dockhand FrameParser:  parser.push(chunk) in a loop, synchronous (for information)
 *   (c) dockerode:             docker.modem.demuxStream(Readable.from(chunks), stdout, stderr)
 *                              into two Writables that count bytes
 *
 * It first checks that all three give the same stdout and stderr byte counts, then measures them
 * in 3 rounds, rotating the order, and reports the medians: process CPU (user + system) in ms per
 * GiB, and MiB/s (wall). Target: dockhand (a) / dockerode CPU per GiB <= 0.5.
 *
 * dockerode copies what is left of its buffer after every frame (O(frames x chunk) per chunk), so
 * with small frames it is far slower. Each of its rounds stops after --budget seconds (at least one
 * pass over the stream) and its figures are scaled to per GiB; the cost is the same for every pass,
 * so the scaling is exact up to noise. The output says when this happened.
 *
 *   node bench/demux.mjs [--strict] [--rounds=3] [--mib=64] [--gib=1] [--budget=12] [--seed=1]
 *
 * Prints figures and exits 0; with --strict, exits 1 if the target is missed (or the counts
 * differ). Imports dockhand as built: ../dist/esm (run `npm run build` in the root first).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { prng } from './seeded.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const DIST = process.env.DOCKHAND_DIST ?? join(BENCH, '..', 'dist', 'esm');

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name, fallback) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.slice(name.length + 3)) : fallback;
};
if (flag('help') || flag('h')) {
  console.log('usage: node bench/demux.mjs [--strict] [--rounds=3] [--mib=64] [--gib=1] [--budget=12] [--seed=1]');
  process.exit(0);
}
for (const a of argv) {
  if (!/^--(strict|help|h|(rounds|mib|gib|budget|seed)=[0-9.]+)$/.test(a)) {
    console.error(`demux bench: unknown argument ${a} (try --help)`);
    process.exit(2);
  }
}
const STRICT = flag('strict');
const ROUNDS = option('rounds', 3);
const STREAM_BYTES = Math.round(option('mib', 64) * 1024 * 1024);
const TARGET_BYTES = option('gib', 1) * 1024 ** 3;
const BUDGET_MS = option('budget', 12) * 1000; // per round, per contender
const SEED = option('seed', 1);
const CHUNK = 64 * 1024;
const TARGET_RATIO = 0.5; // dockhand demux() / dockerode, CPU per GiB, at most
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

if (!existsSync(join(DIST, 'index.js'))) {
  console.error(`demux bench: ${join(DIST, 'index.js')} is missing: run \`npm run build\` in the repository root`);
  process.exit(1);
}
const { demux, FrameParser } = await import(pathToFileURL(join(DIST, 'index.js')).href);
const { default: Dockerode } = await import('dockerode');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

// ---------------------------------------------------------------- the stream

function buildStream(total, seed) {
  const rnd = prng(seed);
  // Text to cut payloads from: log-like lines.
  const levels = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
  let text = '';
  for (let i = 0; text.length < 256 * 1024; i++) {
    text += `2026-11-27T11:${String(i % 60).padStart(2, '0')}:04.${String(i % 1000).padStart(3, '0')}Z ${levels[i % levels.length]} ` +
      `req=${(i * 2654435761 >>> 0).toString(16)} GET /api/v2/items/${i % 9973}?page=${i % 17} status=${i % 7 ? 200 : 503} ms=${i % 113}\n`;
  }
  const source = Buffer.from(text, 'latin1');
  const out = Buffer.alloc(total);
  let pos = 0;
  const stats = { frames: 0, small: 0, large: 0, smallBytes: 0, stdout: 0, stderr: 0 };
  while (pos + 8 < total) {
    const large = rnd() < 0.01; // ~1 frame in 100: a 16-32 KiB block (a stack dump, a JSON document...)
    let size = large ? 16384 + Math.floor(rnd() * 16385) : 80 + Math.floor(rnd() * 121);
    size = Math.min(size, total - pos - 8); // the last frame fits exactly
    const stderr = rnd() < (large ? 0.1 : 0.25);
    out[pos] = stderr ? 2 : 1; // bytes 1-3 stay zero
    out.writeUInt32BE(size, pos + 4);
    const from = Math.floor(rnd() * (source.length - size));
    source.copy(out, pos + 8, from, from + size);
    pos += 8 + size;
    stats.frames++;
    if (large) stats.large++;
    else {
      stats.small++;
      stats.smallBytes += size;
    }
    if (stderr) stats.stderr += size;
    else stats.stdout += size;
  }
  const bytes = out.subarray(0, pos);
  const chunks = [];
  for (let i = 0; i < bytes.length; i += CHUNK) chunks.push(bytes.subarray(i, Math.min(i + CHUNK, bytes.length)));
  return { bytes, chunks, stats };
}

// ---------------------------------------------------------------- contenders (one pass each)

async function dockhandDemux(chunks) {
  let stdout = 0;
  let stderr = 0;
  for await (const f of demux(Readable.from(chunks))) {
    if (f.stream === 'stderr') stderr += f.data.length;
    else stdout += f.data.length;
  }
  return { stdout, stderr };
}

async function dockhandParser(chunks) {
  let stdout = 0;
  let stderr = 0;
  const parser = new FrameParser();
  for (let i = 0; i < chunks.length; i++) {
    const frames = parser.push(chunks[i]);
    for (let j = 0; j < frames.length; j++) {
      const f = frames[j];
      if (f.stream === 'stderr') stderr += f.data.length;
      else stdout += f.data.length;
    }
    if (parser.error) throw parser.error;
  }
  parser.end();
  if (parser.error) throw parser.error;
  return { stdout, stderr };
}

const modem = new Dockerode().modem; // no connection is made: only demuxStream is used

function counter() {
  const w = new Writable({
    write(chunk, _enc, cb) {
      w.bytes += chunk.length;
      cb();
    },
  });
  w.bytes = 0;
  return w;
}

function dockerodeDemux(chunks) {
  return new Promise((resolve, reject) => {
    const stdout = counter();
    const stderr = counter();
    const source = Readable.from(chunks);
    source.on('error', reject);
    // demuxStream never ends its outputs: wait for the source to end, then a turn of the loop.
    source.on('end', () => setImmediate(() => resolve({ stdout: stdout.bytes, stderr: stderr.bytes })));
    modem.demuxStream(source, stdout, stderr);
  });
}

const CONTENDERS = [
  { key: 'async', label: '(a) dockhand demux() (for await)', run: dockhandDemux },
  { key: 'parser', label: '(b) dockhand FrameParser.push (sync)', run: dockhandParser },
  { key: 'dockerode', label: '(c) dockerode modem.demuxStream', run: dockerodeDemux },
];

// ---------------------------------------------------------------- measuring

function check(name, got, want) {
  if (got.stdout !== want.stdout || got.stderr !== want.stderr) {
    throw new Error(`${name}: stdout ${got.stdout} / stderr ${got.stderr} bytes, expected ${want.stdout} / ${want.stderr}`);
  }
}

/** Passes over the stream until TARGET_BYTES (or the budget, at least one pass): CPU and wall. */
async function measure(contender, stream, want) {
  gc();
  const passBytes = stream.bytes.length;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let bytes = 0;
  let passes = 0;
  do {
    check(contender.label, await contender.run(stream.chunks), want);
    bytes += passBytes;
    passes++;
  } while (bytes < TARGET_BYTES - passBytes / 2 && performance.now() - t0 < BUDGET_MS);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000;
  return {
    bytes,
    passes,
    cpuPerGiB: (cpu * GiB) / bytes,
    wallPerGiB: (wall * GiB) / bytes,
    mibPerSec: bytes / MiB / (wall / 1000),
    nsPerFrame: (cpu * 1e6) / (stream.stats.frames * passes),
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

// ---------------------------------------------------------------- run

const started = performance.now();
console.log(`demux bench: node ${process.version}, ${process.platform}/${process.arch}, dockhand from ${DIST}`);
const stream = buildStream(STREAM_BYTES, SEED);
const { stats } = stream;
const want = { stdout: stats.stdout, stderr: stats.stderr };
console.log(
  `stream: ${fmt(stream.bytes.length)} bytes (${fmt(stream.bytes.length / MiB, 1)} MiB), ${fmt(stats.frames)} frames ` +
    `(${fmt(stats.small)} of 80-200 B, ${fmt(stats.large)} of 16-32 KiB; ${fmt((100 * stats.small) / stats.frames, 1)}% small by count, ` +
    `${fmt((100 * stats.smallBytes) / (stats.stdout + stats.stderr), 1)}% of the payload bytes in small frames), ` +
    `${fmt(stream.chunks.length)} chunks of 64 KiB`,
);
console.log(`expected: stdout ${fmt(want.stdout)} bytes, stderr ${fmt(want.stderr)} bytes`);

// Correctness first (also a warm-up): every contender must see the same bytes on each stream.
let mismatch = false;
for (const c of CONTENDERS) {
  const got = await c.run(stream.chunks);
  const ok = got.stdout === want.stdout && got.stderr === want.stderr;
  if (!ok) mismatch = true;
  console.log(`check ${pad(c.label, 40)} stdout ${lpad(fmt(got.stdout), 12)}  stderr ${lpad(fmt(got.stderr), 12)}  ${ok ? 'ok' : 'MISMATCH'}`);
}
if (mismatch) {
  console.error('demux bench: the contenders disagree on the byte counts; not measuring');
  process.exit(STRICT ? 1 : 0);
}

const results = Object.fromEntries(CONTENDERS.map((c) => [c.key, []]));
const pairedRatios = [];
for (let round = 0; round < ROUNDS; round++) {
  const order = CONTENDERS.map((_, i) => CONTENDERS[(i + round) % CONTENDERS.length]);
  const line = [];
  for (const c of order) {
    const r = await measure(c, stream, want);
    results[c.key].push(r);
    line.push(`${c.key} ${fmt(r.cpuPerGiB)} ms/GiB over ${fmt(r.bytes / MiB)} MiB`);
  }
  const a = results.async.at(-1);
  const d = results.dockerode.at(-1);
  pairedRatios.push(a.cpuPerGiB / d.cpuPerGiB);
  console.log(`round ${round + 1}: ${line.join('; ')}`);
}

console.log('');
console.log(`median of ${ROUNDS} rounds (CPU = process user + system; volume = bytes demultiplexed per round):`);
console.log(`${pad('contender', 40)} ${lpad('volume', 10)} ${lpad('CPU ms/GiB', 12)} ${lpad('range', 17)} ${lpad('wall ms/GiB', 12)} ${lpad('MiB/s', 8)} ${lpad('CPU ns/frame', 13)}`);
for (const c of CONTENDERS) {
  const rs = results[c.key];
  const cpu = rs.map((r) => r.cpuPerGiB);
  console.log(
    `${pad(c.label, 40)} ${lpad(fmt(median(rs.map((r) => r.bytes)) / MiB) + ' MiB', 10)} ${lpad(fmt(median(cpu)), 12)} ` +
      `${lpad(`${fmt(Math.min(...cpu))}-${fmt(Math.max(...cpu))}`, 17)} ${lpad(fmt(median(rs.map((r) => r.wallPerGiB))), 12)} ` +
      `${lpad(fmt(median(rs.map((r) => r.mibPerSec)), 1), 8)} ${lpad(fmt(median(rs.map((r) => r.nsPerFrame))), 13)}`,
  );
}
const dockerodeBytes = median(results.dockerode.map((r) => r.bytes));
if (dockerodeBytes < TARGET_BYTES - STREAM_BYTES / 2) {
  console.log(
    `note: dockerode stopped at the ${BUDGET_MS / 1000} s budget per round (${fmt(dockerodeBytes / MiB)} MiB); its figures are scaled ` +
      `to per GiB. A full GiB would take it about ${fmt(median(results.dockerode.map((r) => r.wallPerGiB)) / 1000, 0)} s.`,
  );
}

const ratio = median(results.async.map((r) => r.cpuPerGiB)) / median(results.dockerode.map((r) => r.cpuPerGiB));
const paired = median(pairedRatios);
const syncShare = median(results.parser.map((r) => r.cpuPerGiB)) / median(results.async.map((r) => r.cpuPerGiB));
console.log('');
console.log(`dockhand demux() / dockerode, CPU per GiB: ${fmt(ratio, 3)} (median of per-round ratios ${fmt(paired, 3)}; target <= ${TARGET_RATIO}) ${paired <= TARGET_RATIO ? 'met' : 'MISSED'}`);
console.log(`dockhand FrameParser.push / demux(), CPU per GiB: ${fmt(syncShare, 3)} (the rest of demux() is async iteration: Readable, generator, awaits)`);
console.log(`took ${fmt((performance.now() - started) / 1000, 1)} s`);
process.exit(STRICT && paired > TARGET_RATIO ? 1 : 0);
