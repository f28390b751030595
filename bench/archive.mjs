#!/usr/bin/env node
/**
 * Archives against the Go docker CLI, on the same data and engine: copyTo (`docker cp dir ctr:/x`),
 * copyFrom (`docker cp ctr:/x dir`), the classic build-context upload
 * (`DOCKER_BUILDKIT=0 docker build`), image save to a file (`docker save -o`) and load from a file
 * (`docker load -i`).
 *
 *   node bench/archive.mjs [--quick] [--runs=5] [--only=copyTo,copyFrom,build,save,load] [--data=folder,big]
 *
 * Data, made once, deterministically (seeded AES-CTR bytes, seeded sizes), in
 * $TMPDIR/dockhand-bench-archive (kept between runs; `--clean` removes it):
 * - folder: 5,000 files of 0.1-8 KB in 50 folders + 20 files of 10 MB (~230 MB) and a Dockerfile;
 * - big: one 1 GB file and a Dockerfile.
 *
 * Each measurement is a child process, for both tools alike: `docker ...` or
 * `node bench/archive.mjs --child <op> ...` (dockhand from ../dist/esm, or DOCKHAND_DIST), run
 * under /usr/bin/time, which gives wall, user+sys CPU and max RSS from the child's rusage. The
 * dockhand child also reports its RSS growth during the operation (max RSS - RSS after import).
 * The tools alternate (order swapped each run); figures are medians; ratios are dockhand / CLI,
 * paired per run, median. Needs `npm run build` (or DOCKHAND_DIST), the docker CLI, and the engine
 * (DOCKER_HOST or /var/run/docker.sock) with dockhand-test/busybox:latest.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dataFolder, median, reportChild, timed as timedIn } from './measure.mjs';
import { byteSource, writeBytes, writeTree } from './seeded.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const DIST = process.env.DOCKHAND_DIST ?? join(BENCH, '..', 'dist', 'esm');
const IMAGE = 'dockhand-test/busybox:latest';
const LABEL = 'dockhand.test';

// ---------------------------------------------------------------------------------------------
// Child mode: one dockhand operation, timed in-process too.
if (process.argv[2] === '--child') {
  const [op, ...args] = process.argv.slice(3);
  const { Docker } = await import(pathToFileURL(join(DIST, 'index.js')).href);
  const docker = new Docker();
  await reportChild(docker, async () => {
    switch (op) {
      case 'copyTo':
        await docker.containers.copyTo(args[0], args[1], args[2]);
        break;
      case 'copyFrom':
        await docker.containers.copyFrom(args[0], args[1], args[2]);
        break;
      case 'build':
        await docker.images.build(args[0], { tags: args[1], labels: { [LABEL]: 'true' } });
        break;
      case 'save':
        await docker.images.save(args[0], args[1]);
        break;
      case 'load':
        await docker.images.load({ file: args[0] });
        break;
      case 'saveStream':
        // the stream way, for comparison: images.get piped to a file stream
        await pipeline(await docker.images.get(args[0]), createWriteStream(args[1]));
        break;
      case 'loadStream':
        await docker.images.load(createReadStream(args[0]));
        break;
      default:
        throw new Error(`unknown op ${op}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const QUICK = argv.includes('--quick');
const RUNS = Number(opt('runs') ?? (QUICK ? 2 : 5));
const ONLY = (opt('only') ?? 'copyTo,copyFrom,build,save,load').split(',');
const DATA = (opt('data') ?? (QUICK ? 'folder' : 'folder,big')).split(',');
const ROOT = dataFolder('dockhand-bench-archive', argv, DIST);

const DOCKERFILE = `FROM ${IMAGE}\nLABEL ${LABEL}=true\n`;

/** Makes (once) the data sets; returns their folders. */
function makeData() {
  const out = {};
  const folder = join(ROOT, 'folder');
  if (!existsSync(join(ROOT, 'folder.done'))) {
    rmSync(folder, { recursive: true, force: true });
    writeTree(folder, { seed: 42, key: 'folder', small: 5000, large: 20, largeSize: 10 * 1024 * 1024, dockerfile: DOCKERFILE });
    writeFileSync(join(ROOT, 'folder.done'), '');
  }
  out.folder = folder;
  const big = join(ROOT, 'big');
  if (DATA.includes('big') && !existsSync(join(ROOT, 'big.done'))) {
    rmSync(big, { recursive: true, force: true });
    mkdirSync(big, { recursive: true });
    writeBytes(join(big, 'blob-1g.bin'), byteSource('big'), 1024 * 1024 * 1024);
    writeFileSync(join(big, 'Dockerfile'), DOCKERFILE);
    writeFileSync(join(ROOT, 'big.done'), '');
  }
  out.big = big;
  return out;
}

const docker = (...args) => execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).trim();

/** A command under /usr/bin/time (bench/measure.mjs), its report kept in ROOT. */
const timed = (cmd, args, env = {}) => timedIn(ROOT, cmd, args, env);
const node = (...args) => timed(process.execPath, [fileURLToPath(import.meta.url), '--child', ...args]);


const data = makeData();
const tmp = join(ROOT, `work-${process.pid}`);
mkdirSync(tmp, { recursive: true });
const tag = `dockhand-bench/archive:${process.pid}`;
const made = { containers: [], images: [] };
const cleanup = () => {
  for (const c of made.containers) spawnSync('docker', ['rm', '-f', '-v', c], { stdio: 'ignore' });
  for (const i of made.images) spawnSync('docker', ['rmi', '-f', i], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
};
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const results = [];
try {
  const ctr = docker('run', '-d', '--label', `${LABEL}=true`, '--label', 'dockhand.bench=archive', IMAGE, 'sleep', '86400');
  made.containers.push(ctr);
  const sh = (script) => docker('exec', ctr, 'sh', '-c', script);
  const names = DATA.filter((d) => d in data);
  // the sources of copyFrom, put there once by the CLI
  if (ONLY.includes('copyFrom')) for (const d of names) docker('cp', data[d], `${ctr}:/src-${d}`);
  // images to save and load: the test image plus the data set, built once by the CLI
  const images = {};
  if (ONLY.some((o) => /^(save|load)/.test(o))) {
    for (const d of names) {
      const ref = `dockhand-bench/archive-${d}:${process.pid}`;
      const ctx = join(tmp, `img-${d}`);
      mkdirSync(ctx);
      writeFileSync(join(ctx, 'Dockerfile'), `FROM ${IMAGE}\nCOPY data /data\nLABEL ${LABEL}=true\n`);
      // the CLI sends the context as it is on disk: copy by hard links into the context
      execFileSync('cp', ['-al', data[d], join(ctx, 'data')]);
      execFileSync('docker', ['build', '-q', '-t', ref, ctx], { stdio: 'ignore', env: { ...process.env, DOCKER_BUILDKIT: '0' } });
      made.images.push(ref);
      images[d] = ref;
      execFileSync('docker', ['save', '-o', join(tmp, `saved-${d}.tar`), ref]);
    }
  }
  made.images.push(tag);

  let n = 0;
  const ops = {
    copyTo: (d) => ({
      cli: () => timed('docker', ['cp', data[d], `${ctr}:/to-${++n}`]),
      dockhand: () => node('copyTo', ctr, data[d], `/to-${++n}`),
      after: () => sh('rm -rf /to-*'),
    }),
    copyFrom: (d) => ({
      cli: () => timed('docker', ['cp', `${ctr}:/src-${d}`, join(tmp, `from-${++n}`)]),
      dockhand: () => node('copyFrom', ctr, `/src-${d}`, join(tmp, `from-${++n}`)),
      after: () => execFileSync('sh', ['-c', `rm -rf ${tmp}/from-*`]),
    }),
    build: (d) => ({
      cli: () => timed('docker', ['build', '-q', '-t', tag, data[d]], { DOCKER_BUILDKIT: '0' }),
      dockhand: () => node('build', data[d], tag),
      after: () => undefined,
    }),
    save: (d) => ({
      cli: () => timed('docker', ['save', '-o', join(tmp, `save-${++n}.tar`), images[d]]),
      dockhand: () => node('save', images[d], join(tmp, `save-${++n}.tar`)),
      after: () => execFileSync('sh', ['-c', `rm -f ${tmp}/save-*.tar`]),
    }),
    load: (d) => ({
      cli: () => timed('docker', ['load', '-q', '-i', join(tmp, `saved-${d}.tar`)]),
      dockhand: () => node('load', join(tmp, `saved-${d}.tar`)),
      after: () => undefined,
    }),
    saveStream: (d) => ({
      cli: () => timed('docker', ['save', '-o', join(tmp, `save-${++n}.tar`), images[d]]),
      dockhand: () => node('saveStream', images[d], join(tmp, `save-${++n}.tar`)),
      after: () => execFileSync('sh', ['-c', `rm -f ${tmp}/save-*.tar`]),
    }),
    loadStream: (d) => ({
      cli: () => timed('docker', ['load', '-q', '-i', join(tmp, `saved-${d}.tar`)]),
      dockhand: () => node('loadStream', join(tmp, `saved-${d}.tar`)),
      after: () => undefined,
    }),
  };

  for (const d of names) {
    for (const op of ONLY) {
      const o = ops[op](d);
      // warm-up, unmeasured: one of each
      o.cli();
      o.after();
      o.dockhand();
      o.after();
      const runs = [];
      for (let r = 0; r < RUNS; r++) {
        const pair = {};
        for (const who of r % 2 ? ['dockhand', 'cli'] : ['cli', 'dockhand']) {
          pair[who] = o[who]();
          o.after();
        }
        runs.push(pair);
      }
      const row = {
        op,
        data: d,
        cliWall: median(runs.map((p) => p.cli.wall)),
        dhWall: median(runs.map((p) => p.dockhand.wall)),
        cliCpu: median(runs.map((p) => p.cli.cpu)),
        dhCpu: median(runs.map((p) => p.dockhand.cpu)),
        wallRatio: median(runs.map((p) => p.dockhand.wall / p.cli.wall)),
        cpuRatio: median(runs.map((p) => p.dockhand.cpu / p.cli.cpu)),
        dhOpWall: median(runs.map((p) => p.dockhand.child.wall)),
        dhOpCpu: median(runs.map((p) => p.dockhand.child.cpu)),
        cliRss: median(runs.map((p) => p.cli.maxRss)),
        dhRssGrowth: Math.max(...runs.map((p) => p.dockhand.child.rssGrowth)),
      };
      results.push(row);
      const mb = (b) => `${(b / 1048576).toFixed(0)} MB`;
      console.log(
        `${op.padEnd(8)} ${d.padEnd(6)} wall ${row.dhWall.toFixed(0)} / ${row.cliWall.toFixed(0)} ms = ${row.wallRatio.toFixed(2)}x` +
          `  cpu ${row.dhCpu.toFixed(0)} / ${row.cliCpu.toFixed(0)} ms = ${row.cpuRatio.toFixed(2)}x` +
          `  (in-process: ${row.dhOpWall.toFixed(0)} ms wall, ${row.dhOpCpu.toFixed(0)} ms cpu)  rss growth ${mb(row.dhRssGrowth)} (cli max rss ${mb(row.cliRss)})`,
      );
    }
  }
} finally {
  cleanup();
}

console.log(`\n${RUNS} interleaved runs per row, medians; ratios dockhand / docker CLI (paired per run). Goals: wall <= 1.1x, cpu <= 1.5x, rss growth < 64 MB.`);
console.log('| operation | data | dockhand wall | CLI wall | wall ratio | dockhand CPU | CLI CPU | CPU ratio | RSS growth |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.op} | ${r.data} | ${r.dhWall.toFixed(0)} ms | ${r.cliWall.toFixed(0)} ms | ${r.wallRatio.toFixed(2)}× | ${r.dhCpu.toFixed(0)} ms | ${r.cliCpu.toFixed(0)} ms | ${r.cpuRatio.toFixed(2)}× | ${(r.dhRssGrowth / 1048576).toFixed(0)} MB |`);
}
