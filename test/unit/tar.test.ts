import { existsSync, mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerError, NotFoundError, ValidationError } from '../../src/index.js';
import { copyFrom, copyTo, decodePathStat, getArchive, putArchive, statPath, PATH_STAT_HEADER } from '../../src/operations/archive.js';
import { fakeContext } from '../support/fake-context.js';

const MTIME = new Date('2021-03-04T05:06:07Z');
const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'dockhand-tar-'));
  temps.push(d);
  return d;
}

type Spec = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; data?: string; mode?: number; linkname?: string };

async function makeTar(specs: Spec[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const s of specs) {
    const type = s.type ?? 'file';
    const header = { name: s.name, type, mode: s.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: MTIME, ...(s.linkname !== undefined ? { linkname: s.linkname } : {}) };
    if (type === 'file') pack.entry(header, s.data ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

const GO_DIR = 0x80000000;
const GO_LINK = 0x08000000;
const statHeader = (s: { name: string; mode: number; size?: number; linkTarget?: string }) =>
  Buffer.from(JSON.stringify({ name: s.name, size: s.size ?? 0, mode: s.mode, mtime: '2021-03-04T05:06:07Z', linkTarget: s.linkTarget ?? '' })).toString('base64');

/** A fake context whose ContainerArchive answers `archive` with the stat of a file or a folder. */
function archiveCtx(archive: Buffer, stat: { name: string; dir: boolean }) {
  const calls: string[] = [];
  const ctx = fakeContext(async (id) => {
      calls.push(id);
      if (id !== 'ContainerArchive') throw new Error(`unexpected ${id}`);
      const stream = Readable.from([archive]);
      Object.defineProperty(stream, 'headers', { value: { [PATH_STAT_HEADER]: statHeader({ name: stat.name, mode: stat.dir ? GO_DIR | 0o755 : 0o644 }) } });
      return stream;
  });
  return { ctx, calls };
}

async function listTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fsp.lstat(abs);
      if (st.isSymbolicLink()) out[r] = `-> ${await fsp.readlink(abs)}`;
      else if (st.isDirectory()) {
        out[`${r}/`] = (st.mode & 0o7777).toString(8);
        await walk(abs, r);
      } else out[r] = `${(st.mode & 0o7777).toString(8)} ${await fsp.readFile(abs, 'utf8')}`;
    }
  };
  await walk(root, '');
  return out;
}

describe('decodePathStat', () => {
  it('decodes the header and the Go mode bits', () => {
    expect(decodePathStat(statHeader({ name: 'etc', mode: GO_DIR | 0o755, size: 4096 }))).toEqual({
      name: 'etc',
      size: 4096,
      mode: 2147484141,
      mtime: '2021-03-04T05:06:07Z',
      linkTarget: '',
      isDirectory: true,
      isSymlink: false,
    });
    expect(decodePathStat(statHeader({ name: 'sh', mode: GO_LINK | 0o777, linkTarget: '/bin/busybox' }))).toMatchObject({ isDirectory: false, isSymlink: true, linkTarget: '/bin/busybox' });
    expect(() => decodePathStat(undefined)).toThrow(expect.objectContaining({ code: 'BAD_RESPONSE' }));
    expect(() => decodePathStat('not base64 json')).toThrow(expect.objectContaining({ code: 'BAD_RESPONSE' }));
  });
});

describe('input checks', () => {
  const never = fakeContext(() => Promise.reject(new Error('must not be called')));
  it('throws ValidationError before any call', async () => {
    await expect(statPath(never, '', '/x')).rejects.toThrow(ValidationError);
    await expect(statPath(never, 'c', '')).rejects.toThrow(ValidationError);
    await expect(getArchive(never, 'c', 'a\0b')).rejects.toThrow(ValidationError);
    await expect(putArchive(never, 'c', '/x', Buffer.alloc(0), { nope: true } as never)).rejects.toThrow(ValidationError);
    await expect(putArchive(never, 'c', '/x', Buffer.alloc(0), { copyUIDGID: 'yes' } as never)).rejects.toThrow(ValidationError);
    await expect(copyTo(never, 'c', '', '/x')).rejects.toThrow(ValidationError);
    await expect(copyFrom(never, 'c', '/x', '')).rejects.toThrow(ValidationError);
    await expect(copyFrom(never, 'c', '/x', '/tmp', 'nope' as never)).rejects.toThrow(ValidationError);
  });
  it('putArchive sends the flags as the engine reads them, only when set', async () => {
    const seen: Record<string, unknown>[] = [];
    const ctx = fakeContext(async (_id, p) => void seen.push(p));
    await putArchive(ctx, 'c', '/x', Buffer.alloc(1024));
    await putArchive(ctx, 'c', '/x', Buffer.alloc(1024), { noOverwriteDirNonDir: true, copyUIDGID: true });
    await putArchive(ctx, 'c', '/x', Buffer.alloc(1024), { noOverwriteDirNonDir: false, copyUIDGID: false });
    expect(seen.map(({ inputStream, ...rest }) => rest)).toEqual([
      { id: 'c', path: '/x' },
      { id: 'c', path: '/x', noOverwriteDirNonDir: '1', copyUIDGID: '1' },
      { id: 'c', path: '/x' },
    ]);
  });
});

describe('copyFrom: unsafe archives', () => {
  const cases: [string, Spec[]][] = [
    ['a ../ entry', [{ name: 'data/', type: 'directory' }, { name: 'data/../../evil', data: 'x' }]],
    ['an absolute entry', [{ name: '/evil', data: 'x' }]],
    ['an entry outside the copied path', [{ name: 'data/', type: 'directory' }, { name: 'evil', data: 'x' }]],
    ['a write through a symlink the archive made', [{ name: 'data/', type: 'directory' }, { name: 'data/out', type: 'symlink', linkname: '__OUTSIDE__' }, { name: 'data/out/evil', data: 'x' }]],
    ['a hard link to a path outside', [{ name: 'data/', type: 'directory' }, { name: 'data/evil', type: 'link', linkname: '../../outside/secret' }]],
    ['a symlink then a file at a ../ path', [{ name: 'data/', type: 'directory' }, { name: 'data/a', data: 'ok' }, { name: 'data/../evil', data: 'x' }]],
  ];
  for (const [what, specs] of cases) {
    it(`refuses ${what} with UNSAFE_ARCHIVE and writes nothing outside`, async () => {
      const work = tempDir();
      const outside = path.join(work, 'outside');
      const target = path.join(work, 'target');
      await fsp.mkdir(outside);
      await fsp.writeFile(path.join(outside, 'secret'), 'secret');
      await fsp.mkdir(target);
      const archive = await makeTar(specs.map((s) => (s.linkname === '__OUTSIDE__' ? { ...s, linkname: outside } : s)));
      const { ctx } = archiveCtx(archive, { name: 'data', dir: true });
      const err = await copyFrom(ctx, 'c', '/data', target).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DockerError);
      expect(err).toMatchObject({ code: 'UNSAFE_ARCHIVE' });
      expect(await fsp.readdir(outside)).toEqual(['secret']);
      expect((await fsp.readdir(work)).sort()).toEqual(['outside', 'target']);
      expect(existsSync(path.join(target, 'evil'))).toBe(false);
      expect(existsSync(path.join(work, 'evil'))).toBe(false);
    });
  }

  it('refuses to write through a symlink already in the destination', async () => {
    const work = tempDir();
    const outside = path.join(work, 'outside');
    await fsp.mkdir(outside);
    const target = path.join(work, 'target');
    await fsp.mkdir(target);
    await fsp.symlink(outside, path.join(target, 'data'));
    const archive = await makeTar([{ name: 'data/', type: 'directory' }, { name: 'data/evil', data: 'x' }]);
    await expect(copyFrom(archiveCtx(archive, { name: 'data', dir: true }).ctx, 'c', '/data', target)).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' });
    expect(await fsp.readdir(outside)).toEqual([]);
  });

  it('replaces a symlink in the way of a file instead of writing through it', async () => {
    const work = tempDir();
    await fsp.writeFile(path.join(work, 'victim'), 'untouched');
    const target = path.join(work, 'target');
    await fsp.mkdir(path.join(target, 'data'), { recursive: true });
    await fsp.symlink(path.join(work, 'victim'), path.join(target, 'data', 'f'));
    const archive = await makeTar([{ name: 'data/', type: 'directory' }, { name: 'data/f', data: 'new' }]);
    await copyFrom(archiveCtx(archive, { name: 'data', dir: true }).ctx, 'c', '/data', target);
    expect(await fsp.readFile(path.join(work, 'victim'), 'utf8')).toBe('untouched');
    expect((await fsp.lstat(path.join(target, 'data', 'f'))).isFile()).toBe(true);
  });
});

describe('copyFrom: docker cp semantics', () => {
  const folder = () =>
    makeTar([
      { name: 'data/', type: 'directory', mode: 0o750 },
      { name: 'data/run.sh', data: '#!/bin/sh\n', mode: 0o755 },
      { name: 'data/sub/', type: 'directory' },
      { name: 'data/sub/a.txt', data: 'a', mode: 0o600 },
      { name: 'data/sub/hard', type: 'link', linkname: 'data/sub/a.txt' },
      { name: 'data/link', type: 'symlink', linkname: 'sub/a.txt' },
      { name: 'data/abs', type: 'symlink', linkname: '/etc/passwd' },
    ]);

  it('into an existing folder, under the source name, with modes, mtimes, symlinks and hard links', async () => {
    const target = tempDir();
    await copyFrom(archiveCtx(await folder(), { name: 'data', dir: true }).ctx, 'c', '/srv/data', target);
    expect(await listTree(target)).toEqual({
      'data/': '750',
      'data/abs': '-> /etc/passwd',
      'data/link': '-> sub/a.txt',
      'data/run.sh': '755 #!/bin/sh\n',
      'data/sub/': '755',
      'data/sub/a.txt': '600 a',
      'data/sub/hard': '600 a',
    });
    expect((await fsp.stat(path.join(target, 'data/sub/a.txt'))).mtime.getTime()).toBe(MTIME.getTime());
    expect((await fsp.stat(path.join(target, 'data/sub'))).mtime.getTime()).toBe(MTIME.getTime());
    expect((await fsp.lstat(path.join(target, 'data/sub/hard'))).ino).toBe((await fsp.lstat(path.join(target, 'data/sub/a.txt'))).ino);
  });

  it('to a new path: created under that name (a folder and a file)', async () => {
    const work = tempDir();
    await copyFrom(archiveCtx(await folder(), { name: 'data', dir: true }).ctx, 'c', '/srv/data', path.join(work, 'copy'));
    expect(Object.keys(await listTree(path.join(work, 'copy')))).toEqual(['abs', 'link', 'run.sh', 'sub/', 'sub/a.txt', 'sub/hard']);
    const file = await makeTar([{ name: 'passwd', data: 'root:x:0:0\n' }]);
    await copyFrom(archiveCtx(file, { name: 'passwd', dir: false }).ctx, 'c', '/etc/passwd', path.join(work, 'pw'));
    expect(await fsp.readFile(path.join(work, 'pw'), 'utf8')).toBe('root:x:0:0\n');
    // an existing file is replaced
    await copyFrom(archiveCtx(await makeTar([{ name: 'passwd', data: 'again' }]), { name: 'passwd', dir: false }).ctx, 'c', '/etc/passwd', path.join(work, 'pw'));
    expect(await fsp.readFile(path.join(work, 'pw'), 'utf8')).toBe('again');
  });

  it('a folder onto a file: COPY_CONFLICT; a file to a missing folder/: NotFoundError; a missing parent: LOCAL_IO (ENOENT)', async () => {
    const work = tempDir();
    await fsp.writeFile(path.join(work, 'file'), 'x');
    await expect(copyFrom(archiveCtx(await folder(), { name: 'data', dir: true }).ctx, 'c', '/data', path.join(work, 'file'))).rejects.toMatchObject({ code: 'COPY_CONFLICT' });
    const file = await makeTar([{ name: 'passwd', data: 'x' }]);
    await expect(copyFrom(archiveCtx(file, { name: 'passwd', dir: false }).ctx, 'c', '/etc/passwd', path.join(work, 'nodir') + '/')).rejects.toThrow(NotFoundError);
    await expect(copyFrom(archiveCtx(file, { name: 'passwd', dir: false }).ctx, 'c', '/etc/passwd', path.join(work, 'no/such/file'))).rejects.toMatchObject({ code: 'LOCAL_IO', cause: { code: 'ENOENT' } });
  });

  it('names that merely start with two dots are ordinary names', async () => {
    const target = tempDir();
    const archive = await makeTar([{ name: 'data/', type: 'directory' }, { name: 'data/..hidden', data: 'h' }, { name: 'data/a..b', data: 'ab' }]);
    await copyFrom(archiveCtx(archive, { name: 'data', dir: true }).ctx, 'c', '/data', target);
    expect(Object.keys(await listTree(target))).toEqual(['data/', 'data/..hidden', 'data/a..b']);
  });

  it('the archive of a container root (absolute names) is extracted relative to the target, nowhere else', async () => {
    const work = tempDir();
    const root = await makeTar([{ name: '/', type: 'directory' }, { name: '/bin/', type: 'directory' }, { name: '/bin/busybox', data: 'bb', mode: 0o755 }, { name: '/bin/sh', type: 'symlink', linkname: 'busybox' }]);
    await copyFrom(archiveCtx(root, { name: '/', dir: true }).ctx, 'c', '/', path.join(work, 'rootfs'));
    expect(await listTree(path.join(work, 'rootfs'))).toEqual({ 'bin/': '755', 'bin/busybox': '755 bb', 'bin/sh': '-> busybox' });
    // in such an archive a relative name is the odd one out, and ../ is still refused
    const odd = await makeTar([{ name: '/', type: 'directory' }, { name: 'etc/passwd', data: 'x' }]);
    await expect(copyFrom(archiveCtx(odd, { name: '/', dir: true }).ctx, 'c', '/', path.join(work, 'r2'))).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' });
    const up = await makeTar([{ name: '/', type: 'directory' }, { name: '/../evil', data: 'x' }]);
    await expect(copyFrom(archiveCtx(up, { name: '/', dir: true }).ctx, 'c', '/', path.join(work, 'r3'))).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' });
    expect(existsSync(path.join(work, 'evil'))).toBe(false);
  });

  it('dir/. copies the contents', async () => {
    const work = tempDir();
    const dot = await makeTar([{ name: './', type: 'directory' }, { name: './a', data: 'a' }, { name: './s/', type: 'directory' }, { name: './s/b', data: 'b' }]);
    await copyFrom(archiveCtx(dot, { name: '.', dir: true }).ctx, 'c', '/data/.', work);
    expect(Object.keys(await listTree(work))).toEqual(['a', 's/', 's/b']);
    await copyFrom(archiveCtx(dot, { name: '.', dir: true }).ctx, 'c', '/data/.', path.join(work, 'new'));
    expect(Object.keys(await listTree(path.join(work, 'new')))).toEqual(['a', 's/', 's/b']);
  });
});

describe('copyTo: docker cp semantics against a fake container', () => {
  /** Container paths that exist: path -> stat; uploads are recorded with their entries. */
  function containerCtx(paths: Record<string, { dir?: boolean; link?: string }>) {
    const uploads: { path: string; noOverwriteDirNonDir: unknown; entries: { name: string; type: string; mode: number; linkname: string | null; data: string }[] }[] = [];
    const ctx = fakeContext(async (id, params) => {
        if (id === 'ContainerArchiveInfo') {
          const p = paths[params.path as string];
          if (!p) throw new NotFoundError(`Could not find the file ${String(params.path)} in container c`, { statusCode: 404 });
          const mode = p.link ? GO_LINK | 0o777 : p.dir ? GO_DIR | 0o755 : 0o644;
          return { [PATH_STAT_HEADER]: statHeader({ name: path.posix.basename(params.path as string), mode, ...(p.link ? { linkTarget: p.link } : {}) }) };
        }
        if (id === 'PutContainerArchive') {
          const extract = tar.extract();
          (params.inputStream as Readable).pipe(extract as unknown as NodeJS.WritableStream);
          const entries = [];
          for await (const e of extract) {
            const chunks: Buffer[] = [];
            for await (const c of e) chunks.push(c as Buffer);
            entries.push({ name: e.header.name, type: e.header.type, mode: e.header.mode, linkname: e.header.linkname ?? null, data: Buffer.concat(chunks).toString() });
          }
          uploads.push({ path: params.path as string, noOverwriteDirNonDir: params.noOverwriteDirNonDir, entries });
          return undefined;
        }
        throw new Error(`unexpected ${id}`);
    });
    return { ctx, uploads };
  }

  async function localTree(): Promise<string> {
    const work = tempDir();
    const src = path.join(work, 'app');
    await fsp.mkdir(path.join(src, 'sub'), { recursive: true });
    await fsp.writeFile(path.join(src, 'run.sh'), 'run');
    await fsp.chmod(path.join(src, 'run.sh'), 0o755);
    await fsp.writeFile(path.join(src, 'sub', 'a.txt'), 'a');
    await fsp.chmod(path.join(src, 'sub', 'a.txt'), 0o640);
    await fsp.symlink('sub/a.txt', path.join(src, 'link'));
    await fsp.chmod(path.join(src, 'sub'), 0o755);
    await fsp.chmod(src, 0o755);
    return src;
  }

  it('into an existing folder: entries under the local basename, noOverwriteDirNonDir set', async () => {
    const src = await localTree();
    const { ctx, uploads } = containerCtx({ '/srv': { dir: true } });
    await copyTo(ctx, 'c', src, '/srv');
    expect(uploads).toHaveLength(1);
    expect(uploads[0]!.path).toBe('/srv');
    expect(uploads[0]!.noOverwriteDirNonDir).toBe('1');
    expect(uploads[0]!.entries.map((e) => [e.name, e.type, e.mode.toString(8), e.linkname ?? e.data])).toEqual([
      ['app/', 'directory', '755', ''],
      ['app/link', 'symlink', '777', 'sub/a.txt'],
      ['app/run.sh', 'file', '755', 'run'],
      ['app/sub/', 'directory', '755', ''],
      ['app/sub/a.txt', 'file', '640', 'a'],
    ]);
  });

  it('to a missing path: uploaded to its parent, renamed; a symlinked destination is followed', async () => {
    const src = await localTree();
    const { ctx, uploads } = containerCtx({ '/srv': { dir: true }, '/data': { link: '/srv' } });
    await copyTo(ctx, 'c', src, '/srv/renamed');
    expect(uploads[0]!.path).toBe('/srv');
    expect(uploads[0]!.entries.map((e) => e.name)).toEqual(['renamed/', 'renamed/link', 'renamed/run.sh', 'renamed/sub/', 'renamed/sub/a.txt']);
    await copyTo(ctx, 'c', path.join(src, 'run.sh'), 'srv/one.sh');
    expect(uploads[1]).toMatchObject({ path: '/srv', entries: [{ name: 'one.sh', data: 'run', mode: 0o755 }] });
    await copyTo(ctx, 'c', path.join(src, 'run.sh'), '/data');
    expect(uploads[2]).toMatchObject({ path: '/srv', entries: [{ name: 'run.sh' }] });
    await copyTo(ctx, 'c', `${src}/.`, '/srv');
    expect(uploads[3]!.entries.map((e) => e.name)).toEqual(['link', 'run.sh', 'sub/', 'sub/a.txt']);
  });

  it('errors like the CLI: folder onto a file, file into a missing folder/, missing parent', async () => {
    const src = await localTree();
    const { ctx, uploads } = containerCtx({ '/srv': { dir: true }, '/srv/file': {} });
    await expect(copyTo(ctx, 'c', src, '/srv/file')).rejects.toMatchObject({ code: 'COPY_CONFLICT' });
    await expect(copyTo(ctx, 'c', path.join(src, 'run.sh'), '/srv/nodir/')).rejects.toThrow(NotFoundError);
    await expect(copyTo(ctx, 'c', src, '/no/such/place')).rejects.toThrow(NotFoundError);
    await expect(copyTo(ctx, 'c', path.join(src, 'missing'), '/srv')).rejects.toMatchObject({ code: 'LOCAL_IO', operationId: 'PutContainerArchive', cause: { code: 'ENOENT' } });
    expect(uploads).toEqual([]);
  });

  it('a local read failure rejects with that error and stops the upload', async () => {
    const src = await localTree();
    const ctx = fakeContext(async (id, params) => {
        if (id === 'ContainerArchiveInfo') return { [PATH_STAT_HEADER]: statHeader({ name: 'srv', mode: GO_DIR | 0o755 }) };
        // the engine reads the whole upload
        const body = params.inputStream as Readable;
        for await (const c of body) void c;
        return undefined;
    });
    await fsp.rm(path.join(src, 'sub'), { recursive: true });
    await fsp.symlink('/nonexistent', path.join(src, 'dangling'));
    await copyTo(ctx, 'c', src, '/srv'); // dangling symlinks are fine: they are not followed
    // a folder that cannot be read fails the walk: copyTo rejects with the walk's own error
    const racy = path.join(src, 'gone');
    await fsp.mkdir(racy);
    const original = fsp.opendir;
    (fsp as { opendir: typeof fsp.opendir }).opendir = async (p, o) => {
      if (String(p) === racy) throw Object.assign(new Error(`EACCES: permission denied, opendir '${racy}'`), { code: 'EACCES', syscall: 'opendir', path: racy });
      return original(p, o);
    };
    try {
      await expect(copyTo(ctx, 'c', src, '/srv')).rejects.toMatchObject({ code: 'LOCAL_IO', cause: { code: 'EACCES' } });
    } finally {
      (fsp as { opendir: typeof fsp.opendir }).opendir = original;
    }
  });
});
