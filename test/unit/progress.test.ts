import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AbortError, Docker, NotFoundError } from '../../src/index.js';
import { StreamError } from '../../src/streams/demux.js';
import { ProgressModel } from '../../src/streams/progress.js';
import { FakeTransport, type FakeAnswer } from '../support/fake-transport.js';

const lines = (...messages: object[]) => messages.map((m) => JSON.stringify(m) + '\n').join('');

function engine(answer: FakeAnswer | (() => FakeAnswer)) {
  const transport = new FakeTransport(typeof answer === 'function' ? answer : () => answer);
  return { transport, docker: new Docker({ transport, apiVersion: '1.41' }) };
}

const pullMessages = [
  { status: 'Pulling from library/busybox', id: 'latest' },
  { status: 'Pulling fs layer', id: 'l1' },
  { status: 'Pulling fs layer', id: 'l2' },
  { status: 'Downloading', id: 'l1', progressDetail: { current: 50, total: 100 } },
  { status: 'Downloading', id: 'l2', progressDetail: { current: 10, total: 300 } },
  { status: 'Pull complete', id: 'l1', progressDetail: {} },
  { status: 'Downloading', id: 'l2', progressDetail: { current: 300, total: 300 } },
  { status: 'Pull complete', id: 'l2', progressDetail: {} },
  { status: 'Digest: sha256:abc' },
  { status: 'Status: Downloaded newer image for busybox:latest' },
];

describe('progress streams', () => {
  it('pull: sends fromImage and tag latest, resolves at the end with a summary', async () => {
    const { transport, docker } = engine({ status: 200, body: lines(...pullMessages) });
    const result = await docker.images.pull('busybox');
    const url = new URL(transport.calls[0]!.path, 'http://x');
    expect(url.pathname).toBe('/v1.41/images/create');
    expect(url.searchParams.get('fromImage')).toBe('busybox');
    expect(url.searchParams.get('tag')).toBe('latest');
    expect(result.messages).toBe(pullMessages.length);
    expect(result.last).toEqual({ status: 'Status: Downloaded newer image for busybox:latest' });
  });

  it('pull: keeps tags and digests of the reference', async () => {
    const { transport, docker } = engine({ status: 200, body: '' });
    await docker.images.pull('localhost:5000/team/app:1.2');
    await docker.images.pull('localhost:5000/app@sha256:0123');
    const [a, b] = transport.calls.map((c) => new URL(c.path, 'http://x').searchParams);
    expect([a!.get('fromImage'), a!.get('tag')]).toEqual(['localhost:5000/team/app', '1.2']);
    expect([b!.get('fromImage'), b!.get('tag')]).toEqual(['localhost:5000/app@sha256:0123', null]);
  });

  it('iterates typed messages one by one and tracks per-layer progress', async () => {
    const body = Buffer.from(lines(...pullMessages));
    // every message split across chunks of 7 bytes
    const chunks: Buffer[] = [];
    for (let i = 0; i < body.length; i += 7) chunks.push(body.subarray(i, i + 7));
    const { docker } = engine(() => ({ status: 200, body: Readable.from(chunks) }));
    const stream = docker.images.pull('busybox');
    const fractions: number[] = [];
    const statuses: string[] = [];
    for await (const m of stream) {
      statuses.push(m.status ?? '');
      fractions.push(stream.progress.overall.fraction);
    }
    expect(statuses).toEqual(pullMessages.map((m) => m.status));
    expect(stream.progress.layers.get('l1')).toEqual({ status: 'Pull complete', current: 100, total: 100 });
    expect(stream.progress.overall).toEqual({ current: 400, total: 400, fraction: 1 });
    expect(fractions[4]).toBeCloseTo(60 / 400);
    // awaiting after iterating gives the summary of what was iterated
    expect((await stream).messages).toBe(pullMessages.length);
  });

  it('rejects with StreamError when the engine reports an error inside a 200 stream', async () => {
    const { docker } = engine({
      status: 200,
      body: lines({ status: 'Pulling from x' }, { errorDetail: { code: 1, message: 'manifest unknown' }, error: 'manifest unknown' }),
    });
    const err = await docker.images.pull('x').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect(err).toMatchObject({ code: 'STREAM_ERROR', errorCode: 1, message: 'manifest unknown', operationId: 'ImageCreate' });
  });

  it('rejects with the HTTP error before the stream', async () => {
    const { docker } = engine({ status: 404, body: '{"message":"pull access denied for x"}' });
    await expect(docker.images.pull('x')).rejects.toBeInstanceOf(NotFoundError);
    const { docker: d2 } = engine({ status: 404, body: '{"message":"nope"}' });
    const iterate = async () => {
      for await (const m of d2.images.pull('x')) void m;
    };
    await expect(iterate()).rejects.toThrow('nope');
  });

  it('calls onProgress with each message', async () => {
    const { docker } = engine({ status: 200, body: lines(...pullMessages) });
    const seen: number[] = [];
    await docker.images.pull('busybox', {}, { onProgress: (_m, model) => seen.push(model.overall.current) });
    expect(seen).toHaveLength(pullMessages.length);
    expect(seen.at(-1)).toBe(400);
  });

  it('breaking out of the loop closes the stream and rejects the awaitable with AbortError', async () => {
    const body = Readable.from((function* () {
      for (let i = 0; ; i++) yield Buffer.from(JSON.stringify({ status: 'tick', id: String(i) }) + '\n');
    })());
    const { docker } = engine(() => ({ status: 200, body }));
    const stream = docker.images.pull('busybox');
    let n = 0;
    for await (const message of stream) {
      void message;
      if (++n === 3) break;
    }
    expect(body.destroyed).toBe(true);
    await expect(stream.wait()).rejects.toBeInstanceOf(AbortError);
  });

  it('can be consumed once', async () => {
    const { docker } = engine({ status: 200, body: lines({ status: 'a' }) });
    const stream = docker.images.pull('busybox');
    await stream;
    const again = async () => {
      for await (const m of stream) void m;
    };
    await expect(again()).rejects.toMatchObject({ code: 'STREAM_CONSUMED' });
  });

  it('push sends an auth header even without credentials, and collects aux', async () => {
    const { transport, docker } = engine({
      status: 200,
      body: lines({ status: 'The push refers to repository [localhost:5000/x]' }, { status: 'Pushed', id: 'l1' }, { status: 'latest: digest: sha256:d size: 527' }, { progressDetail: {}, aux: { Tag: 'latest', Digest: 'sha256:d', Size: 527 } }),
    });
    const result = await docker.images.push('localhost:5000/x', { tag: 'latest' });
    expect(JSON.parse(Buffer.from(transport.calls[0]!.headers['x-registry-auth']!, 'base64url').toString())).toEqual({});
    expect(result.aux).toEqual([{ Tag: 'latest', Digest: 'sha256:d', Size: 527 }]);
  });

  it('import sends the body with fromSrc=-, or a URL as fromSrc', async () => {
    const { transport, docker } = engine({ status: 200, body: lines({ status: 'sha256:1234' }) });
    const tar = Buffer.alloc(1024);
    await docker.images.import(tar, { repo: 'r', tag: 't' });
    await docker.images.import(new URL('http://127.0.0.1:8000/rootfs.tar'));
    expect(transport.calls[0]!.body).toBe(tar);
    expect(new URL(transport.calls[0]!.path, 'http://x').searchParams.get('fromSrc')).toBe('-');
    expect(new URL(transport.calls[1]!.path, 'http://x').searchParams.get('fromSrc')).toBe('http://127.0.0.1:8000/rootfs.tar');
    expect(transport.calls[1]!.body).toBeUndefined();
  });
});

describe('progress model', () => {
  it('ignores messages without a layer id and counts only layers with a known size', () => {
    const model = new ProgressModel();
    model.update({ status: 'Pulling from x' });
    model.update({ status: 'Waiting', id: 'a' });
    model.update({ status: 'Downloading', id: 'b', progressDetail: { current: 5, total: 10 } });
    expect(model.layers.size).toBe(2);
    expect(model.overall).toEqual({ current: 5, total: 10, fraction: 0.5 });
  });
});
