/**
 * Measuring tools alike, for the benches that compare dockhand with the docker CLI: each run is a
 * child process under /usr/bin/time (wall, user + sys CPU, max RSS from its rusage), and the
 * dockhand child also reports its own in-process figures as one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

/**
 * The bench's data folder, `$TMPDIR/<name>`: with `--clean` in `argv` it is removed and the
 * process ends; without the build to measure (`<dist>/index.js`) the process ends with a hint.
 */
export function dataFolder(name, argv, dist) {
  const root = join(os.tmpdir(), name);
  if (argv.includes('--clean')) {
    rmSync(root, { recursive: true, force: true });
    console.log(`removed ${root}`);
    process.exit(0);
  }
  if (!existsSync(join(dist, 'index.js'))) {
    console.error(`${join(dist, 'index.js')} is missing: run \`npm run build\` in the repository root (or set DOCKHAND_DIST)`);
    process.exit(1);
  }
  return root;
}

/** Runs `cmd` under /usr/bin/time (its report in `dir`); wall ms, CPU ms, max RSS bytes, and the child's JSON line if any. */
export function timed(dir, cmd, args, env = {}) {
  const timeFile = join(dir, `time-${process.pid}.txt`);
  const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %U %S %M', cmd, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [e, u, s, m] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
  const line = r.stdout.trim().split('\n').at(-1);
  return { wall: e * 1000, cpu: (u + s) * 1000, maxRss: m * 1024, child: line?.startsWith('{') ? JSON.parse(line) : undefined };
}

/** In a dockhand child: runs `work`, then prints its wall and CPU ms and RSS growth as one JSON line, and exits. */
export async function reportChild(docker, work) {
  const rss0 = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await docker.close();
  const maxRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ wall, cpu: (cpu.user + cpu.system) / 1000, rssGrowth: maxRss - rss0 })}\n`);
  process.exit(0);
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
