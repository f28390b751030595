/**
 * Push and pull through real registries: `scripts/registry.sh up --auth` runs Debian's
 * docker-registry on 127.0.0.1:5000 (no auth) and 127.0.0.1:5001 (htpasswd basic auth). The engine
 * treats 127.0.0.0/8 registries as insecure (plain HTTP) by default. Without them this file fails
 * in beforeAll: it never skips.
 *
 * Registry content is left behind (every repository or tag name is unique to the run); local
 * images are removed by tag after each test, passed or failed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, Docker, NotFoundError, type AuthConfig } from '../../src/index.js';
import { StreamError } from '../../src/streams/demux.js';
import type { ProgressMessage, ProgressModel } from '../../src/streams/progress.js';
import { Created, ENGINE, TEST_IMAGE, TEST_LABEL, answeredId, waitUntil } from '../support/engine.js';
import { tar } from '../support/tar.js';
import { expectRegistryRefusal } from '../support/registry-answers.js';

const REGISTRY = '127.0.0.1:5000';
const AUTH_REGISTRY = '127.0.0.1:5001';
const CREDENTIALS: AuthConfig = { username: 'dockhand', password: 'dockhand-secret', serveraddress: AUTH_REGISTRY };
const MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
/** Statuses of a layer the push did its job for: uploaded, found in the repository, or mounted from another one. */
const LAYER_PUSHED = /^(Pushed|Layer already exists|Mounted from \S+)$/;

/** Part of every tag and repository name this run makes, so runs never collide. */
const RUN = randomBytes(4).toString('hex');
let counter = 0;
const unique = (prefix: string): string => `${prefix}-${RUN}-${++counter}`;

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(async () => {
  try {
    // Tags on the shared test image are removed one by one; none of this run's may be left.
    const base = await docker.images.inspect(TEST_IMAGE);
    expect((base.RepoTags ?? []).filter((t) => t.includes(RUN))).toEqual([]);
  } finally {
    await docker.close();
  }
});

function basicAuth(auth: AuthConfig): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

/** Fails (never skips) unless the registry answers GET /v2/ with 200. */
async function requireRegistry(address: string, command: string, auth?: AuthConfig): Promise<void> {
  let problem: string;
  try {
    const res = await fetch(`http://${address}/v2/`, {
      headers: auth ? { authorization: basicAuth(auth) } : {},
      signal: AbortSignal.timeout(5_000),
    });
    await res.body?.cancel();
    if (res.status === 200) return;
    problem = `GET /v2/ answered ${res.status}`;
  } catch (err) {
    problem = (err as Error).message;
  }
  throw new Error(`registry suite: no registry answers on http://${address}/v2/ (${problem}). Start it with \`${command}\`.`);
}

/** The digest the registry itself gives for a tag (HEAD on the manifest). */
async function registryDigest(address: string, path: string, tag: string, auth?: AuthConfig): Promise<string | null> {
  const res = await fetch(`http://${address}/v2/${path}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: MANIFEST_V2, ...(auth ? { authorization: basicAuth(auth) } : {}) },
    signal: AbortSignal.timeout(5_000),
  });
  expect(res.status).toBe(200);
  return res.headers.get('docker-content-digest');
}

interface PushAux {
  Tag: string;
  Digest: string;
  Size: number;
}

function expectPushAux(aux: unknown[], tag: string): PushAux {
  expect(aux).toHaveLength(1);
  const result = aux[0] as PushAux;
  expect(result).toEqual({ Tag: tag, Digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), Size: expect.any(Number) });
  expect(result.Size).toBeGreaterThan(0);
  return result;
}

/**
 * What a push made: its aux (dockerd), or on Podman, which sends no aux, its last message, the
 * `<tag>: digest: <digest> size: <size>` line dockerd sends too.
 */
function expectPushed(result: { aux: unknown[]; last?: ProgressMessage | undefined }, tag: string): PushAux {
  if (!ENGINE.podman) return expectPushAux(result.aux, tag);
  expect(result.aux).toEqual([]);
  const line = /^(\S+): digest: (sha256:[0-9a-f]{64}) size: (\d+)$/.exec(result.last?.status ?? '');
  expect(line?.[1], JSON.stringify(result.last)).toBe(tag);
  const pushed = { Tag: tag, Digest: line![2]!, Size: Number(line![3]) };
  expect(pushed.Size).toBeGreaterThan(0);
  return pushed;
}

/** How a push names the repository: Podman adds the tag. */
const pushRefers = (repo: string, tag: string): ProgressMessage => ({ status: `The push refers to repository [${repo}${ENGINE.podman ? `:${tag}` : ''}]` });

/**
 * The last message of a pull. dockerd ends with a `Status:` line; Podman 4.3 imitates dockerd's
 * messages coarsely (per blob `Already exists`, `Pulling fs layer`, `Download complete`, without
 * byte counts or Pulling from / Digest / Status lines) and ends with the image's config, under
 * the short image id.
 */
function lastPulled(dockerd: string, id: string): ProgressMessage {
  return ENGINE.podman ? { status: 'Download complete', progressDetail: {}, id: id.slice('sha256:'.length, 'sha256:'.length + 12) } : { status: dockerd };
}

/** The statuses of a Podman pull (see lastPulled). */
const PODMAN_PULL_STATUSES = ['Already exists', 'Pulling fs layer', 'Download complete'];

/** Tags the shared test image as `repo:tag` (a tag only: cleanup untags it, the image stays). */
async function tagTestImage(repo: string, tag: string): Promise<string> {
  created.image(`${repo}:${tag}`);
  await docker.images.tag(TEST_IMAGE, { repo, tag });
  return `${repo}:${tag}`;
}

/**
 * Imports a one-layer image of `size` random bytes (so its layer exists nowhere else), labelled
 * with the test label, as `repo:tag`; returns its ref, id and layer diff id.
 */
async function importRandom(repo: string, tag: string, size: number) {
  const archive = tar([{ name: 'random.bin', data: randomBytes(size) }]);
  const ref = created.image(`${repo}:${tag}`);
  await docker.images.import(archive, { repo, tag, changes: [`LABEL ${TEST_LABEL}=true`] });
  const image = await docker.images.inspect(ref);
  const id = image.Id!;
  expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
  created.image(id);
  const diffId = `sha256:${createHash('sha256').update(archive).digest('hex')}`;
  expect(image.RootFS!.Layers).toEqual([diffId]);
  return { ref, id, diffId };
}

/** Pushes `repo:tag` (awaiting it) and removes it locally, so a pull has to download it all. */
async function pushAndForget(repo: string, tag: string): Promise<PushAux> {
  const pushed = expectPushed(await docker.images.push(repo, { tag }), tag);
  await docker.images.remove(`${repo}:${tag}`, { force: true });
  await expect(docker.images.inspect(`${repo}:${tag}`)).rejects.toBeInstanceOf(NotFoundError);
  return pushed;
}

describe(`registry on ${REGISTRY}`, () => {
  beforeAll(() => requireRegistry(REGISTRY, 'bash scripts/registry.sh up'));

  it('pushes a tag (iterated: per-layer statuses, then Tag, Digest and Size) and pulls it back by tag and by digest', async () => {
    const repo = `${REGISTRY}/dockhand-test/busybox`;
    const tag = unique('push');
    const ref = await tagTestImage(repo, tag);
    const base = await docker.images.inspect(TEST_IMAGE);
    const layerCount = base.RootFS!.Layers!.length;

    const push = docker.images.push(repo, { tag });
    const messages: ProgressMessage[] = [];
    for await (const message of push) messages.push(message);

    expect(messages[0]).toEqual(pushRefers(repo, tag));
    expect(messages.filter((m) => m.error !== undefined || m.errorDetail !== undefined)).toEqual([]);
    if (ENGINE.podman) {
      // Podman reports no layer in a push: the repository line, then the digest line
      expect(messages).toHaveLength(2);
      expect(push.progress.layers.size).toBe(0);
    } else {
      // every layer ends Pushed / Layer already exists / Mounted from <repo> (the registry keeps
      // content across runs, so which one depends on what earlier runs pushed)
      const done = messages.filter((m) => m.id !== undefined && LAYER_PUSHED.test(m.status ?? ''));
      expect(new Set(done.map((m) => m.id)).size).toBe(layerCount);
      for (const m of done) {
        expect(m.id).toMatch(/^[0-9a-f]{12}$/);
        expect(push.progress.layers.get(m.id!)!.status).toBe(m.status);
      }
    }
    // awaiting after the loop gives the same summary
    const result = await push;
    const pushed = ENGINE.podman ? expectPushed(result, tag) : expectPushAux(messages.filter((m) => m.aux !== undefined).map((m) => m.aux), tag);
    expect(messages).toContainEqual({ status: `${tag}: digest: ${pushed.Digest} size: ${pushed.Size}` });
    expect(result.messages).toBe(messages.length);
    expect(result.aux).toEqual(ENGINE.podman ? [] : [pushed]);
    // the registry serves that manifest under that tag
    expect(await registryDigest(REGISTRY, 'dockhand-test/busybox', tag)).toBe(pushed.Digest);

    // remove the tag (the image stays: the test image keeps its own tag) and pull it back
    expect(await docker.images.remove(ref)).toEqual(expect.arrayContaining([{ Untagged: ref }]));
    await expect(docker.images.inspect(ref)).rejects.toBeInstanceOf(NotFoundError);
    const pullMessages: ProgressMessage[] = [];
    const pull = docker.images.pull(ref, {}, { onProgress: (m) => pullMessages.push(m) });
    const pulled = await pull;
    // the image (config and layers) is still local: dockerd reports no layer at all; Podman the
    // layers as there already, and the config as copied
    if (ENGINE.podman) {
      expect(pullMessages.map((m) => m.status).filter((s) => !PODMAN_PULL_STATUSES.includes(s!))).toEqual([]);
      expect(pullMessages.filter((m) => m.id !== pulled.last?.id).map((m) => m.status)).toEqual(Array(layerCount).fill('Already exists'));
    } else {
      expect(pullMessages).toEqual([
        { status: 'Pulling from dockhand-test/busybox', id: tag },
        { status: `Digest: ${pushed.Digest}` },
        { status: `Status: Downloaded newer image for ${ref}` },
      ]);
    }
    expect(pulled.last).toEqual(lastPulled(`Status: Downloaded newer image for ${ref}`, base.Id!));
    const image = await docker.images.inspect(ref);
    expect(image.Id).toBe(base.Id);
    expect(image.RepoDigests).toContain(`${repo}@${pushed.Digest}`);

    // by digest: name@sha256:... is sent as fromImage, with no tag
    const byDigest = created.image(`${repo}@${pushed.Digest}`);
    const again = await docker.images.pull(byDigest);
    expect(again.last).toEqual(lastPulled(`Status: Image is up to date for ${byDigest}`, base.Id!));
    expect((await docker.images.inspect(byDigest)).Id).toBe(base.Id);
  });

  it('pulls a layer the engine does not have: Downloading with byte counts, Pull complete, overall fraction 1, same id and digest', async () => {
    const repo = `${REGISTRY}/dockhand-test/random`;
    const tag = unique('pull');
    const { ref, id, diffId } = await importRandom(repo, tag, 2 * 1024 * 1024);

    // a push of fresh content uploads it, with byte progress
    const pushMessages: ProgressMessage[] = [];
    const push = docker.images.push(repo, { tag }, { onProgress: (m) => pushMessages.push(m) });
    const pushed = expectPushed(await push, tag);
    if (ENGINE.podman) {
      // Podman reports no layer, nor bytes, in a push
      expect(pushMessages.map((m) => m.status)).toEqual([pushRefers(repo, tag).status, `${tag}: digest: ${pushed.Digest} size: ${pushed.Size}`]);
    } else {
      const [pushedLayer] = [...push.progress.layers.entries()];
      expect(push.progress.layers.size).toBe(1);
      expect(pushedLayer![1].status).toBe('Pushed');
      expect(pushMessages.some((m) => m.status === 'Pushing' && m.id === pushedLayer![0] && m.progressDetail!.total! > 0)).toBe(true);
    }

    // forget it locally: image and layer are gone
    const removed = await docker.images.remove(ref, { force: true });
    expect(removed).toContainEqual({ Deleted: answeredId(id) });
    await expect(docker.images.inspect(id)).rejects.toBeInstanceOf(NotFoundError);

    const messages: ProgressMessage[] = [];
    const models = new Set<ProgressModel>();
    const pull = docker.images.pull(ref, {}, {
      onProgress: (message, model) => {
        messages.push(message);
        models.add(model);
      },
    });
    const result = await pull;
    // resolved only once the pull is over: every message was seen, the image is there at once
    const image = await docker.images.inspect(ref);
    expect(image.Id).toBe(id);
    expect(image.RootFS!.Layers).toEqual([diffId]);
    expect(image.RepoDigests).toEqual([`${repo}@${pushed.Digest}`]);
    expect(result.messages).toBe(messages.length);
    expect(result.last).toEqual(lastPulled(`Status: Downloaded newer image for ${ref}`, id));
    expect(models).toEqual(new Set([pull.progress]));
    if (ENGINE.podman) {
      // two blobs, the layer and the config, each pulled then complete; no bytes are reported
      const ids = [...new Set(messages.map((m) => m.id))];
      expect(ids).toHaveLength(2);
      expect(ids).toContain(result.last!.id);
      for (const blob of ids) expect(messages.filter((m) => m.id === blob).map((m) => m.status)).toEqual(expect.arrayContaining(['Pulling fs layer', 'Download complete']));
      expect(messages.map((m) => m.status).filter((s) => !PODMAN_PULL_STATUSES.includes(s!))).toEqual([]);
      expect(pull.progress.overall).toEqual({ current: 0, total: 0, fraction: 0 });
      return;
    }
    expect(messages).toContainEqual({ status: `Digest: ${pushed.Digest}` });

    expect(messages[0]).toEqual({ status: 'Pulling from dockhand-test/random', id: tag });
    const layerIds = messages.filter((m) => m.status === 'Pulling fs layer').map((m) => m.id!);
    expect(layerIds).toHaveLength(1);
    const layerId = layerIds[0]!;
    expect(layerId).toMatch(/^[0-9a-f]{12}$/);
    const downloading = messages.filter((m) => m.status === 'Downloading' && m.id === layerId);
    expect(downloading.length).toBeGreaterThanOrEqual(1);
    for (const m of downloading) {
      expect(m.progressDetail!.current).toBeGreaterThan(0);
      expect(m.progressDetail!.total).toBeGreaterThan(0);
      expect(m.progressDetail!.current).toBeLessThanOrEqual(m.progressDetail!.total!);
    }
    const statuses = messages.filter((m) => m.id === layerId).map((m) => m.status);
    expect(statuses).toContain('Download complete');
    expect(statuses.at(-1)).toBe('Pull complete');

    const layer = pull.progress.layers.get(layerId)!;
    expect(layer.status).toBe('Pull complete');
    // the compressed size: at least the 2 MiB of random bytes (which do not compress)
    expect(layer.total).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    expect(layer.current).toBe(layer.total);
    expect(pull.progress.overall).toEqual({ current: layer.total, total: layer.total, fraction: 1 });
  });

  it('pulls an image whose layer is already local under another image: Already exists, nothing downloaded', async () => {
    const repo = `${REGISTRY}/dockhand-test/random`;
    const archive = tar([{ name: 'random.bin', data: randomBytes(256 * 1024) }]);
    // the same layer under two configs (two labels): two images
    const keepTag = unique('keep');
    const keep = created.image(`${repo}:${keepTag}`);
    const tag = unique('shared');
    const ref = created.image(`${repo}:${tag}`);
    await docker.images.import(archive, { repo, tag: keepTag, changes: [`LABEL ${TEST_LABEL}=true`, 'LABEL which=keep'] });
    await docker.images.import(archive, { repo, tag, changes: [`LABEL ${TEST_LABEL}=true`, 'LABEL which=shared'] });
    const kept = await docker.images.inspect(keep);
    const shared = await docker.images.inspect(ref);
    expect(shared.Id).not.toBe(kept.Id);
    expect(shared.RootFS!.Layers).toEqual(kept.RootFS!.Layers);
    await pushAndForget(repo, tag);

    const messages: ProgressMessage[] = [];
    const pull = docker.images.pull(ref, {}, { onProgress: (m) => messages.push(m) });
    const pulled = await pull;
    // dockerd's first message is about the tag; Podman's last ones about the image's config
    const notLayer = ENGINE.podman ? pulled.last!.id : tag;
    const layerMessages = messages.filter((m) => m.id !== undefined && m.id !== notLayer);
    expect(layerMessages).toEqual([{ status: 'Already exists', progressDetail: {}, id: expect.stringMatching(/^[0-9a-f]{12}$/) }]);
    expect(pull.progress.layers.get(layerMessages[0]!.id!)).toEqual({ status: 'Already exists', current: 0, total: 0 });
    expect(messages.some((m) => m.status === 'Downloading')).toBe(false);
    expect((await docker.images.inspect(ref)).Id).toBe(shared.Id);
  });

  it('rejects a pull of a tag the registry does not have with NotFoundError (404, before any message)', async () => {
    const repo = `${REGISTRY}/dockhand-test/busybox`;
    // the repository exists (this tag is pushed first); the tag asked for does not
    const present = unique('present');
    await tagTestImage(repo, present);
    await docker.images.push(repo, { tag: present });
    const missing = `${repo}:${unique('missing')}`;
    created.image(missing);

    const messages: ProgressMessage[] = [];
    const err = await docker.images.pull(missing, {}, { onProgress: (m) => messages.push(m) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (ENGINE.podman) {
      // Podman answers 200 and reports the registry's 404 in the stream
      expect(err).toBeInstanceOf(StreamError);
      expect(err).toMatchObject({ code: 'STREAM_ERROR', operationId: 'ImageCreate' });
      expect((err as Error).message).toBe(`initializing source docker://${missing}: reading manifest ${missing.slice(repo.length + 1)} in ${repo}: manifest unknown: manifest unknown`);
      expect(messages).toEqual([]);
      await expect(docker.images.inspect(missing)).rejects.toBeInstanceOf(NotFoundError);
      return;
    }
    // 20.10 resolves the manifest before it starts the stream: an HTTP 404, not an in-stream error
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).not.toBeInstanceOf(StreamError);
    expect(err).toMatchObject({ code: 'NOT_FOUND', statusCode: 404, operationId: 'ImageCreate' });
    expect((err as Error).message).toBe(`manifest for ${missing} not found: manifest unknown: manifest unknown`);
    expect(messages).toEqual([]);

    // iterating gives the same error
    const iterated = await (async () => {
      for await (const m of docker.images.pull(missing)) void m;
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(iterated).toBeInstanceOf(NotFoundError);
    expect((iterated as Error).message).toContain(missing);
    await expect(docker.images.inspect(missing)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('pulls latest, and only latest, for a reference without a tag', async () => {
    const path = `dockhand-test/${unique('bare')}`;
    const repo = `${REGISTRY}/${path}`;
    const latest = await importRandom(repo, 'latest', 64 * 1024);
    const other = await importRandom(repo, 'other', 64 * 1024);
    expect(other.id).not.toBe(latest.id);
    await pushAndForget(repo, 'latest');
    await pushAndForget(repo, 'other');

    const result = await docker.images.pull(repo);
    expect(result.last).toEqual(lastPulled(`Status: Downloaded newer image for ${repo}:latest`, latest.id));
    expect((await docker.images.inspect(`${repo}:latest`)).Id).toBe(latest.id);
    // had no tag been sent, the engine would have pulled every tag of the repository
    await expect(docker.images.inspect(`${repo}:other`)).rejects.toBeInstanceOf(NotFoundError);
    await expect(docker.images.inspect(other.id)).rejects.toBeInstanceOf(NotFoundError);
    const listed = await docker.images.list({ filters: { reference: [repo] } });
    expect(listed.map((i) => i.RepoTags)).toEqual([[`${repo}:latest`]]);
  });

  it('cancels a pull with its AbortSignal at the first progress message: AbortError ABORTED', async () => {
    const repo = `${REGISTRY}/dockhand-test/random`;
    const tag = unique('abort');
    const { ref } = await importRandom(repo, tag, 2 * 1024 * 1024);
    await pushAndForget(repo, tag);

    const controller = new AbortController();
    const seen: ProgressMessage[] = [];
    const started = Date.now();
    const pull = docker.images.pull(ref, {}, {
      signal: controller.signal,
      onProgress: (m) => {
        seen.push(m);
        controller.abort();
      },
    });
    const err = await pull.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'ABORTED', timedOut: false, operationId: 'ImageCreate' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    // the stream stopped well before the end of the pull
    expect(seen.map((m) => m.status)).not.toContain('Pull complete');
    expect(seen.some((m) => m.status?.startsWith('Status:'))).toBe(false);
    if (ENGINE.podman) {
      // Podman does not always stop a pull whose client went away: it may finish it a moment
      // later. Give it the time to, so that cleanup finds the image it would make.
      await waitUntil(() => docker.images.inspect(ref).then(() => true, () => false), (present) => present, 5_000, 'the abandoned pull').catch(() => undefined);
    }
  });
});

/** Podman's refusal of a push: `trying to reuse blob <digest> at destination: ...: unauthorized: ...`. */
const PODMAN_BLOB_REFUSED = /^trying to reuse blob sha256:[0-9a-f]{64} at destination: checking whether a blob sha256:[0-9a-f]{64} exists in \S+: unauthorized: authentication required$/;

describe(`registry with basic auth on ${AUTH_REGISTRY}`, () => {
  beforeAll(() => requireRegistry(AUTH_REGISTRY, 'bash scripts/registry.sh up --auth', CREDENTIALS));

  it('pushes and pulls with explicit credentials', async () => {
    const repo = `${AUTH_REGISTRY}/dockhand-test/busybox`;
    const tag = unique('auth');
    const ref = await tagTestImage(repo, tag);

    const push = docker.images.push(repo, { tag, auth: CREDENTIALS });
    const pushed = expectPushed(await push, tag);
    for (const layer of push.progress.layers.values()) expect(layer.status).toMatch(LAYER_PUSHED);
    // Podman reports no layer in a push
    expect(push.progress.layers.size).toBe(ENGINE.podman ? 0 : (await docker.images.inspect(TEST_IMAGE)).RootFS!.Layers!.length);
    expect(await registryDigest(AUTH_REGISTRY, 'dockhand-test/busybox', tag, CREDENTIALS)).toBe(pushed.Digest);

    await docker.images.remove(ref);
    const pulled = await docker.images.pull(ref, { auth: CREDENTIALS });
    const image = await docker.images.inspect(ref);
    expect(pulled.last).toEqual(lastPulled(`Status: Downloaded newer image for ${ref}`, image.Id!));
    expect(image.RepoDigests).toContain(`${repo}@${pushed.Digest}`);
  });

  it('rejects a push with a wrong password in the stream (StreamError), and a pull with a 500 (ServerError); neither shows the password', async () => {
    const repo = `${AUTH_REGISTRY}/dockhand-test/busybox`;
    const tag = unique('denied');
    const ref = await tagTestImage(repo, tag);
    const password = `wrong-${randomBytes(8).toString('hex')}`;
    const wrong: AuthConfig = { ...CREDENTIALS, password };
    const leaks = (err: unknown): boolean =>
      [(err as Error).message, String(err), JSON.stringify(err), inspect(err, { depth: 5 }), (err as Error).stack ?? ''].some((s) => s.includes(password));

    // push: the engine answers 200, then reports the registry's refusal as the stream's last message
    const messages: ProgressMessage[] = [];
    const pushErr = await docker.images.push(repo, { tag, auth: wrong }, { onProgress: (m) => messages.push(m) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(pushErr).toBeInstanceOf(StreamError);
    expect(pushErr).toMatchObject({ code: 'STREAM_ERROR', operationId: 'ImagePush', errorCode: undefined, statusCode: undefined });
    // Podman says which blob it was checking when the registry refused
    if (ENGINE.podman) expect((pushErr as Error).message).toMatch(PODMAN_BLOB_REFUSED);
    else expect((pushErr as Error).message).toBe('unauthorized: authentication required');
    expect(messages[0]).toEqual(pushRefers(repo, tag));
    expect(leaks(pushErr)).toBe(false);

    // without credentials at all: the same path, another message (on Podman the same one)
    const anonymous = await docker.images.push(repo, { tag }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(anonymous).toBeInstanceOf(StreamError);
    if (ENGINE.podman) expect((anonymous as Error).message).toMatch(PODMAN_BLOB_REFUSED);
    else expect((anonymous as Error).message).toBe('no basic auth credentials');

    // pull: the engine fails the request itself, with a 500 (20.10, 26.1) or the registry's 401
    // (28.5); Podman answers 200 and reports the refusal in the stream
    const pullErr = await docker.images.pull(ref, { auth: wrong }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (ENGINE.podman) {
      expect(pullErr).toBeInstanceOf(StreamError);
      expect(pullErr).toMatchObject({ code: 'STREAM_ERROR', operationId: 'ImageCreate' });
      expect((pullErr as Error).message).toBe(`initializing source docker://${ref}: reading manifest ${tag} in ${repo}: unauthorized: authentication required`);
      expect(leaks(pullErr)).toBe(false);
      return;
    }
    expectRegistryRefusal(pullErr, 'ImageCreate', 401);
    expect((pullErr as Error).message).toBe('unauthorized: authentication required');
    expect(leaks(pullErr)).toBe(false);
  });
});
