import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Docker, NotFoundError } from '../../src/index.js';
import type { BuildMessage } from '../../src/operations/build.js';
import { StreamError } from '../../src/streams/demux.js';
import { Created, ENGINE, TEST_IMAGE, TEST_LABEL, labels, uniqueName, waitUntil } from '../support/engine.js';
import { readContainerFile, writeFiles, type FileSpec } from '../support/files.js';

const docker = new Docker();
const created = new Created(docker);
const temps: string[] = [];

afterEach(() => created.cleanup());
afterAll(async () => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
  await docker.close();
});

async function contextDir(files: Record<string, FileSpec>): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), 'dockhand-build-'));
  temps.push(root);
  await writeFiles(root, files);
  return root;
}

/*
 * Every Dockerfile here ends with the test LABEL: intermediate images carry no test label, so
 * the label sweep of another engine-suite run sharing this engine cannot delete a parent image
 * under a build in progress (the final image is labelled, and tagged at once).
 */
const tagName = (what: string) => created.image(`dockhand-test/built:${uniqueName(what).slice('dockhand-test-'.length)}`);

/** The content of one file of a container, through getArchive. */
function readFile(id: string, file: string): Promise<string> {
  return readContainerFile(docker, id, file);
}

/** A created (not started) container of an image: its files can be read and stat'ed. */
const containerOf = (image: string) => created.createContainer({ Image: image, Cmd: ['true'] });

describe('build', () => {
  it('a local context honours .dockerignore; messages stream; the result carries the image ID', async () => {
    const root = await contextDir({
      Dockerfile: `FROM ${TEST_IMAGE}\nCOPY . /ctx/\nRUN ls -R /ctx > /listing\nLABEL ${TEST_LABEL}=true\n`,
      '.dockerignore': '*.log\nnode_modules\n**/secret*\n!keep.log\n',
      'keep.txt': 'kept\n',
      'debug.log': 'ignored\n',
      'keep.log': 'kept by an exception\n',
      'node_modules/pkg/index.js': 'ignored\n',
      'src/app.js': 'app\n',
      'src/secret.env': 'ignored\n',
      link: { link: 'keep.txt' },
    });
    const tag = tagName('ignore');
    const seen: BuildMessage[] = [];
    let progressCalls = 0;
    const stream = docker.images.build(root, { tags: tag, onProgress: () => void progressCalls++ });
    for await (const message of stream) seen.push(message);
    const result = await stream; // already consumed: resolves with the same result
    const lines = seen.map((m) => m.stream ?? '').join('');
    // Podman's builder (buildah) writes its steps as `STEP 1/4: ...`
    const step = (n: number, text: string): string => (ENGINE.podman ? `STEP ${n}/4: ${text}` : `Step ${n}/4 : ${text}`);
    expect(lines).toContain(step(1, 'FROM dockhand-test/busybox:latest'));
    expect(lines).toContain(step(3, 'RUN ls -R /ctx > /listing'));
    expect(lines).toContain(`Successfully tagged ${tag}`);
    expect(progressCalls).toBe(seen.length);
    expect(result.messages).toBe(seen.length);
    const image = await docker.images.inspect(tag);
    expect(result.aux).toEqual([{ ID: image.Id }]);
    expect(result.imageId).toBe(image.Id);
    expect(image.Id).toMatch(/^sha256:[0-9a-f]{64}$/);

    const id = await containerOf(tag);
    for (const kept of ['/ctx/keep.txt', '/ctx/keep.log', '/ctx/src/app.js', '/ctx/Dockerfile', '/ctx/.dockerignore']) {
      expect((await docker.containers.statPath(id, kept)).isDirectory, kept).toBe(false);
    }
    expect(await docker.containers.statPath(id, '/ctx/link')).toMatchObject({ isSymlink: true });
    for (const gone of ['/ctx/debug.log', '/ctx/node_modules', '/ctx/src/secret.env']) {
      await expect(docker.containers.statPath(id, gone), gone).rejects.toThrow(NotFoundError);
    }
    const listing = await readFile(id, '/listing');
    expect(listing).toContain('keep.txt');
    expect(listing).not.toContain('debug.log');
    expect(listing).not.toContain('secret.env');
    expect(await readFile(id, '/ctx/keep.log')).toBe('kept by an exception\n');
  });

  it('the Dockerfile and .dockerignore are sent even when .dockerignore excludes them; the engine drops them from COPY', async () => {
    const root = await contextDir({
      Dockerfile: `FROM ${TEST_IMAGE}\nCOPY . /ctx/\nLABEL ${TEST_LABEL}=true\n`,
      '.dockerignore': 'Dockerfile\n.dockerignore\n',
      'kept.txt': 'kept\n',
    });
    const tag = tagName('self');
    await docker.images.build(root, { tags: tag }); // the engine found the Dockerfile: it was sent
    const id = await containerOf(tag);
    expect(await readFile(id, '/ctx/kept.txt')).toBe('kept\n');
    const dockerfile = docker.containers.statPath(id, '/ctx/Dockerfile').then(() => 'present', () => 'absent');
    const ignoreFile = docker.containers.statPath(id, '/ctx/.dockerignore').then(() => 'present', () => 'absent');
    expect([await dockerfile, await ignoreFile]).toEqual(['absent', 'absent']);
  });

  it('<Dockerfile>.dockerignore wins over .dockerignore; the Dockerfile is sent even from an excluded folder', async () => {
    const root = await contextDir({
      'docker/app.Dockerfile': `FROM ${TEST_IMAGE}\nCOPY . /ctx/\nLABEL ${TEST_LABEL}=true\n`,
      'docker/app.Dockerfile.dockerignore': 'docker\n*.txt\n',
      '.dockerignore': '*.md\n',
      'a.txt': 'ignored by the Dockerfile-specific file\n',
      'b.md': 'kept: .dockerignore is not used\n',
    });
    const tag = tagName('specific');
    await docker.images.build(root, { dockerfile: 'docker/app.Dockerfile', tags: [tag] });
    const id = await containerOf(tag);
    expect(await readFile(id, '/ctx/b.md')).toBe('kept: .dockerignore is not used\n');
    await expect(docker.containers.statPath(id, '/ctx/a.txt')).rejects.toThrow(NotFoundError);
    if (ENGINE.podman) {
      // buildah reads <Dockerfile>.dockerignore too (it excludes docker/): the Dockerfile is not copied
      await expect(docker.containers.statPath(id, '/ctx/docker')).rejects.toThrow(NotFoundError);
    } else {
      // the engine reads only .dockerignore (which does not exclude it): the Dockerfile stays in COPY
      expect(await readFile(id, '/ctx/docker/app.Dockerfile')).toContain('COPY . /ctx/');
    }
  });

  it('a failing RUN step rejects with StreamError naming the command and its exit code', async () => {
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo about to fail && exit 3\n` });
    const err = await docker.images.build(root, { forceRm: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).message).toMatch(/echo about to fail && exit 3/);
    if (ENGINE.podman) {
      // buildah: `building at STEP "RUN ...": while running runtime: exit status 3`, no error code
      expect((err as StreamError).message).toMatch(/while running runtime: exit status 3/);
      expect((err as StreamError).errorCode).toBeUndefined();
    } else {
      expect((err as StreamError).message).toMatch(/non-zero code: 3/);
      expect((err as StreamError).errorCode).toBe(3);
    }
    expect((err as StreamError).operationId).toBe('ImageBuild');
  });

  it('build args, labels, a target stage, and several tags', async () => {
    const root = await contextDir({
      Dockerfile: [
        `FROM ${TEST_IMAGE} AS base`,
        'ARG GREETING=none',
        'RUN echo "$GREETING" > /greeting',
        `LABEL ${TEST_LABEL}=true`,
        'FROM base AS final',
        'RUN echo final > /final',
        '',
      ].join('\n'),
    });
    const first = tagName('target');
    const second = tagName('target2');
    const result = await docker.images.build(root, { tags: [first, second], target: 'base', buildArgs: { GREETING: 'hello from a build arg' }, labels: { 'dockhand.case': 'target' } });
    const image = await docker.images.inspect(first);
    expect(result.aux).toEqual([{ ID: image.Id }]);
    // buildah adds a label of its own
    expect(image.Config!.Labels).toEqual({ [TEST_LABEL]: 'true', 'dockhand.case': 'target', ...(ENGINE.podman ? { 'io.buildah.version': expect.any(String) } : {}) });
    expect((await docker.images.inspect(second)).Id).toBe(image.Id);
    const id = await containerOf(first);
    expect(await readFile(id, '/greeting')).toBe('hello from a build arg\n');
    await expect(docker.containers.statPath(id, '/final')).rejects.toThrow(NotFoundError); // the final stage was not built
  });

  it('aborting a build rejects with AbortError', async () => {
    if (ENGINE.podman) {
      // Podman does not cancel a build whose client went away: the RUN step runs to its end (so
      // it is short here), then the build stops without making an image. buildah's step
      // containers are not in the Docker API's lists: what is checked is that no image came of it.
      const mark = uniqueName('aborted');
      const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN sleep 3\nLABEL ${TEST_LABEL}=true\n` });
      const controller = new AbortController();
      const started = Date.now();
      const onProgress = (m: BuildMessage): void => {
        if (/^STEP 2\/\d+: RUN sleep 3/.test(m.stream ?? '')) controller.abort();
      };
      const build = docker.images.build(root, { forceRm: true, noCache: true, labels: { ...labels(), 'dockhand.case': mark }, signal: controller.signal, onProgress });
      await expect(build).rejects.toMatchObject({ code: 'ABORTED' });
      expect(controller.signal.aborted).toBe(true);
      expect(Date.now() - started).toBeLessThan(3_000);
      await new Promise((r) => setTimeout(r, 6_000));
      const images = await docker.images.list({ all: true, filters: { label: [`dockhand.case=${mark}`] } });
      for (const i of images) created.image(i.Id);
      expect(images).toEqual([]);
      return;
    }
    const root = await contextDir({ Dockerfile: `FROM ${TEST_IMAGE}\nRUN sleep 30\nLABEL ${TEST_LABEL}=true\n` });
    const controller = new AbortController();
    const started = Date.now();
    let running: string | undefined;
    const onProgress = (m: BuildMessage): void => {
      running ??= /Running in ([0-9a-f]+)/.exec(m.stream ?? '')?.[1];
      if (running) controller.abort();
    };
    await expect(docker.images.build(root, { forceRm: true, noCache: true, signal: controller.signal, onProgress })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - started).toBeLessThan(20_000);
    // the engine cancels the step and removes its container by itself
    expect(running).toBeDefined();
    await waitUntil(
      () => docker.containers.inspect(running!).then(() => 'present', (e: unknown) => (e instanceof NotFoundError ? 'gone' : 'present')),
      (v) => v === 'gone',
      15_000,
      'the engine to remove the cancelled step container',
    );
  });

  it('a Dockerfile error is a StreamError too; an unknown base image as well', async () => {
    const root = await contextDir({ Dockerfile: 'FROM dockhand-test/no-such-image:never\n' });
    await expect(docker.images.build(root)).rejects.toThrow(StreamError);
  });
});
