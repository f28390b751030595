#!/usr/bin/env node
/**
 * A BuildKit build of a 5,000-file, 200 MB context: dockhand (`images.build(dir, { builder:
 * 'buildkit' })`) against the docker CLI's own BuildKit client (`DOCKER_BUILDKIT=1 docker build`,
 * built into the 20.10 CLI), on the same engine and data.
 *
 *   node bench/buildkit.mjs [--runs=5] [--warm] [--clean]     (DOCKER_CLI: the CLI, default /usr/bin/docker)
 *
 * Data, made once, deterministically (bench/seeded.mjs), in $TMPDIR/dockhand-bench-buildkit:
 * 4,980 files of 0.1-8 KB in 50 folders and 20 files of 9 MiB (5,000 files, ~200 MB), and a
 * Dockerfile whose one step bind-mounts the whole context (`RUN --mount=type=bind`), so the engine
 * asks for every file and writes no layer of it: the figure is the transfer, not the image export.
 *
 * Cold (the default): each build gets a fresh copy of the folder (hard links, `cp -al`, unmeasured)
 * at a new path, so the engine has no copy under that path's shared key and the whole context is
 * sent; the bench never prunes the engine's build cache (other suites share the engine), only the
 * context copies it made (`docker builder prune -f --filter type=source.local`) at the end.
 * `--warm`: the same folder every time; each tool's own context copy stays on the engine, so a
 * build sends only what changed (nothing) after walking the folder.
 *
 * Each build is a child process, for both tools alike, under /usr/bin/time (wall, CPU, max RSS);
 * the dockhand child (`node bench/buildkit.mjs --child ...`, dockhand from ../dist/esm or
 * DOCKHAND_DIST) also reports its RSS growth during the build (max RSS - RSS after import). Tools
 * alternate (order swapped each run), after one unmeasured build each; medians; ratios are
 * dockhand / CLI, paired per run, median. Needs a docker CLI with BuildKit built in (20.10), the engine
 * (DOCKER_HOST or /var/run/docker.sock, API 1.39+) and dockhand-test/busybox:latest.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dataFolder, median, reportChild, timed as timedIn } from './measure.mjs';
import { writeTree } from './seeded.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const DIST = process.env.DOCKHAND_DIST ?? join(BENCH, '..', 'dist', 'esm');
const IMAGE = 'dockhand-test/busybox:latest';
const LABEL = 'dockhand.test';
/** The reference: the 20.10 CLI, whose BuildKit client is built in (newer CLIs hand builds to buildx). */
const CLI = process.env.DOCKER_CLI ?? '/usr/bin/docker';

// ---------------------------------------------------------------------------------------------
// Child mode: one dockhand BuildKit build, timed in-process too.
if (process.argv[2] === '--child') {
  const [dir, tag] = process.argv.slice(3);
  const { Docker } = await import(pathToFileURL(join(DIST, 'index.js')).href);
  const docker = new Docker();
  await reportChild(docker, async () => {
    await docker.images.build(dir, { builder: 'buildkit', tags: tag, noCache: true, labels: { [LABEL]: 'true' } });
  });
}

// ---------------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const RUNS = Number(opt('runs') ?? 5);
const WARM = argv.includes('--warm');
const ROOT = dataFolder('dockhand-bench-buildkit', argv, DIST);

const DOCKERFILE = `FROM ${IMAGE}\nRUN --mount=type=bind,target=/ctx find /ctx -type f | wc -l > /files\nLABEL ${LABEL}=true\n`;

/** Makes (once) the context folder; returns it. */
function makeData() {
  const folder = join(ROOT, 'context');
  if (!existsSync(join(ROOT, 'context.done'))) {
    rmSync(folder, { recursive: true, force: true });
    writeTree(folder, { seed: 7, key: 'buildkit', small: 4980, large: 20, largeSize: 9 * 1024 * 1024, dockerfile: DOCKERFILE });
    writeFileSync(join(ROOT, 'context.done'), '');
  }
  return folder;
}

/** A command under /usr/bin/time (bench/measure.mjs), its report kept in ROOT. */
const timed = (cmd, args, env = {}) => timedIn(ROOT, cmd, args, env);
const data = makeData();
const tag = `dockhand-bench/buildkit:${process.pid}`;
const copies = join(ROOT, `copies-${process.pid}`);
mkdirSync(copies, { recursive: true });
let n = 0;
/** The folder to build: the data itself (warm), or a fresh hard-linked copy of it at a new path (cold). */
const folder = () => {
  if (WARM) return data;
  const dir = join(copies, `ctx-${++n}`);
  execFileSync('cp', ['-al', data, dir]);
  return dir;
};
const tools = {
  cli: (dir) => timed(CLI, ['build', '-q', '--no-cache', '-t', tag, dir], { DOCKER_BUILDKIT: '1' }),
  dockhand: (dir) => timed(process.execPath, [fileURLToPath(import.meta.url), '--child', dir, tag]),
};
const one = (who) => {
  const dir = folder();
  try {
    return tools[who](dir);
  } finally {
    if (dir !== data) rmSync(dir, { recursive: true, force: true });
    // Every build moves the tag: the image it leaves would stay behind, untagged (untimed).
    spawnSync(CLI, ['rmi', '-f', tag], { stdio: 'ignore' });
  }
};
try {
  one('cli');
  one('dockhand');
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const pair = {};
    for (const who of r % 2 ? ['dockhand', 'cli'] : ['cli', 'dockhand']) pair[who] = one(who);
    runs.push(pair);
    console.error(`run ${r + 1}: cli ${pair.cli.wall.toFixed(0)} ms, dockhand ${pair.dockhand.wall.toFixed(0)} ms (in-process ${pair.dockhand.child.wall.toFixed(0)} ms, RSS growth ${(pair.dockhand.child.rssGrowth / 2 ** 20).toFixed(1)} MB)`);
  }
  const mb = (b) => (b / 2 ** 20).toFixed(1);
  const row = {
    mode: WARM ? 'warm (incremental)' : 'cold (a fresh context path per build)',
    runs: RUNS,
    cliWallMs: Math.round(median(runs.map((p) => p.cli.wall))),
    dockhandWallMs: Math.round(median(runs.map((p) => p.dockhand.wall))),
    wallRatio: Number(median(runs.map((p) => p.dockhand.wall / p.cli.wall)).toFixed(2)),
    cliCpuMs: Math.round(median(runs.map((p) => p.cli.cpu))),
    dockhandCpuMs: Math.round(median(runs.map((p) => p.dockhand.cpu))),
    cliMaxRssMB: mb(median(runs.map((p) => p.cli.maxRss))),
    dockhandMaxRssMB: mb(median(runs.map((p) => p.dockhand.maxRss))),
    dockhandRssGrowthMB: mb(median(runs.map((p) => p.dockhand.child.rssGrowth))),
    dockhandRssGrowthMaxMB: mb(Math.max(...runs.map((p) => p.dockhand.child.rssGrowth))),
    loadavg: os.loadavg().map((x) => x.toFixed(1)).join(' '),
  };
  console.log(JSON.stringify(row, null, 2));
} finally {
  spawnSync(CLI, ['rmi', '-f', tag], { stdio: 'ignore' });
  rmSync(copies, { recursive: true, force: true });
  if (!WARM) spawnSync(CLI, ['builder', 'prune', '-f', '--filter', 'type=source.local'], { stdio: 'ignore' });
  rmSync(join(ROOT, `time-${process.pid}.txt`), { force: true });
}
