/**
 * BuildKit builds through the Engine API (`builder: 'buildkit'`): the session (health, file sync,
 * secrets, ssh, outputs), progress, failures, cancellation, and the context the engine receives
 * compared with the docker CLI 20.10's own BuildKit client (`DOCKER_BUILDKIT=1 /usr/bin/docker`).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as tarStream from 'tar-stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Docker, DockerError, NotFoundError } from '../../src/index.js';
import type { BuildkitBuildOptions, BuildkitEvent } from '../../src/buildkit/types.js';
import { StreamError } from '../../src/streams/demux.js';
import { apiAtLeast, Created, ENGINE, ENGINE_HOST, RecordingTransport, TEST_IMAGE, TEST_LABEL, labels, uniqueName } from '../support/engine.js';
import { readContainerFile, writeFiles, type FileSpec } from '../support/files.js';

const run = promisify(execFile);
const docker = new Docker();
const created = new Created(docker);
const temps: string[] = [];
const HAS_BUILDKIT = !ENGINE.podman && apiAtLeast('1.39');
const CLI = '/usr/bin/docker';

afterEach(() => created.cleanup());
afterAll(async () => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
  await docker.close();
});

async function contextDir(files: Record<string, FileSpec>): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), 'dockhand-bk-'));
  temps.push(root);
  await writeFiles(root, files);
  return root;
}

const tagName = (what: string): string => created.image(`dockhand-test/buildkit:${uniqueName(what).slice('dockhand-test-'.length)}`);

function bk(root: string, options: Omit<BuildkitBuildOptions, 'builder'> = {}) {
  return docker.images.build(root, { builder: 'buildkit', ...options, labels: { ...labels(), ...(options.labels ?? {}) } });
}

async function readFile(image: string, file: string): Promise<string> {
  return readContainerFile(docker, await created.createContainer({ Image: image, Cmd: ['true'] }), file);
}

describe.skipIf(!HAS_BUILDKIT)('BuildKit builds', () => {
  it('builds with a secret given as a value and as a file; secrets stay out of the image; progress is plain-shaped; imageId', async () => {
    const secretFile = path.join(await contextDir({ 'secret.txt': 'from-a-file' }), 'secret.txt');
    const root = await contextDir({
      Dockerfile: [
        `FROM ${TEST_IMAGE}`,
        'RUN --mount=type=secret,id=a --mount=type=secret,id=b cat /run/secrets/a /run/secrets/b | md5sum > /ok',
        `LABEL ${TEST_LABEL}=true`,
        '',
      ].join('\n'),
    });
    const tag = tagName('secrets');
    const events: BuildkitEvent[] = [];
    let text = '';
    const stream = bk(root, { tags: tag, noCache: true, secrets: { a: { value: 'value-a' }, b: { file: secretFile } }, onStatus: (e) => events.push(e), onProgress: (m) => (text += m.stream ?? '') });
    const result = await stream;
    const image = await docker.images.inspect(tag);
    expect(result.imageId).toBe(image.Id);
    expect(result.aux).toEqual([{ ID: image.Id }]); // traces are turned into text, not kept
    expect(await readFile(tag, '/ok')).toBe(`${createHash('md5').update('value-afrom-a-file').digest('hex')}  -\n`);
    const id = await created.createContainer({ Image: tag, Cmd: ['true'] });
    await expect(docker.containers.statPath(id, '/run/secrets/a')).rejects.toThrow(NotFoundError);
    // Its number is the order of first appearance: .dockerignore and the Dockerfile load at once,
    // so either may be #1 (seen both ways on 20.10).
    expect(text).toMatch(/^#\d+ \[internal\] load build definition from Dockerfile$/m);
    // 26.1 and 28.5 name the stage: `[stage-0 2/2] RUN ...`
    expect(text).toMatch(/^#\d+ \[(stage-0 )?2\/2\] RUN --mount=type=secret,id=a/m);
    expect(text).toMatch(/^#\d+ DONE \d+\.\d+s$/m);
    expect(text).not.toContain('value-a');
    const run = events.find((e) => e.type === 'vertex' && e.state === 'completed' && e.vertex.name.includes('2/2] RUN'));
    expect(run).toBeDefined();
  });

  it('refuses bad options before anything is sent', async () => {
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\n` });
    await expect(docker.images.build(root, { builder: 'buildkit', quiet: true } as never)).rejects.toMatchObject({ code: 'VALIDATION', parameter: 'quiet' });
    await expect(bk(root, { secrets: { s: { file: path.join(root, 'missing') } } })).rejects.toMatchObject({ code: 'VALIDATION', parameter: 'secrets' });
    await expect(bk(root, { dockerfile: 'nope.Dockerfile' })).rejects.toMatchObject({ code: 'VALIDATION', parameter: 'dockerfile' });
    await expect(docker.images.build(root, { builder: 'kaniko' } as never)).rejects.toMatchObject({ code: 'VALIDATION', parameter: 'builder' });
  });

  it('a cache mount is reused across two builds', async () => {
    const cacheId = uniqueName('cache');
    const dockerfile = [`FROM ${TEST_IMAGE}`, 'ARG N', `RUN --mount=type=cache,id=${cacheId},target=/cache echo "run $N" >> /cache/log && cp /cache/log /log`, `LABEL ${TEST_LABEL}=true`, ''].join('\n');
    const root = await contextDir({ Dockerfile: dockerfile });
    const first = tagName('cache1');
    const second = tagName('cache2');
    await bk(root, { tags: first, buildArgs: { N: '1' } });
    await bk(root, { tags: second, buildArgs: { N: '2' } });
    expect(await readFile(first, '/log')).toBe('run 1\n');
    expect(await readFile(second, '/log')).toBe('run 1\nrun 2\n');
  });

  it("builder 'auto' picks BuildKit here (a cache mount builds)", async () => {
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN --mount=type=cache,target=/c echo auto > /auto\nLABEL ${TEST_LABEL}=true\n` });
    const tag = tagName('auto');
    const result = await docker.images.build(root, { builder: 'auto', tags: tag, labels: labels() });
    expect(result.imageId).toBe((await docker.images.inspect(tag)).Id);
    expect(await readFile(tag, '/auto')).toBe('auto\n');
  });

  it('keeps the session alive past the health window (RUN sleep 20, then a secret mount)', async () => {
    const root = await contextDir({
      Dockerfile: [`FROM ${TEST_IMAGE}`, 'RUN sleep 20', 'RUN --mount=type=secret,id=late cat /run/secrets/late > /late', `LABEL ${TEST_LABEL}=true`, ''].join('\n'),
    });
    const tag = tagName('late');
    await bk(root, { tags: tag, noCache: true, secrets: { late: { value: 'still here' } } });
    expect(await readFile(tag, '/late')).toBe('still here');
  }, 90_000);

  it("a failing RUN rejects with the engine's error and the step's output", async () => {
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo about to fail && echo on stderr >&2 && exit 3\n` });
    const err = await bk(root, { noCache: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamError);
    const message = (err as StreamError).message;
    expect(message).toMatch(/exit code: 3/);
    expect(message).toContain('about to fail');
    expect(message).toContain('on stderr');
    expect((err as StreamError).operationId).toBe('ImageBuild');
  });

  it('aborting mid-RUN cancels the build, rejects with AbortError and closes the session', async () => {
    const marker = 40 + Math.floor(Math.random() * 50);
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN sleep ${marker}.5\nLABEL ${TEST_LABEL}=true\n` });
    const controller = new AbortController();
    const started = Date.now();
    const tag = tagName('abort');
    const before = process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap' || r === 'TCPSocketWrap').length;
    // through a recording transport: the cancel request is seen on the wire
    const transport = new RecordingTransport();
    const client = new Docker({ transport });
    const build = client.images.build(root, { builder: 'buildkit', tags: tag, noCache: true, signal: controller.signal, labels: labels() });
    build.wait().catch(() => undefined);
    // abort once the step's process runs (the engines' processes are visible from here)
    const seen = async (): Promise<boolean> => run('pgrep', ['-f', `sleep ${marker}.5`]).then(() => true, () => false);
    let running = false;
    for (let i = 0; i < 120 && !running; i++) {
      running = await seen();
      if (!running) await new Promise((r) => setTimeout(r, 100));
    }
    expect(running).toBe(true);
    const aborted = Date.now();
    controller.abort();
    await expect(build).rejects.toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - started).toBeLessThan(20_000);
    // like the CLI, the build is cancelled by id (the buildid the /build request named)
    const sentBuild = transport.sent.find((r) => / \/v[\d.]+\/build\?/.test(r)) ?? '';
    const buildId = new URL(sentBuild.split(' ')[1] ?? '/', 'http://x').searchParams.get('buildid');
    expect(buildId).toMatch(/^dockhand-/);
    expect(transport.sent.filter((r) => /^POST \/v[\d.]+\/build\/cancel\?/.test(r))).toEqual([expect.stringMatching(new RegExp(`\\?id=${buildId ?? ''}$`))]);
    await client.close();
    // the session connection and the /build connection are closed
    await new Promise((r) => setTimeout(r, 500));
    const after = process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap' || r === 'TCPSocketWrap').length;
    expect(after).toBeLessThanOrEqual(before);
    // the engine cancelled the step: its process goes away
    for (let i = 0; i < 40 && (await seen()); i++) await new Promise((r) => setTimeout(r, 250));
    expect(await seen()).toBe(false);
    expect(Date.now() - aborted).toBeLessThan(10_000);
    await expect(docker.images.inspect(tag)).rejects.toThrow(NotFoundError);
  });

  it('a Dockerfile given as text, and one outside the context', async () => {
    const root = await contextDir({ 'a.txt': 'A\n' });
    const tag = tagName('text');
    await bk(root, { tags: tag, dockerfile: { content: `FROM ${TEST_IMAGE}\nCOPY a.txt /a.txt\nLABEL ${TEST_LABEL}=true\n` } });
    expect(await readFile(tag, '/a.txt')).toBe('A\n');
    const elsewhere = await contextDir({ 'build.Dockerfile': `FROM ${TEST_IMAGE}\nCOPY a.txt /b.txt\nLABEL ${TEST_LABEL}=true\n` });
    const tag2 = tagName('outside');
    await bk(root, { tags: tag2, dockerfile: path.join(elsewhere, 'build.Dockerfile') });
    expect(await readFile(tag2, '/b.txt')).toBe('A\n');
  });

  it('an incremental rebuild picks up a change of content of the same size', async () => {
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nCOPY data.txt /data.txt\nLABEL ${TEST_LABEL}=true\n`, 'data.txt': 'aaaa\n', 'other.txt': 'x' });
    const first = tagName('incr1');
    await bk(root, { tags: first });
    expect(await readFile(first, '/data.txt')).toBe('aaaa\n');
    await fsp.writeFile(path.join(root, 'data.txt'), 'bbbb\n');
    const second = tagName('incr2');
    await bk(root, { tags: second });
    expect(await readFile(second, '/data.txt')).toBe('bbbb\n');
  });

  it('outputs: type=tar to a stream and type=local to a folder', async () => {
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE} AS base\nRUN mkdir -p /out/sub && echo hi > /out/sub/hi.txt && ln -s hi.txt /out/sub/link\nFROM scratch\nCOPY --from=base /out/ /\n` });
    const chunks: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const sink = new Writable({ write: (c: Buffer, _e, cb) => void (chunks.push(c), cb()) });
    await bk(root, { outputs: { type: 'tar', dest: sink } });
    const names: string[] = [];
    const extract = tarStream.extract();
    const done = (async () => {
      for await (const e of extract) {
        names.push(e.header.name);
        e.resume();
      }
    })();
    extract.end(Buffer.concat(chunks));
    await done;
    expect(names.map((n) => n.replace(/\/$/, ''))).toEqual(expect.arrayContaining(['sub', 'sub/hi.txt', 'sub/link']));
    const dest = mkdtempSync(path.join(tmpdir(), 'dockhand-bk-out-'));
    temps.push(dest);
    await bk(root, { outputs: { type: 'local', dest } });
    expect(await fsp.readFile(path.join(dest, 'sub/hi.txt'), 'utf8')).toBe('hi\n');
    expect(await fsp.readlink(path.join(dest, 'sub/link'))).toBe('hi.txt');
  });

  it('RUN --mount=type=ssh sees the forwarded agent socket', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dockhand-bk-ssh-'));
    temps.push(dir);
    const sock = path.join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    agent.on('error', () => undefined);
    try {
      for (let i = 0; i < 40 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo agent > /agent\nLABEL ${TEST_LABEL}=true\n` });
      const tag = tagName('ssh');
      await bk(root, { tags: tag, noCache: true, ssh: { default: sock } });
      expect(await readFile(tag, '/agent')).toBe('agent\n');
    } finally {
      agent.kill();
    }
  });

  it('the context sent matches the docker CLI 20.10 (BuildKit): names, modes, sizes, links, empty dirs, .dockerignore with ** and !', async () => {
    const files: Record<string, FileSpec> = {
      Dockerfile: `FROM ${TEST_IMAGE}\nCOPY . /ctx/\nRUN cd /ctx && find . | LC_ALL=C sort | while read -r f; do stat -c '%n|%a|%s|%u|%g|%F|%h' "$f"; if [ -L "$f" ]; then readlink "$f"; fi; done > /listing\nLABEL ${TEST_LABEL}=true\n`,
      '.dockerignore': ['**/*.log', '!keep/**/*.log', 'build', '!build/wanted.txt', 'secret*', '**/node_modules'].join('\n'),
      'plain.txt': 'plain\n',
      'exec.sh': { mode: 0o755, content: '#!/bin/sh\n' },
      'readonly.txt': { mode: 0o444, content: 'ro\n' },
      'with space.txt': 'space\n',
      'with,comma.txt': 'comma\n',
      'non-ascii-é-ü.txt': 'latin\n',
      'astral-😀.txt': 'emoji\n',
      'empty-dir': null,
      'nested/a/b/c.txt': 'deep\n',
      'nested/empty': null,
      'link-to-plain': { link: 'plain.txt' },
      'dangling': { link: 'does/not/exist' },
      'outside-link': { link: '../../etc/passwd' },
      'hard-1.txt': 'hard\n',
      'hard-2.txt': { hardlink: 'hard-1.txt' },
      'big.bin': Buffer.alloc(4 * 1024 * 1024 + 123, 7),
      'debug.log': 'ignored\n',
      'sub/trace.log': 'ignored\n',
      'keep/deep/kept.log': 'kept\n',
      'build/out.o': 'ignored\n',
      'build/wanted.txt': 'wanted\n',
      'secret.env': 'ignored\n',
      'pkg/node_modules/x/index.js': 'ignored\n',
    };
    for (let i = 0; i < 5000; i++) files[`many/f${String(i).padStart(4, '0')}.txt`] = `file ${i}\n`;
    const root = await contextDir(files);
    const ours = tagName('fidelity-ours');
    await bk(root, { tags: ours });
    const theirs = tagName('fidelity-cli');
    const host = ENGINE_HOST;
    await run(CLI, ['build', '-q', '--label', `${TEST_LABEL}=true`, '-t', theirs, root], { env: { ...process.env, DOCKER_BUILDKIT: '1', DOCKER_HOST: host }, maxBuffer: 16 * 1024 * 1024 });
    const a = await readFile(ours, '/listing');
    const b = await readFile(theirs, '/listing');
    expect(a.split('\n').length).toBeGreaterThan(5000);
    expect(a).toContain('./keep/deep/kept.log');
    expect(a).toContain('./build/wanted.txt');
    expect(a).not.toContain('./debug.log');
    expect(a).toBe(b);
  }, 120_000);
});

describe.skipIf(!HAS_BUILDKIT)('BuildKit: a private base image (Auth/Credentials)', () => {
  const REGISTRY = '127.0.0.1:5001';
  const CREDENTIALS = { username: 'dockhand', password: 'dockhand-secret', serveraddress: REGISTRY };

  it('FROM an image on the htpasswd registry: works with credentials from config.json, fails clearly without', async () => {
    const reachable = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(3_000) }).then(
      (r) => r.status === 401,
      () => false,
    );
    if (!reachable) throw new Error(`no htpasswd registry on ${REGISTRY}: start it with \`bash scripts/registry.sh up --auth\``);
    const repo = `${REGISTRY}/dockhand-test/bk-private`;
    const tag = uniqueName('p').slice('dockhand-test-'.length);
    const ref = `${repo}:${tag}`;
    await docker.images.tag(TEST_IMAGE, { repo, tag });
    await docker.images.push(repo, { tag, auth: CREDENTIALS });
    await docker.images.remove(ref);
    const root = await contextDir({ Dockerfile: `FROM ${ref}\nRUN echo private > /p\nLABEL ${TEST_LABEL}=true\n` });

    const config = mkdtempSync(path.join(tmpdir(), 'dockhand-bk-config-'));
    temps.push(config);
    const saved = process.env.DOCKER_CONFIG;
    try {
      process.env.DOCKER_CONFIG = config;
      await fsp.writeFile(path.join(config, 'config.json'), '{}');
      const denied = await bk(root, { noCache: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(denied).toBeInstanceOf(StreamError);
      expect((denied as Error).message).toMatch(/401|unauthorized|authorization|no basic auth credentials/i);

      const auth = Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64');
      await fsp.writeFile(path.join(config, 'config.json'), JSON.stringify({ auths: { [REGISTRY]: { auth } } }));
      const built = tagName('private');
      await bk(root, { tags: built, noCache: true });
      expect(await readFile(built, '/p')).toBe('private\n');
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
      await docker.images.remove(ref).catch(() => undefined);
    }
  });
});

describe.skipIf(HAS_BUILDKIT)('BuildKit where the engine has none', () => {
  it("builder 'buildkit' fails clearly; 'auto' falls back to the classic builder", async () => {
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo classic > /c\nLABEL ${TEST_LABEL}=true\n` });
    await expect(bk(root, {})).rejects.toMatchObject({ code: 'BUILDKIT_UNAVAILABLE' });
    const tag = tagName('auto');
    const result = await docker.images.build(root, { builder: 'auto', tags: tag, labels: labels() });
    expect(result.imageId).toMatch(/^sha256:/);
    await expect(docker.images.build(root, { builder: 'auto', secrets: { a: { value: 'x' } } })).rejects.toMatchObject({ code: 'VALIDATION' });
  });
});

describe('the client-wide builder option', () => {
  it("new Docker({ builder: 'auto' }) builds with BuildKit where the engine has it, else classic; a call's builder: 'classic' wins", async () => {
    const auto = new Docker({ builder: 'auto' });
    try {
      // a cache mount needs BuildKit: it builds where the engine has BuildKit, and fails the classic builder
      const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN --mount=type=cache,target=/c echo default > /d\nLABEL ${TEST_LABEL}=true\n` });
      if (HAS_BUILDKIT) {
        const tag = tagName('default-auto');
        const result = await auto.images.build(root, { tags: tag });
        expect(result.imageId).toBe((await docker.images.inspect(tag)).Id);
        expect(await readFile(tag, '/d')).toBe('default\n');
        // classic, named in the call: Docker's classic builder refuses the mount
        await expect(auto.images.build(root, { builder: 'classic' })).rejects.toBeInstanceOf(DockerError);
      }
      // (Podman has no BuildKit: `auto` is its own builder, Buildah, which takes RUN --mount itself)
      const plain = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo classic > /c\nLABEL ${TEST_LABEL}=true\n` });
      const tag = tagName('explicit-classic');
      const messages: string[] = [];
      const result = await auto.images.build(plain, { builder: 'classic', tags: tag, onProgress: (m) => void (m.stream && messages.push(m.stream)) });
      expect(result.imageId).toBe((await docker.images.inspect(tag)).Id);
      expect(messages.join('')).toMatch(/^(Step 1\/3 : FROM|STEP 1\/3: FROM) /m); // the classic builder's own output (Podman's says STEP)
    } finally {
      await auto.close();
    }
    expect(() => new Docker({ builder: 'kaniko' as never })).toThrow(/"builder" must be 'classic', 'buildkit' or 'auto'/);
  });
});
