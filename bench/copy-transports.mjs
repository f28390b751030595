#!/usr/bin/env node
/**
 * Archive reads on each transport: `containers.copyFrom` and a `getArchive` stream piped to a
 * file, for 'node', 'undici' and 'auto' (after its switch), interleaved rounds, medians, and the
 * ratio of each to node:http in the same run. Guards against undici's quadratic body resume under
 * backpressure (see src/transport/undici.ts): the goal is every ratio <= 1.1.
 *
 *   node bench/copy-transports.mjs [--mb=50] [--rounds=5]
 *
 * Needs `npm run build` (imports ../dist) and the engine with dockhand-test/busybox:latest.
 */
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import { join, dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const { Docker } = await import(pathToFileURL(join(ROOT, 'dist/esm/index.js')).href);

const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const MB = arg('mb', 50);
const ROUNDS = arg('rounds', 5);
const IMAGE = 'dockhand-test/busybox:latest';

const admin = new Docker({ transport: 'node' });
const { Id: id } = await admin.containers.create({
  body: { Image: IMAGE, Cmd: ['sh', '-c', `mkdir /data && dd if=/dev/urandom of=/data/big bs=1M count=${MB} 2>/dev/null && for i in $(seq 1 200); do echo $i > /data/f$i; done && sleep 3600`], Labels: { 'dockhand.test': 'true' } },
});
const tmp = mkdtempSync(join(os.tmpdir(), 'dockhand-bench-copy-'));
const cleanup = async () => {
  await admin.containers.remove(id, { force: true }).catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
  await admin.close();
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  await admin.containers.start(id);
  for (let i = 0; ; i++) {
    const r = await admin.containers.exec(id, { Cmd: ['sh', '-c', 'test -f /data/f200'] });
    if (r.exitCode === 0) break;
    if (i > 600) throw new Error('the test data was not made in time');
    await new Promise((r) => setTimeout(r, 100));
  }

  const clients = {};
  for (const kind of ['node', 'undici', 'auto']) {
    clients[kind] = new Docker({ transport: kind });
    await clients[kind].system.ping();
  }
  for (let i = 0; i < 20; i++) await clients.auto.system.ping(); // the auto transport switches to undici
  await new Promise((r) => setTimeout(r, 300));

  const work = {
    copyFrom: async (docker, n) => {
      const dir = join(tmp, `c${n}`);
      await docker.containers.copyFrom(id, '/data', dir);
      rmSync(dir, { recursive: true, force: true });
    },
    'getArchive | file': async (docker, n) => {
      const file = join(tmp, `a${n}.tar`);
      const { stream } = await docker.containers.getArchive(id, '/data');
      await pipeline(stream, createWriteStream(file));
      rmSync(file, { force: true });
    },
  };

  const times = {};
  let n = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const kinds = Object.keys(clients);
    const order = kinds.slice(round % kinds.length).concat(kinds.slice(0, round % kinds.length));
    for (const [name, fn] of Object.entries(work)) {
      for (const kind of order) {
        const t0 = process.hrtime.bigint();
        await fn(clients[kind], n++);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        ((times[name] ??= {})[kind] ??= []).push(ms);
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`archive of ${MB} MB + 200 small files, ${ROUNDS} interleaved rounds (median ms, ratio to node:http)`);
  let worst = 0;
  for (const [name, byKind] of Object.entries(times)) {
    const base = median(byKind.node);
    const cells = Object.entries(byKind).map(([kind, xs]) => {
      const ratio = median(xs) / base;
      if (kind !== 'node') worst = Math.max(worst, ratio);
      return `${kind} ${median(xs).toFixed(0)} ms (${ratio.toFixed(2)}x)`;
    });
    console.log(`  ${name.padEnd(18)} ${cells.join('   ')}`);
  }
  console.log(`worst ratio to node:http: ${worst.toFixed(2)} (goal <= 1.1)`);
  for (const c of Object.values(clients)) await c.close();
} finally {
  await cleanup();
}
