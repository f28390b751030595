import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Docker, DockerError, NotFoundError, ServerError } from '../../src/index.js';
import { Created, ENGINE, TEST_IMAGE, TEST_LABEL, answeredId, labels, readBytes, readJsonLines, shownName, uniqueName } from '../support/engine.js';
import { tar } from '../support/tar.js';

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(() => docker.close());

interface Progress {
  status?: string;
  error?: string;
  errorDetail?: unknown;
}

/** Imports a one-file rootfs; returns the new image's id and the archive sent. */
async function importImage(opts: { repo?: string; tag?: string; changes?: string[]; content?: string; stream?: boolean } = {}) {
  const content = opts.content ?? `hello from ${uniqueName('img')}\n`;
  const archive = tar([{ name: 'hello.txt', data: content }]);
  const progress = await docker.api.ImageCreate({
    fromSrc: '-',
    ...(opts.repo ? { repo: opts.repo } : {}),
    ...(opts.tag ? { tag: opts.tag } : {}),
    changes: opts.changes ?? [`LABEL ${TEST_LABEL}=true`],
    inputImage: opts.stream ? Readable.from([archive.subarray(0, 700), archive.subarray(700)]) : archive,
  });
  expect(progress.statusCode).toBe(200);
  const lines = await readJsonLines<Progress>(progress);
  expect(lines.filter((l) => 'error' in l || 'errorDetail' in l)).toEqual([]);
  // the last progress line of an import is the new image's id
  const id = lines.at(-1)?.status;
  expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
  created.image(id!);
  if (opts.repo) created.image(`${opts.repo}:${opts.tag ?? 'latest'}`);
  return { id: id!, archive, content };
}

/**
 * dockerd counts the bytes of the image's files; Podman its storage: the layer as the tar it was
 * given, and the image's config and manifest on top.
 */
function expectImportedSize(size: number, archive: Buffer, contentBytes: number): void {
  if (ENGINE.podman) expect(size).toBeGreaterThan(archive.length);
  else expect(size).toBe(contentBytes);
}

describe('images', () => {
  it('imports a tar (fromSrc "-") with a LABEL change, and inspects it', async () => {
    const repo = 'dockhand-test/imported';
    const { id, archive, content } = await importImage({ repo, tag: 't1' });
    const image = await docker.images.inspect(`${repo}:t1`);
    expect(image.Id).toBe(id);
    expect(image.RepoTags).toEqual([shownName(`${repo}:t1`)]);
    expect(image.Config!.Labels).toEqual({ [TEST_LABEL]: 'true' });
    expect(image.Os).toBe('linux');
    // one layer, whose diff id is the digest of exactly the bytes we sent
    expect(image.RootFS!.Type).toBe('layers');
    expect(image.RootFS!.Layers).toEqual([`sha256:${createHash('sha256').update(archive).digest('hex')}`]);
    expectImportedSize(image.Size!, archive, Buffer.byteLength(content));
    // by id too
    expect((await docker.images.inspect(id)).RepoTags).toEqual([shownName(`${repo}:t1`)]);
  });

  it('imports from a Readable stream body', async () => {
    const content = 'streamed\n';
    const { id, archive } = await importImage({ repo: 'dockhand-test/streamed', tag: 's', content, stream: true });
    const image = await docker.images.inspect(id);
    expect(image.RepoTags).toEqual([shownName('dockhand-test/streamed:s')]);
    expect(image.RootFS!.Layers).toEqual([`sha256:${createHash('sha256').update(archive).digest('hex')}`]);
    expectImportedSize(image.Size!, archive, content.length);
  });

  it('lists the history of an image', async () => {
    const { id } = await importImage({ repo: 'dockhand-test/history', tag: 'h' });
    const history = await docker.images.history('dockhand-test/history:h');
    expect(history).toHaveLength(1);
    expect(history[0]!.Id).toBe(answeredId(id));
    // Podman 4.3 gives no tags in a history, and its own comment for an import
    expect(history[0]!.Tags).toEqual(ENGINE.podman ? null : ['dockhand-test/history:h']);
    expect(history[0]!.Comment).toBe(ENGINE.podman ? 'imported from tarball' : 'Imported from -');

    const base = await docker.images.history(TEST_IMAGE);
    expect(base.length).toBeGreaterThanOrEqual(1);
    expect(base[0]!.Id).toBe(answeredId((await docker.images.inspect(TEST_IMAGE)).Id!));
  });

  it('tags an image: the new name resolves to the same id', async () => {
    const { id } = await importImage({ repo: 'dockhand-test/imported', tag: 'for-tag' });
    const repo = 'dockhand-test/tagged';
    const tag = uniqueName('x').slice(-12);
    created.image(`${repo}:${tag}`);
    expect(await docker.images.tag('dockhand-test/imported:for-tag', { repo, tag })).toBeUndefined();
    const tagged = await docker.images.inspect(`${repo}:${tag}`);
    expect(tagged.Id).toBe(id);
    expect([...tagged.RepoTags!].sort()).toEqual(['dockhand-test/imported:for-tag', `${repo}:${tag}`].map(shownName).sort());
  });

  it('lists with filters: reference and label', async () => {
    const { id } = await importImage({ repo: 'dockhand-test/listed', tag: 'l' });
    const byRef = await docker.images.list({ filters: { reference: ['dockhand-test/listed'] } });
    expect(byRef.map((i) => i.Id)).toEqual([id]);
    expect(byRef[0]!.RepoTags).toEqual([shownName('dockhand-test/listed:l')]);
    expect(byRef[0]!.Labels).toEqual({ [TEST_LABEL]: 'true' });

    const byLabel = await docker.images.list({ filters: { label: [`${TEST_LABEL}=true`] } });
    expect(byLabel.map((i) => i.Id)).toContain(id);
    // the test image carries no test label
    const base = await docker.images.inspect(TEST_IMAGE);
    expect(byLabel.map((i) => i.Id)).not.toContain(base.Id);
  });

  it('removes: untagging one of two names, then deleting the image', async () => {
    const { id } = await importImage({ repo: 'dockhand-test/removed', tag: 'a' });
    await docker.images.tag(id, { repo: 'dockhand-test/removed', tag: 'b' });
    created.image('dockhand-test/removed:b');

    expect(await docker.images.remove('dockhand-test/removed:b')).toEqual([{ Untagged: shownName('dockhand-test/removed:b') }]);
    expect((await docker.images.inspect(id)).RepoTags).toEqual([shownName('dockhand-test/removed:a')]);

    const res = await docker.images.remove('dockhand-test/removed:a');
    // dockerd lists the untag first; Podman the deletion
    expect(res.at(ENGINE.podman ? -1 : 0)).toEqual({ Untagged: shownName('dockhand-test/removed:a') });
    expect(res).toContainEqual({ Deleted: answeredId(id) });
    expect(res.every((r) => (r.Untagged === undefined) !== (r.Deleted === undefined))).toBe(true);
    await expect(docker.images.inspect(id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('prunes exactly the dangling images carrying the filter label', async () => {
    const mark = uniqueName('prune');
    const changes = [`LABEL ${TEST_LABEL}=true`, `LABEL dockhand.prune=${mark}`];
    // no repo: the imported image is dangling from the start
    const { id: dangling } = await importImage({ changes });
    expect((await docker.images.inspect(dangling)).RepoTags).toEqual([]);
    // same labels but tagged: not dangling, so it stays
    const { id: tagged } = await importImage({ repo: 'dockhand-test/kept', tag: 'k', changes });

    const listed = await docker.images.list({ filters: { dangling: ['true'], label: [`dockhand.prune=${mark}`] } });
    expect(listed.map((i) => i.Id)).toEqual([dangling]);

    // Podman 4.3 prunes what matches ANY of the labels: only the label unique to this test keeps
    // the prune to this test's images there
    const label = ENGINE.podman ? [`dockhand.prune=${mark}`] : [`${TEST_LABEL}=true`, `dockhand.prune=${mark}`];
    const res = await docker.images.prune({ filters: { dangling: ['true'], label } });
    expect(res.ImagesDeleted).toContainEqual({ Deleted: answeredId(dangling) });
    expect(res.ImagesDeleted!.some((r) => r.Deleted === answeredId(tagged) || r.Untagged !== undefined)).toBe(false);
    expect(res.SpaceReclaimed).toBeGreaterThan(0);
    await expect(docker.images.inspect(dangling)).rejects.toBeInstanceOf(NotFoundError);
    expect((await docker.images.inspect(tagged)).RepoTags).toEqual([shownName('dockhand-test/kept:k')]);
  });

  it('answers a prune that matches nothing with ImagesDeleted null and nothing reclaimed', async () => {
    const res = await docker.images.prune({ filters: { label: [`dockhand.prune=${uniqueName('none')}`] } });
    // dockerd sends null (the generated type says the field is optional, never null); Podman []
    expect(res.ImagesDeleted).toEqual(ENGINE.podman ? [] : null);
    expect(res.SpaceReclaimed).toBe(0);
  });

  it('commits a container to a labelled image, with a comment and changes', async () => {
    const container = await created.createContainer({ Cmd: ['sh', '-c', 'echo committed > /f'] });
    await docker.containers.start(container);
    await docker.containers.wait(container);
    const repo = 'dockhand-test/committed';
    created.image(`${repo}:c`);
    const res = await docker.images.commit({ container, repo, tag: 'c', comment: 'by the engine suite', changes: `LABEL ${TEST_LABEL}=true\nENV DOCKHAND=1` });
    // Podman answers the id without `sha256:`, and refuses such a bare id with a 500 (not a 404)
    // once the image is gone: cleanup removes it by its full id
    const fullId = ENGINE.podman ? `sha256:${res.Id}` : res.Id!;
    created.image(fullId);
    expect(res.Id).toMatch(ENGINE.podman ? /^[0-9a-f]{64}$/ : /^sha256:[0-9a-f]{64}$/);
    const image = await docker.images.inspect(`${repo}:c`);
    expect(image.Id).toBe(fullId);
    expect(image.Comment).toBe('by the engine suite');
    expect(image.Config!.Labels).toEqual(labels()); // the container's labels, and LABEL of the changes
    expect(image.Config!.Env).toContain('DOCKHAND=1');
    expect(image.Config!.Cmd).toEqual(['sh', '-c', 'echo committed > /f']);
    // one more layer than the test image: the container's /f
    const base = await docker.images.inspect(TEST_IMAGE);
    expect(image.RootFS!.Layers!.length).toBe(base.RootFS!.Layers!.length + 1);
  });

  it('saves an image as a tar (get) and loads it back (load): same id', async () => {
    const name = 'dockhand-test/saved:s';
    const { id } = await importImage({ repo: 'dockhand-test/saved', tag: 's' });
    const saved = await docker.images.get(name);
    // Podman 4.3 labels the tar application/octet
    expect(saved.headers['content-type']).toBe(ENGINE.podman ? 'application/octet; charset=us-ascii' : 'application/x-tar');
    const archive = await readBytes(saved);
    expect(archive.length % 512).toBe(0);
    expect(archive.includes(Buffer.from('manifest.json'))).toBe(true);

    await docker.images.remove(name);
    await expect(docker.images.inspect(id)).rejects.toBeInstanceOf(NotFoundError);

    const loaded = await docker.api.ImageLoad({ imagesTarball: archive, quiet: true });
    const lines = await readJsonLines<{ stream?: string; error?: string }>(loaded);
    // Podman ends the line without a newline
    expect(lines).toEqual([{ stream: `Loaded image: ${shownName(name)}${ENGINE.podman ? '' : '\n'}` }]);
    const image = await docker.images.inspect(name);
    expect(image.Id).toBe(id);
    expect(image.Config!.Labels).toEqual({ [TEST_LABEL]: 'true' });
  });

  it('saves an image to a file (images.save) and loads it back from the file (images.load({ file })): same id, no file left behind', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'dockhand-save-'));
    try {
      const name = 'dockhand-test/saved-file:f';
      const { id } = await importImage({ repo: 'dockhand-test/saved-file', tag: 'f' });
      const file = join(dir, 'image.tar');
      await docker.images.save(name, file);
      expect(readdirSync(dir)).toEqual(['image.tar']); // the temporary file was renamed
      const archive = readFileSync(file);
      expect(archive.length % 512).toBe(0);
      expect(archive.includes(Buffer.from('manifest.json'))).toBe(true);

      await docker.images.remove(name);
      await expect(docker.images.inspect(id)).rejects.toBeInstanceOf(NotFoundError);
      await docker.images.load({ file }, { quiet: true });
      const image = await docker.images.inspect(name);
      expect(image.Id).toBe(id);
      expect(image.Config!.Labels).toEqual({ [TEST_LABEL]: 'true' });
      // the handle binds the name
      await docker.image(name).save(join(dir, 'again.tar'));
      expect(readFileSync(join(dir, 'again.tar')).includes(Buffer.from('manifest.json'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('saves two images into one file (others) and loads both back', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'dockhand-save-'));
    try {
      const a = await importImage({ repo: 'dockhand-test/saved-two', tag: 'a', content: `a ${uniqueName('a')}\n` });
      const b = await importImage({ repo: 'dockhand-test/saved-two', tag: 'b', content: `b ${uniqueName('b')}\n` });
      const file = join(dir, 'two.tar');
      await docker.images.save('dockhand-test/saved-two:a', file, { others: ['dockhand-test/saved-two:b'] });
      await docker.images.remove('dockhand-test/saved-two:a');
      await docker.images.remove('dockhand-test/saved-two:b');
      await docker.images.load({ file });
      expect((await docker.images.inspect('dockhand-test/saved-two:a')).Id).toBe(a.id);
      expect((await docker.images.inspect('dockhand-test/saved-two:b')).Id).toBe(b.id);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('save of a missing image: NotFoundError and no file; save into a missing folder and load of a missing file: LOCAL_IO with the system error', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'dockhand-save-'));
    try {
      await expect(docker.images.save('dockhand-test/no-such-image:x', join(dir, 'x.tar'))).rejects.toBeInstanceOf(NotFoundError);
      expect(readdirSync(dir)).toEqual([]);
      const saveErr = await docker.images.save(TEST_IMAGE, join(dir, 'missing', 'x.tar')).catch((e: unknown) => e);
      expect(saveErr).toBeInstanceOf(DockerError);
      expect(saveErr).toMatchObject({ code: 'LOCAL_IO', cause: { code: 'ENOENT' } });
      const loadErr = await Promise.resolve(docker.images.load({ file: join(dir, 'missing.tar') })).catch((e: unknown) => e);
      expect(loadErr).toBeInstanceOf(DockerError);
      expect(loadErr).toMatchObject({ code: 'LOCAL_IO', operationId: 'ImageLoad', cause: { code: 'ENOENT' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an import of something that is not a tar with the engine\'s 500 (ServerError)', async () => {
    created.image('dockhand-test/broken:b');
    const err = await docker.api
      .ImageCreate({
        fromSrc: '-',
        repo: 'dockhand-test/broken',
        tag: 'b',
        changes: [`LABEL ${TEST_LABEL}=true`],
        inputImage: Buffer.from('this is not a tar archive'.repeat(40)),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ statusCode: 500, code: 'SERVER_ERROR', operationId: 'ImageCreate' });
    expect((err as Error).message).toContain('invalid tar header');
    await expect(docker.images.inspect('dockhand-test/broken:b')).rejects.toBeInstanceOf(NotFoundError);
  });
});
