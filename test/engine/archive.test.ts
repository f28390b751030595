import { randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Docker, NotFoundError, ServerError } from '../../src/index.js';
import { Created, ENGINE, TEST_IMAGE, readBytes, readJsonLines, shownName, uniqueName } from '../support/engine.js';
import { tar } from '../support/tar.js';
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
  const d = mkdtempSync(path.join(tmpdir(), 'dockhand-archive-'));
  temps.push(d);
  return d;
}

interface TarItem {
  type: string;
  mode: number;
  linkname: string | null;
  data: Buffer;
}

/** Every entry of a tar stream, by name. */
async function readTar(stream: Readable): Promise<Map<string, TarItem>> {
  const extract = tarStream.extract();
  stream.once('error', (err) => extract.destroy(err));
  stream.pipe(extract as unknown as NodeJS.WritableStream);
  const out = new Map<string, TarItem>();
  for await (const e of extract) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.set(e.header.name, { type: e.header.type, mode: e.header.mode, linkname: e.header.linkname ?? null, data: Buffer.concat(chunks) });
  }
  return out;
}

/** A local tree: files of several sizes (1 MiB random among them), a nested folder, an executable, symlinks. */
async function sampleTree(): Promise<string> {
  const root = path.join(tempDir(), 'payload');
  await fsp.mkdir(path.join(root, 'nested', 'deeper'), { recursive: true });
  const files: [string, Buffer, number][] = [
    ['empty', Buffer.alloc(0), 0o644],
    ['one', Buffer.from('1'), 0o644],
    ['block-511', randomBytes(511), 0o600],
    ['block-512', randomBytes(512), 0o644],
    ['block-513', randomBytes(513), 0o640],
    ['random-1MiB', randomBytes(1024 * 1024), 0o644],
    ['run.sh', Buffer.from('#!/bin/sh\necho hi\n'), 0o755],
    ['nested/inner.txt', Buffer.from('inner\n'), 0o644],
    ['nested/deeper/odd-size.bin', randomBytes(70_001), 0o644],
  ];
  for (const [name, data, mode] of files) {
    await fsp.writeFile(path.join(root, name), data);
    await fsp.chmod(path.join(root, name), mode);
  }
  await fsp.symlink('nested/inner.txt', path.join(root, 'link-rel'));
  await fsp.symlink('/etc/passwd', path.join(root, 'link-abs'));
  await fsp.chmod(path.join(root, 'nested'), 0o750);
  const when = new Date('2019-09-09T09:09:09Z');
  for (const p of ['run.sh', 'nested/inner.txt', 'random-1MiB']) await fsp.utimes(path.join(root, p), when, when);
  return root;
}


describe('statPath, getArchive, putArchive', () => {
  it('stats a file, a folder and a symlink; a missing path or container is NotFoundError', async () => {
    const id = await created.createContainer();
    const passwd = await docker.containers.statPath(id, '/etc/passwd');
    // Podman gives every path its resolved absolute path as linkTarget, links or not
    expect(passwd).toMatchObject({ name: 'passwd', isDirectory: false, isSymlink: false, linkTarget: ENGINE.podman ? '/etc/passwd' : '' });
    expect(passwd.mode & 0o777).toBe(0o644);
    expect(passwd.size).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(passwd.mtime))).toBe(false);

    const etc = await docker.containers.statPath(id, '/etc');
    expect(etc).toMatchObject({ name: 'etc', isDirectory: true, isSymlink: false });
    expect(etc.mode).toBe((0x80000000 | 0o755) >>> 0);

    const sh = await docker.containers.statPath(id, '/bin/sh');
    // Podman names a symlink's stat after its target
    expect(sh).toMatchObject({ name: ENGINE.podman ? 'busybox' : 'sh', isDirectory: false, isSymlink: true });
    // the engine resolves the link to an absolute path in the container (the link itself says "busybox")
    expect(sh.linkTarget).toBe('/bin/busybox');

    await expect(docker.containers.statPath(id, '/no/such/path')).rejects.toThrow(NotFoundError);
    await expect(docker.containers.statPath(uniqueName('missing'), '/etc')).rejects.toThrow(NotFoundError);
  });

  it('getArchive of a folder: a tar of it under its name, and its stat', async () => {
    const id = await created.createContainer();
    const { stat, stream } = await docker.containers.getArchive(id, '/etc');
    expect(stat).toMatchObject({ name: 'etc', isDirectory: true });
    const entries = await readTar(stream);
    // Podman writes folder entries without the trailing slash
    expect([...entries.keys()]).toEqual(expect.arrayContaining([ENGINE.podman ? 'etc' : 'etc/', 'etc/passwd', 'etc/group']));
    expect(entries.get('etc/passwd')!.data.toString()).toMatch(/^root:/);

    const sh = await docker.containers.getArchive(id, '/bin/sh');
    expect(sh.stat.isSymlink).toBe(true);
    const link = await readTar(sh.stream);
    if (ENGINE.podman) {
      // Podman follows the link: the tar holds busybox itself, under the link's name
      const entry = link.get('sh')!;
      expect([...link.keys()]).toEqual(['sh']);
      expect([entry.type, entry.mode & 0o111]).toEqual(['file', 0o111]);
      expect(entry.data.length).toBe((await docker.containers.statPath(id, '/bin/busybox')).size);
    } else {
      expect([...link.entries()].map(([n, e]) => [n, e.type, e.linkname])).toEqual([['sh', 'symlink', 'busybox']]);
    }
  });

  it('putArchive extracts a tar; a container reading the files exits 0', async () => {
    const id = await created.createContainer({
      Cmd: ['sh', '-c', '[ "$(cat /tmp/put/hello.txt)" = "hello from putArchive" ] && [ -x /tmp/put/run.sh ] && [ "$(/tmp/put/run.sh)" = ran ]'],
    });
    const archive = tar([{ name: 'put' }, { name: 'put/hello.txt', data: 'hello from putArchive' }, { name: 'put/run.sh', data: '#!/bin/sh\necho ran\n', mode: 0o755 }]);
    await docker.containers.putArchive(id, '/tmp', archive);
    expect(await docker.containers.statPath(id, '/tmp/put/hello.txt')).toMatchObject({ size: 21, isDirectory: false });
    expect((await docker.containers.statPath(id, '/tmp/put/run.sh')).mode & 0o777).toBe(0o755);
    await docker.containers.start(id);
    expect((await docker.containers.wait(id)).StatusCode).toBe(0);

    // into a path that does not exist: NotFoundError (Podman makes the folders instead); a file
    // where a folder is, with noOverwriteDirNonDir: refused (the engine answers 500 for it, not 400)
    if (ENGINE.podman) {
      await docker.containers.putArchive(id, '/no/such/dir', archive);
      expect(await docker.containers.statPath(id, '/no/such/dir/put/hello.txt')).toMatchObject({ size: 21 });
    } else {
      await expect(docker.containers.putArchive(id, '/no/such/dir', archive)).rejects.toThrow(NotFoundError);
    }
    const refused = docker.containers.putArchive(id, '/', tar([{ name: 'tmp', data: 'not a folder' }]), { noOverwriteDirNonDir: true });
    await expect(refused).rejects.toThrow(ServerError);
    await expect(refused).rejects.toThrow(ENGINE.podman ? /error creating file at "\/tmp": open \/tmp: file exists/ : /cannot overwrite directory/);
  });
});

describe('copyTo / copyFrom', () => {
  it('a folder tree round trip: bytes, modes, symlink targets and the CLI naming rules', async () => {
    const src = await sampleTree();
    const expected = await describeTree(src, { mtimes: false, links: false });
    const id = await created.createContainer();

    // /tmp exists: copied into it, under the local name
    await docker.containers.copyTo(id, src, '/tmp');
    expect(await docker.containers.statPath(id, '/tmp/payload/nested/deeper/odd-size.bin')).toMatchObject({ size: 70_001 });
    expect((await docker.containers.statPath(id, '/tmp/payload/run.sh')).mode & 0o777).toBe(0o755);
    expect(await docker.containers.statPath(id, '/tmp/payload/link-abs')).toMatchObject({ isSymlink: true });
    expect((await docker.containers.statPath(id, '/tmp/payload/random-1MiB')).mtime).toBe('2019-09-09T09:09:09Z');
    // /tmp/renamed does not exist: created under that name
    await docker.containers.copyTo(id, src, '/tmp/renamed');
    expect(await docker.containers.statPath(id, '/tmp/renamed/random-1MiB')).toMatchObject({ size: 1024 * 1024 });

    // back: into an existing folder, under the container name
    const back = tempDir();
    await docker.containers.copyFrom(id, '/tmp/payload', back);
    expect(await describeTree(path.join(back, 'payload'), { mtimes: false, links: false })).toEqual(expected);
    // back to a new name
    await docker.containers.copyFrom(id, '/tmp/renamed', path.join(back, 'fresh'));
    expect(await describeTree(path.join(back, 'fresh'), { mtimes: false, links: false })).toEqual(expected);
    const when = (await fsp.stat(path.join(back, 'fresh', 'random-1MiB'))).mtime.toISOString();
    expect(when).toBe('2019-09-09T09:09:09.000Z');
    // the contents of a folder (dir/.) into an existing folder
    const contents = tempDir();
    await docker.containers.copyFrom(id, '/tmp/payload/nested/.', contents);
    expect(Object.keys(await describeTree(contents, { mtimes: false, links: false }))).toEqual(['deeper', 'deeper/odd-size.bin', 'inner.txt']);
  });

  it('a single file both ways, with the rename rules', async () => {
    const work = tempDir();
    const file = path.join(work, 'note.txt');
    await fsp.writeFile(file, 'a note\n');
    await fsp.chmod(file, 0o640);
    const id = await created.createContainer();

    await docker.containers.copyTo(id, file, '/etc'); // existing folder: /etc/note.txt
    expect(await docker.containers.statPath(id, '/etc/note.txt')).toMatchObject({ size: 7 });
    await docker.containers.copyTo(id, file, '/etc/renamed.txt'); // new name
    expect((await docker.containers.statPath(id, '/etc/renamed.txt')).mode & 0o777).toBe(0o640);
    await fsp.writeFile(file, 'changed\n');
    await docker.containers.copyTo(id, file, '/etc/renamed.txt'); // an existing file is replaced
    expect(await docker.containers.statPath(id, '/etc/renamed.txt')).toMatchObject({ size: 8 });
    await expect(docker.containers.copyTo(id, file, '/etc/missing-dir/')).rejects.toThrow(NotFoundError);

    const out = tempDir();
    await docker.containers.copyFrom(id, '/etc/renamed.txt', out); // into an existing folder
    expect(await fsp.readFile(path.join(out, 'renamed.txt'), 'utf8')).toBe('changed\n');
    await docker.containers.copyFrom(id, '/etc/passwd', path.join(out, 'pw')); // to a new name
    expect(await fsp.readFile(path.join(out, 'pw'), 'utf8')).toMatch(/^root:/);
    await docker.containers.copyFrom(id, '/etc/note.txt', path.join(out, 'pw')); // an existing file is replaced
    expect(await fsp.readFile(path.join(out, 'pw'), 'utf8')).toBe('a note\n');
    expect((await fsp.stat(path.join(out, 'pw'))).mode & 0o777).toBe(0o640);
    await docker.containers.copyFrom(id, '/bin/sh', out); // a symlink stays a symlink
    if (ENGINE.podman) {
      // Podman's archive of a symlink holds its target: a copy of busybox
      expect((await fsp.lstat(path.join(out, 'sh'))).isFile()).toBe(true);
      expect((await fsp.stat(path.join(out, 'sh'))).mode & 0o111).not.toBe(0);
    } else {
      expect(await fsp.readlink(path.join(out, 'sh'))).toBe('busybox');
    }
    // the whole root (the engine names its entries with absolute paths)
    await docker.containers.copyFrom(id, '/', path.join(out, 'rootfs'));
    expect((await fsp.stat(path.join(out, 'rootfs/bin/busybox'))).mode & 0o111).not.toBe(0);
    expect(await fsp.readlink(path.join(out, 'rootfs/bin/sh'))).toBe('busybox');
    expect(await fsp.readFile(path.join(out, 'rootfs/etc/renamed.txt'), 'utf8')).toBe('changed\n');
    await expect(docker.containers.copyFrom(id, '/etc/nope', out)).rejects.toThrow(NotFoundError);
    // the signal reaches every request
    await expect(docker.containers.copyFrom(id, '/etc/passwd', out, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(docker.containers.copyTo(id, file, '/etc', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('export, save and load', () => {
  it('exports a container as a tar holding bin/busybox', async () => {
    const id = await created.createContainer();
    const entries = await readTar(await docker.containers.export(id));
    expect(entries.has('bin/busybox')).toBe(true);
    expect(entries.get('bin/busybox')!.mode & 0o111).not.toBe(0);
    expect(entries.has('etc/passwd')).toBe(true);
  });

  it('saves the test image under a temporary tag, removes the tag, loads it back: same Id', async () => {
    const repo = 'dockhand-test/saved';
    const tag = uniqueName('t').slice(-20);
    const ref = `${repo}:${tag}`;
    const { Id } = await docker.images.inspect(TEST_IMAGE);
    await docker.images.tag(TEST_IMAGE, { repo, tag });
    created.image(ref);

    const single = await readBytes(await docker.images.get(ref));
    const archive = await readBytes(await docker.images.getAll({ names: [ref] }));
    for (const bytes of [single, archive]) {
      const entries = await readTar(Readable.from([bytes]));
      const manifest = JSON.parse(entries.get('manifest.json')!.data.toString()) as { RepoTags: string[] }[];
      expect(manifest.flatMap((m) => m.RepoTags)).toEqual([shownName(ref)]);
    }

    await docker.images.remove(ref); // only the tag goes: the test image still holds the Id
    await expect(docker.images.inspect(ref)).rejects.toThrow(NotFoundError);

    const messages = await readJsonLines<{ stream?: string; error?: string }>(await docker.api.ImageLoad({ imagesTarball: archive }));
    expect(messages.filter((m) => m.error)).toEqual([]);
    expect(messages.map((m) => m.stream ?? '').join('')).toContain(`Loaded image: ${shownName(ref)}`);
    expect((await docker.images.inspect(ref)).Id).toBe(Id);
  });
});
