import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  ApiVersionError,
  BadRequestError,
  ConflictError,
  Docker,
  DockerError,
  ForbiddenError,
  NotFoundError,
  ServerError,
  UnauthorizedError,
} from '../../src/index.js';
import { MAX_ERROR_BODY } from '../../src/request/response.js';
import { FakeTransport, json, type FakeAnswer } from '../support/fake-transport.js';

const docker = (answer: () => FakeAnswer | Promise<FakeAnswer>) => new Docker({ transport: new FakeTransport(answer), apiVersion: '1.41' });

describe('error mapping', () => {
  const cases: Array<[number, new (...a: never[]) => DockerError, string]> = [
    [400, BadRequestError, 'BAD_REQUEST'],
    [401, UnauthorizedError, 'UNAUTHORIZED'],
    [403, ForbiddenError, 'FORBIDDEN'],
    [404, NotFoundError, 'NOT_FOUND'],
    [409, ConflictError, 'CONFLICT'],
    [500, ServerError, 'SERVER_ERROR'],
    [503, ServerError, 'SERVER_ERROR'],
  ];
  for (const [status, Cls, code] of cases) {
    it(`maps ${status} to ${Cls.name} with the engine's message`, async () => {
      const err = await docker(() => json({ message: `engine says ${status}` }, status))
        .containers.inspect('abc')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Cls);
      expect(err).toBeInstanceOf(DockerError);
      expect(err).toMatchObject({ statusCode: status, code, operationId: 'ContainerInspect', message: `engine says ${status}`, name: Cls.name });
    });
  }

  it('uses the body text when it is not JSON, and the status line when empty', async () => {
    await expect(docker(() => ({ status: 500, body: 'plain failure\n' })).system.info()).rejects.toThrow(/^plain failure$/);
    await expect(docker(() => ({ status: 404 })).containers.inspect('x')).rejects.toThrow(/^404 Not Found$/);
    await expect(docker(() => ({ status: 502, body: '{"message": 3}' })).system.info()).rejects.toMatchObject({ message: '{"message": 3}', code: 'SERVER_ERROR' });
  });

  it('reads at most 1 MiB of an error body', async () => {
    let produced = 0;
    const huge = new Readable({
      read() {
        if (produced >= 8 * MAX_ERROR_BODY) return this.push(null);
        produced += 65536;
        this.push(Buffer.alloc(65536, 'x'));
      },
    });
    const err = (await docker(() => ({ status: 500, body: huge })).system.info().catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ServerError);
    expect(err.message.length).toBe(MAX_ERROR_BODY);
    expect(produced).toBeLessThan(8 * MAX_ERROR_BODY);
  });

  it('gives an unexpected status its own code', async () => {
    const err = await docker(() => json({ message: 'teapot' }, 418)).system.info().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'DockerError', code: 'HTTP_418', statusCode: 418 });
  });

  it('never follows a redirect', async () => {
    const transport = new FakeTransport(() => ({ status: 301, headers: { location: '/v1.41/images/json/json' } }));
    const err = await new Docker({ transport, apiVersion: '1.41' }).containers.inspect('x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNEXPECTED_REDIRECT', statusCode: 301 });
    expect((err as Error).message).toMatch(/redirected to \/v1.41\/images\/json\/json/);
    expect(transport.calls).toHaveLength(1);
  });

  it('turns "client version too old" into ApiVersionError', async () => {
    const err = await docker(() => json({ message: 'client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version' }, 400))
      .system.info()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiVersionError);
    expect(err).toMatchObject({ current: '1.41', required: '>= 1.44', statusCode: 400 });
  });

  it('reports a success body that is not JSON', async () => {
    await expect(docker(() => ({ status: 200, body: '{"Id": ' })).containers.inspect('x')).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
  });

  it('treats 304 from start and stop as a result', async () => {
    expect(await docker(() => ({ status: 304 })).containers.start('x')).toEqual({ notModified: true });
    expect(await docker(() => ({ status: 204 })).containers.start('x')).toEqual({ notModified: false });
    expect(await docker(() => ({ status: 304 })).containers.stop('x')).toEqual({ notModified: true });
    expect(await docker(() => ({ status: 204 })).containers.restart('x')).toBeUndefined();
  });
});

describe('cancelling', () => {
  it('rejects with AbortError when the signal is already aborted, sending nothing', async () => {
    const transport = new FakeTransport(() => json({}));
    const d = new Docker({ transport, apiVersion: '1.41' });
    const err = await d.system.info({}, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'ABORTED', timedOut: false });
    expect(transport.requests).toHaveLength(0);
  });

  it('times out with AbortError(timedOut) when the engine does not answer in time', async () => {
    const transport = new FakeTransport(
      () =>
        new Promise<FakeAnswer>(() => {
          /* never answers */
        }),
    );
    // the fake honours abort by rejecting when its signal fires
    const original = transport.request.bind(transport);
    transport.request = (req) =>
      new Promise((resolve, reject) => {
        req.signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
        original(req).then(resolve, reject);
      });
    const d = new Docker({ transport, apiVersion: '1.41' });
    const started = Date.now();
    const err = await d.system.info({}, { timeout: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'TIMEOUT', timedOut: true, operationId: 'SystemInfo' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
