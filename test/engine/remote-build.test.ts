/**
 * Builds from a remote context: the test serves a tar over HTTP (node:http on 127.0.0.1, a random
 * port) and passes its URL to docker.images.build. The engine fetches the context itself
 * (dockerd shares the host's network namespace): dockhand sends `remote=<url>` and no body.
 * Images and containers are labelled and removed after each test, passed or failed.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Docker, NotFoundError, StreamError, type TransportRequest } from '../../src/index.js';
import type { BuildMessage } from '../../src/operations/build.js';
import { Created, ENGINE, RUN_ID, RUN_LABEL, RecordingTransport, TEST_HTTP_PORT, TEST_IMAGE, TEST_LABEL, labels, uniqueName } from '../support/engine.js';
import { tar } from '../support/tar.js';

const DOCKERFILE = `FROM ${TEST_IMAGE}\nRUN echo remote > /remote.txt\nLABEL ${TEST_LABEL}=true\n`;
const CONTEXT = tar([{ name: 'Dockerfile', data: DOCKERFILE }]);

/** Records, besides the path, whether each request had a body and its content type. */
class BodyRecordingTransport extends RecordingTransport {
  readonly requests: { method: string; path: string; body: boolean; contentType: string | undefined }[] = [];
  override request(req: TransportRequest) {
    const contentType = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
    this.requests.push({ method: req.method, path: req.path, body: req.body !== undefined, contentType });
    return super.request(req);
  }
}

const transport = new BodyRecordingTransport();
const docker = new Docker({ transport });
const created = new Created(docker);

/** What the context server saw: method, url and headers of each request. */
const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (req.method === 'GET' && req.url === '/ctx.tar') {
      res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': CONTEXT.length });
      res.end(CONTEXT);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no such context');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(TEST_HTTP_PORT, '127.0.0.1', resolve);
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  seen.length = 0;
  transport.requests.length = 0;
  await created.cleanup();
});

afterAll(async () => {
  try {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  } finally {
    await docker.close();
  }
});

/** The ImageBuild requests dockhand sent, with their query. */
function buildRequests() {
  return transport.requests.filter((r) => r.method === 'POST' && /^\/v[\d.]+\/build\?/.test(r.path)).map((r) => ({ ...r, query: new URLSearchParams(r.path.slice(r.path.indexOf('?') + 1)) }));
}

/**
 * Podman 4.3 reads `remote` on its own API only (/libpod/build), not on the Docker one: it never
 * fetches the URL, looks for the Dockerfile in the (empty) body instead, and says so in the
 * stream, after a 200.
 */
async function expectRemoteIgnored(build: PromiseLike<unknown>, url: string, tag: string): Promise<void> {
  const err = await Promise.resolve(build).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StreamError);
  expect(err).toMatchObject({ code: 'STREAM_ERROR', operationId: 'ImageBuild' });
  expect((err as Error).message).toMatch(/^stat \/\S+\/libpod_builder\d+\/build\/Dockerfile: no such file or directory/);
  // dockhand sent the URL as `remote`, and no body; nobody fetched it
  const sent = buildRequests();
  expect(sent).toHaveLength(1);
  expect(sent[0]!.query.get('remote')).toBe(url);
  expect(sent[0]!.body).toBe(false);
  expect(seen).toEqual([]);
  await expect(docker.images.inspect(tag)).rejects.toBeInstanceOf(NotFoundError);
}

describe('images.build from a remote (URL) context', () => {
  it('hands the URL to the engine, which fetches the tar once and builds it', async () => {
    const url = `${base}/ctx.tar`;
    const tag = created.image(`dockhand-test/remote:${uniqueName('remote')}`);
    const messages: BuildMessage[] = [];
    // the Dockerfile sets the test label; the build adds the run's (the classic builder: one more step)
    const build = docker.images.build(url, { tags: [tag], labels: { [RUN_LABEL]: RUN_ID }, onProgress: (m) => messages.push(m) });
    if (ENGINE.podman) return expectRemoteIgnored(build, url, tag);
    const result = await build;

    // the result: the image id in aux, the tag in the last message
    expect(result.aux).toEqual([{ ID: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) }]);
    const id = (result.aux[0] as { ID: string }).ID;
    created.image(id);
    expect(result.last).toEqual({ stream: `Successfully tagged ${tag}\n` });
    // the engine reports its download of the context first
    expect(messages[0]).toMatchObject({ id: 'Downloading context', status: url });
    expect(messages.filter((m) => m.stream?.startsWith('Step ')).map((m) => m.stream)).toEqual([
      `Step 1/4 : FROM ${TEST_IMAGE}`,
      'Step 2/4 : RUN echo remote > /remote.txt',
      `Step 3/4 : LABEL ${TEST_LABEL}=true`,
      `Step 4/4 : LABEL ${RUN_LABEL}=${RUN_ID}`,
    ]);

    // dockhand sent the URL as `remote`, and no body
    const sent = buildRequests();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.query.get('remote')).toBe(url);
    expect(sent[0]!.query.getAll('t')).toEqual([tag]);
    expect(sent[0]!.body).toBe(false);
    expect(sent[0]!.contentType).not.toBe('application/x-tar');

    // the engine fetched it: exactly one GET of the tar
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /ctx.tar']);
    expect(seen[0]!.headers['user-agent']).toMatch(/^Go-http-client\//);

    // the image: tagged, with the Dockerfile's label and the build's
    const image = await docker.images.inspect(tag);
    expect(image.Id).toBe(id);
    expect(image.Config?.Labels).toEqual(labels());

    // the RUN step ran: /remote.txt is in the image
    const container = created.container((await docker.containers.create({ body: { Image: tag, Cmd: ['true'], Labels: labels() } })).Id);
    const stat = await docker.containers.statPath(container, '/remote.txt');
    expect(stat).toMatchObject({ name: 'remote.txt', size: 'remote\n'.length, isDirectory: false, isSymlink: false });
  });

  it('rejects when the context URL answers 404: NotFoundError with the engine message, nothing built', async () => {
    const url = `${base}/missing.tar`;
    const tag = created.image(`dockhand-test/remote:${uniqueName('missing')}`);
    if (ENGINE.podman) return expectRemoteIgnored(docker.images.build(url, { tags: [tag], labels: labels() }), url, tag);
    const err = await docker.images.build(url, { tags: [tag], labels: labels() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ code: 'NOT_FOUND', statusCode: 404, operationId: 'ImageBuild' });
    expect((err as Error).message).toBe(`error downloading remote context ${url}: failed to GET ${url} with status 404 Not Found: no such context`);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /missing.tar']);
    expect(buildRequests()).toHaveLength(1);
    await expect(docker.images.inspect(tag)).rejects.toBeInstanceOf(NotFoundError);
  });
});
