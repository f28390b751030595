/**
 * copyTo / copyFrom against the Go docker CLI on the same engine: a seeded folder (symlinks, a hard
 * link, an empty folder, long and non-ASCII names, odd modes, and many small files and a few large
 * ones) copied in and out by dockhand and by `docker cp` (DOCKER_HOST set to the engine under test)
 * must give the same files, contents, modes, mtimes and links, in the container and back on disk.
 *
 * On the default engine (the README's test command) the folder is the archive bench's whole data
 * set, 5,000 files of 0.1-8 KB in 50 folders and 20 files of 10 MB (bench/archive.mjs); on the
 * other engines of a CI run, a tenth of it (500 files in 10 folders, 2 files of 10 MB), to keep
 * CI within its time.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Docker } from '../../src/index.js';
import { DEFAULT_HOST } from '../../src/transport/host.js';
import { Created, ENGINE, ENGINE_HOST } from '../support/engine.js';
import { describeTree } from '../support/tree.js';

const docker = new Docker();
const created = new Created(docker);
const temps: string[] = [];

afterEach(() => created.cleanup());
afterAll(async () => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
  await docker.close();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'dockhand-archive-cli-'));
  temps.push(d);
  return d;
}

const CLI = (() => {
  try {
    execFileSync('docker', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The docker CLI against the engine under test. */
function cli(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: ENGINE_HOST }, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The folder's size: the bench's whole data set on the default engine, a tenth elsewhere. */
const SIZE = ENGINE_HOST === DEFAULT_HOST ? { folders: 50, files: 5000, large: 20 } : { folders: 10, files: 500, large: 2 };

/** Seeded bytes (AES-CTR of zeros) and sizes (mulberry32): the same folder on every run. */
async function seededFolder(root: string): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update('dockhand-archive-cli').digest(), Buffer.alloc(16));
  let seed = 7;
  const rand = (): number => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let d = 0; d < SIZE.folders; d++) await fsp.mkdir(path.join(root, `dir-${d}`), { recursive: true });
  for (let i = 0; i < SIZE.files; i++) {
    const size = 100 + Math.floor(rand() * 8000);
    const file = path.join(root, `dir-${i % SIZE.folders}`, `file-${i}.bin`);
    await fsp.writeFile(file, cipher.update(Buffer.alloc(size)));
    await fsp.chmod(file, [0o644, 0o600, 0o755, 0o640][i % 4]!);
  }
  await fsp.mkdir(path.join(root, 'large'));
  for (let i = 0; i < SIZE.large; i++) await fsp.writeFile(path.join(root, 'large', `blob-${i}.bin`), cipher.update(Buffer.alloc(10 * 1024 * 1024)));
  const long = path.join(root, `${'long-folder-name-'.repeat(5)}end`);
  await fsp.mkdir(long);
  await fsp.writeFile(path.join(long, `${'n'.repeat(110)}.txt`), 'a name over 100 bytes\n');
  await fsp.writeFile(path.join(root, 'Grüße-データ.txt'), 'non-ASCII\n');
  await fsp.mkdir(path.join(root, 'empty'));
  await fsp.chmod(path.join(root, 'empty'), 0o700);
  await fsp.symlink('dir-0/file-0.bin', path.join(root, 'link-rel'));
  await fsp.symlink('/etc/passwd', path.join(root, 'link-abs'));
  await fsp.link(path.join(root, 'dir-1', 'file-1.bin'), path.join(root, 'hard-1.bin'));
  const when = new Date('2021-06-07T08:09:10Z');
  const all: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
      if (d.isDirectory()) await walk(path.join(dir, d.name));
      if (!d.isSymbolicLink()) all.push(path.join(dir, d.name));
    }
  };
  await walk(root);
  for (const p of all) await fsp.utimes(p, when, when);
  await fsp.utimes(root, when, when);
}


describe.runIf(CLI)('copyTo / copyFrom against docker cp', () => {
  it('the same folder in and out: same files, contents, modes, mtimes, symlinks and hard links', { timeout: 180_000 }, async () => {
    const src = path.join(tempDir(), 'payload');
    await fsp.mkdir(src);
    await seededFolder(src);
    const expected = await describeTree(src);
    const id = await created.runContainer({ Cmd: ['sleep', '600'] });

    // in: dockhand to /by-dockhand, the CLI to /by-cli
    await docker.containers.copyTo(id, src, '/by-dockhand');
    cli('cp', src, `${id}:/by-cli`);

    // what landed in the container: the same listing (mode, size, mtime, link target) and hashes
    const listing = async (dir: string): Promise<string> => {
      const r = await docker.containers.exec(id, {
        Cmd: ['sh', '-c', `cd ${dir} && find . | sort | while read -r f; do if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; elif [ -d "$f" ]; then stat -c '%n %a %Y' "$f"; else echo "$(stat -c '%n %a %s %Y %h' "$f") $(md5sum < "$f" | cut -c1-32)"; fi; done`],
      });
      expect(r.exitCode).toBe(0);
      return r.stdout;
    };
    const inDockhand = await listing('/by-dockhand');
    expect(inDockhand.split('\n').length).toBeGreaterThan(SIZE.files + SIZE.folders + SIZE.large);
    expect(inDockhand).toBe(await listing('/by-cli'));

    // out: each tool copies each copy back
    const back = tempDir();
    await docker.containers.copyFrom(id, '/by-dockhand', path.join(back, 'dockhand-from-dockhand'));
    await docker.containers.copyFrom(id, '/by-cli', path.join(back, 'dockhand-from-cli'));
    cli('cp', `${id}:/by-dockhand`, path.join(back, 'cli-from-dockhand'));
    cli('cp', `${id}:/by-cli`, path.join(back, 'cli-from-cli'));
    for (const name of ['dockhand-from-dockhand', 'dockhand-from-cli', 'cli-from-dockhand', 'cli-from-cli']) {
      const got = await describeTree(path.join(back, name));
      if (ENGINE.podman) {
        // Podman's archive keeps a folder's mtime only when nothing was written into it afterwards
        const strip = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.startsWith('dir ') ? v.replace(/ \d+$/, '') : v]));
        expect(strip(got), name).toEqual(strip(expected));
      } else {
        expect(got, name).toEqual(expected);
      }
    }
  });
});
