import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import { BUILD_OPTIONS, build, createContextStream, isRemoteContext } from '../../src/operations/build.js';
import { fakeContext } from '../support/fake-context.js';
import { OPERATIONS } from '../../src/generated/operations.js';
import { writeFiles, type FileSpec } from '../support/files.js';

const MTIME = new Date('2020-02-02T02:02:02Z');
const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A temp folder with the given files (test/support/files.ts), then fixed modes and times. */
async function tree(files: Record<string, FileSpec>): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), 'dockhand-ctx-'));
  temps.push(root);
  await writeFiles(root, files);
  // fixed modes and times on every folder and file (not symlinks), deepest first
  const all: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, d.name);
      if (d.isDirectory()) await walk(abs);
      all.push(abs);
    }
  };
  await walk(root);
  for (const abs of all) {
    const st = await fsp.lstat(abs);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) await fsp.chmod(abs, 0o755);
    await fsp.utimes(abs, MTIME, MTIME);
  }
  return root;
}

interface Entry {
  name: string;
  type: string;
  mode: number;
  size: number;
  linkname: string | null;
  uid: number;
  gid: number;
  mtime: number;
  data: string;
}

async function entries(stream: Readable): Promise<Entry[]> {
  const extract = tar.extract();
  stream.once('error', (err) => extract.destroy(err));
  stream.pipe(extract as unknown as NodeJS.WritableStream);
  const out: Entry[] = [];
  for await (const e of extract) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    const h = e.header;
    out.push({ name: h.name, type: h.type, mode: h.mode, size: h.size, linkname: h.linkname ?? null, uid: h.uid, gid: h.gid, mtime: h.mtime.getTime(), data: Buffer.concat(chunks).toString() });
  }
  return out;
}

const names = (list: Entry[]) => list.map((e) => e.name);

describe('createContextStream', () => {
  it('honours .dockerignore (patterns, ** and ! exceptions), always keeps the Dockerfile and ignore file, keeps modes and symlinks', async () => {
    const root = await tree({
      Dockerfile: 'FROM scratch\n',
      '.dockerignore': '# comment\n*.log\nnode_modules\n**/secret*\n!keep.log\nDockerfile\n.dockerignore\n',
      'app/main.js': { content: 'main', mode: 0o755 },
      'app/lib/util.js': 'util',
      'app/lib/secret.key': 'k',
      'secret.txt': 's',
      'debug.log': 'd',
      'keep.log': 'kept',
      'app/nested.log': 'a *.log only matches at the root',
      'node_modules/pkg/index.js': 'x',
      link: { link: 'app/main.js' },
      empty: null,
    });
    const list = await entries(createContextStream(root));
    expect(names(list)).toEqual([
      '.dockerignore',
      'Dockerfile',
      'app/',
      'app/lib/',
      'app/lib/util.js',
      'app/main.js',
      'app/nested.log',
      'empty/',
      'keep.log',
      'link',
    ]);
    const byName = new Map(list.map((e) => [e.name, e]));
    expect(byName.get('app/main.js')).toMatchObject({ type: 'file', mode: 0o755, size: 4, data: 'main', uid: 0, gid: 0, mtime: MTIME.getTime() });
    expect(byName.get('app/lib/util.js')).toMatchObject({ type: 'file', mode: 0o644, data: 'util' });
    expect(byName.get('app/')).toMatchObject({ type: 'directory', mode: 0o755, mtime: MTIME.getTime() });
    expect(byName.get('link')).toMatchObject({ type: 'symlink', linkname: 'app/main.js', size: 0 });
    expect(byName.get('Dockerfile')!.data).toBe('FROM scratch\n');
  });

  it('<Dockerfile>.dockerignore wins over .dockerignore; both ignore files and the Dockerfile are always sent', async () => {
    const root = await tree({
      '.dockerignore': '*.log\n',
      'docker/app.Dockerfile': 'FROM scratch\n',
      'docker/app.Dockerfile.dockerignore': 'docker\n*.txt\n.dockerignore\n',
      'docker/other': 'excluded with its folder',
      'a.log': 'kept: .dockerignore is not used',
      'b.txt': 'excluded',
    });
    expect(names(await entries(createContextStream(root, { dockerfile: 'docker/app.Dockerfile' })))).toEqual([
      '.dockerignore',
      'a.log',
      'docker/app.Dockerfile',
      'docker/app.Dockerfile.dockerignore',
    ]);
    // with the default Dockerfile name, the specific file does not apply: .dockerignore does
    const plain = await tree({ Dockerfile: 'FROM scratch\n', '.dockerignore': '*.log\n', 'Dockerfile.dockerignore': '*.txt\n', 'a.log': '', 'b.txt': '' });
    expect(names(await entries(createContextStream(plain)))).toEqual(['.dockerignore', 'Dockerfile', 'Dockerfile.dockerignore', 'a.log']);
  });

  it('an exception re-includes a file under an excluded folder (the folder itself stays out)', async () => {
    const root = await tree({
      Dockerfile: 'FROM scratch\n',
      '.dockerignore': 'vendor\n!vendor/keep/**\nbuild\n',
      'vendor/drop.txt': '',
      'vendor/keep/a.txt': 'a',
      'vendor/keep/sub/b.txt': 'b',
      'build/out.bin': '',
    });
    expect(names(await entries(createContextStream(root)))).toEqual([
      '.dockerignore',
      'Dockerfile',
      'vendor/keep/a.txt',
      'vendor/keep/sub/',
      'vendor/keep/sub/b.txt',
    ]);
  });

  it('without .dockerignore sends everything; two runs give the same bytes', async () => {
    const root = await tree({ Dockerfile: 'FROM scratch\n', 'b/c': 'c', a: 'a', 'b/a': 'ba', z: { link: '/etc/passwd' } });
    const bytes = async () => {
      const chunks: Buffer[] = [];
      for await (const c of createContextStream(root)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const first = await bytes();
    expect((await bytes()).equals(first)).toBe(true);
    const list = await entries(createContextStream(root));
    expect(names(list)).toEqual(['Dockerfile', 'a', 'b/', 'b/a', 'b/c', 'z']);
    expect(list.at(-1)).toMatchObject({ type: 'symlink', linkname: '/etc/passwd' });
  });

  it('streams: a 50 MiB file is read as the tar is read, not ahead of it', async () => {
    const root = await tree({ Dockerfile: 'FROM scratch\n' });
    const SIZE = 50 * 1024 * 1024;
    await fsp.truncate(await fsp.open(path.join(root, 'big.bin'), 'w').then(async (fh) => (await fh.close(), path.join(root, 'big.bin'))), SIZE);
    const stream = createContextStream(root);
    const before = process.memoryUsage().arrayBuffers;
    const iterator = stream[Symbol.asyncIterator]();
    let total = ((await iterator.next()).value as Buffer).length;
    await new Promise((r) => setTimeout(r, 100)); // give a greedy producer every chance to read ahead
    const buffered = process.memoryUsage().arrayBuffers - before;
    expect(buffered).toBeLessThan(4 * 1024 * 1024);
    expect(stream.readableLength).toBeLessThanOrEqual(stream.readableHighWaterMark + 64 * 1024);
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) total += (r.value as Buffer).length;
    // Dockerfile header + block, big.bin header + data, the two end blocks
    expect(total).toBe(512 + 512 + 512 + SIZE + 1024);
  });

  it('a read error destroys the stream with that error', async () => {
    const root = await tree({ Dockerfile: 'FROM scratch\n', 'locked/x': 'x' });
    if (process.getuid?.() === 0) {
      // root reads anything: make the walk fail another way, a folder that vanishes mid-build
      const stream = createContextStream(path.join(root, 'missing'));
      await expect(entries(stream)).rejects.toMatchObject({ code: 'ENOENT' });
      return;
    }
    await fsp.chmod(path.join(root, 'locked'), 0o000);
    try {
      await expect(entries(createContextStream(root))).rejects.toMatchObject({ code: 'EACCES' });
    } finally {
      await fsp.chmod(path.join(root, 'locked'), 0o755);
    }
  });

  it('refuses a Dockerfile path outside the context', () => {
    expect(() => createContextStream('/tmp', { dockerfile: '../Dockerfile' })).toThrow(ValidationError);
    expect(() => createContextStream('/tmp', { dockerfile: '/etc/Dockerfile' })).toThrow(ValidationError);
    expect(() => createContextStream('')).toThrow(ValidationError);
  });
});

describe('isRemoteContext', () => {
  it('tells URLs and git repositories from folders', () => {
    for (const r of ['http://example.com/ctx.tar.gz', 'https://github.com/docker/rootfs.git#container:docker', 'git://example.com/repo', 'git@github.com:docker/rootfs.git', 'github.com/docker/rootfs', 'some/repo.git']) {
      expect(isRemoteContext(r), r).toBe(true);
    }
    for (const l of ['.', './app', '/srv/app', 'C:\\app', 'gitlab', 'repo.git/sub', 'http-server']) expect(isRemoteContext(l), l).toBe(false);
  });
});

describe('build: input checks and parameters', () => {
  function recorder() {
    const calls: { id: string; params: Record<string, unknown> }[] = [];
    const ctx = fakeContext(async (id, params) => {
        calls.push({ id, params });
        const { Readable } = await import('node:stream');
        const body = params.inputStream as Readable | undefined;
        if (body) for await (const c of body) void c; // the engine reads the context first
        return Readable.from([Buffer.from('{"stream":"Step 1/1 : FROM scratch\\n"}\n{"aux":{"ID":"sha256:abc"}}\n{"stream":"Successfully built abc\\n"}\n')]);
    });
    return { calls, ctx };
  }

  it('throws ValidationError before any I/O for bad options', () => {
    const { calls, ctx } = recorder();
    expect(() => build(ctx, '/nowhere', { noCache: 'yes' as unknown as boolean })).toThrow(ValidationError);
    expect(() => build(ctx, '/nowhere', { nocache: true } as never)).toThrow(/unknown option "nocache"/);
    expect(() => build(ctx, '/nowhere', { buildArgs: { A: 1 } as never })).toThrow(ValidationError);
    expect(() => build(ctx, '/nowhere', { tags: [''] })).toThrow(ValidationError);
    expect(() => build(ctx, '/nowhere', { dockerfile: '../x' })).toThrow(ValidationError);
    expect(() => build(ctx, '')).toThrow(ValidationError);
    expect(calls).toEqual([]);
  });

  it('a missing context folder or Dockerfile rejects with ValidationError, nothing sent', async () => {
    const { calls, ctx } = recorder();
    await expect(build(ctx, path.join(tmpdir(), 'dockhand-no-such-ctx'))).rejects.toMatchObject({ name: 'ValidationError', parameter: 'context' });
    const root = await tree({ 'not-a-dockerfile': '' });
    await expect(build(ctx, root)).rejects.toMatchObject({ name: 'ValidationError', parameter: 'dockerfile' });
    expect(calls).toEqual([]);
  });

  it('maps options to ImageBuild parameters; a remote context is sent as `remote` with no body', async () => {
    const { calls, ctx } = recorder();
    const root = await tree({ 'build/Dockerfile': 'FROM scratch\n' });
    const result = await build(ctx, root, {
      dockerfile: 'build/Dockerfile',
      tags: 'me/app:1',
      buildArgs: { A: '1' },
      labels: { l: 'v' },
      target: 'final',
      noCache: true,
      pull: true,
      rm: false,
      forceRm: true,
      networkMode: 'host',
      extraHosts: 'h:1.2.3.4',
      cacheFrom: ['me/app:0'],
      memory: 1 << 26,
      cpuShares: 512,
      quiet: true,
      registryConfig: { 'registry.example': { username: 'u', password: 'p' } },
    });
    expect(result.aux).toEqual([{ ID: 'sha256:abc' }]);
    expect(result.imageId).toBe('sha256:abc');
    const { params } = calls[0]!;
    expect(calls[0]!.id).toBe('ImageBuild');
    expect({ ...params, inputStream: typeof params.inputStream }).toEqual({
      dockerfile: 'build/Dockerfile',
      t: 'me/app:1',
      buildargs: { A: '1' },
      labels: { l: 'v' },
      target: 'final',
      nocache: true,
      pull: '1',
      rm: false,
      forcerm: true,
      networkmode: 'host',
      extrahosts: 'h:1.2.3.4',
      cachefrom: ['me/app:0'],
      memory: 1 << 26,
      cpushares: 512,
      q: true,
      'X-Registry-Config': { 'registry.example': { username: 'u', password: 'p' } },
      'Content-type': 'application/x-tar',
      inputStream: 'object',
    });

    await build(ctx, 'https://github.com/docker/rootfs.git#master', { dockerfile: 'x/Dockerfile' });
    expect(calls[1]!.params).toEqual({ remote: 'https://github.com/docker/rootfs.git#master', dockerfile: 'x/Dockerfile' });
  });

  it('sends several tags and extra hosts as lists (repeated keys), in one request', async () => {
    const { calls, ctx } = recorder();
    const root = await tree({ Dockerfile: 'FROM scratch\n' });
    await build(ctx, root, { tags: ['me/app:1', 'me/app', 'localhost:5000/app:2'], extraHosts: ['a:10.0.0.1', 'b:10.0.0.2'] });
    expect(calls.map((c) => c.id)).toEqual(['ImageBuild']);
    expect(calls[0]!.params.t).toEqual(['me/app:1', 'me/app', 'localhost:5000/app:2']);
    expect(calls[0]!.params.extrahosts).toEqual(['a:10.0.0.1', 'b:10.0.0.2']);
  });
});

describe('build options follow ImageBuild', () => {
  it("every ImageBuild parameter has a build option or is handled apart, and every option's parameter exists", () => {
    // Handled by build() itself: the context (inputStream, or remote for a URL), the tags (t),
    // the Dockerfile path, the context's Content-type, and extra hosts (a list sent as repeated
    // keys). `version` selects BuildKit, which needs a session: the builder option of BuildKit builds.
    const handledApart = new Set(['inputStream', 'remote', 't', 'dockerfile', 'Content-type', 'extrahosts', 'version']);
    const spec = OPERATIONS.ImageBuild.params.map((p) => p.name);
    const mapped = new Set(Object.values(BUILD_OPTIONS).map(([param]) => param).filter((p): p is string => p !== undefined));
    expect(spec.filter((p) => !mapped.has(p) && !handledApart.has(p))).toEqual([]);
    expect([...mapped].filter((p) => !spec.includes(p))).toEqual([]);
  });
});
