import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  ApiVersionError,
  BadRequestError,
  ConflictError,
  DOCKER_ERROR_CODES,
  Docker,
  DockerError,
  ForbiddenError,
  MAX_ERROR_MESSAGE,
  NotFoundError,
  ServerError,
  UnauthorizedError,
  ValidationError,
  type DockerErrorCode,
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
    // 1 MiB read, and the message cut to MAX_ERROR_MESSAGE characters
    expect(err.message).toBe(`${'x'.repeat(MAX_ERROR_MESSAGE)}… (${MAX_ERROR_BODY - MAX_ERROR_MESSAGE} more characters)`);
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

describe('error codes', () => {
  const root = join(import.meta.dirname, '../..');
  const sources = (readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }) as string[])
    .filter((f) => f.endsWith('.ts') && !f.startsWith('generated'))
    .map((f) => ({ file: f, text: readFileSync(join(root, 'src', f), 'utf8') }));

  /** Every quoted code in a `code: ...` expression of src/, except on plain Errors (ESSH, CONNECT_TIMEOUT: internal). */
  function codesInSource(): Map<string, string> {
    const found = new Map<string, string>();
    for (const { file, text } of sources) {
      for (const line of text.split('\n')) {
        if (/Object\.assign\(new Error\(/.test(line)) continue;
        // `code: 'X'` in details objects, and `code = 'X'` on a class field.
        for (const m of line.matchAll(/\bcode(?::|\s*=(?!=))\s*([^,}\n;]*)/g)) {
          for (const lit of m[1]!.matchAll(/'([A-Z][A-Z0-9_]*)'/g)) found.set(lit[1]!, file);
        }
      }
    }
    return found;
  }

  it('lists every code src/ produces in DOCKER_ERROR_CODES', () => {
    const found = codesInSource();
    expect(found.size).toBeGreaterThan(15); // the scan works
    const missing = [...found].filter(([code]) => !(DOCKER_ERROR_CODES as readonly string[]).includes(code)).map(([c, f]) => `${c} (${f})`);
    expect(missing).toEqual([]);
  });

  it('keeps ESSH and CONNECT_TIMEOUT on plain Errors, never as DockerError codes', () => {
    for (const internal of ['ESSH', 'CONNECT_TIMEOUT']) {
      expect(DOCKER_ERROR_CODES as readonly string[]).not.toContain(internal);
      for (const { text } of sources) {
        for (const line of text.split('\n')) if (line.includes(`code: '${internal}'`)) expect(line).toMatch(/Object\.assign\(new Error\(/);
      }
    }
  });

  it("lists every code in README.md's error table, and nothing else", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Errors\n'), readme.indexOf('\n## ', readme.indexOf('\n## Errors\n') + 5));
    const rows = [...section.matchAll(/^\| `([A-Z_<>a-z]+)` \| `(\w+)` \| (.+) \|$/gm)].map((m) => m[1]!);
    expect(new Set(rows)).toEqual(new Set([...DOCKER_ERROR_CODES, 'HTTP_<status>']));
    expect(rows).toHaveLength(DOCKER_ERROR_CODES.length + 1);
  });

  it('has no duplicates, and the type accepts exactly the listed codes and HTTP_<number>', () => {
    expect(new Set(DOCKER_ERROR_CODES).size).toBe(DOCKER_ERROR_CODES.length);
    const ok: DockerErrorCode[] = ['NOT_FOUND', 'HTTP_418', ...DOCKER_ERROR_CODES];
    expect(ok.length).toBeGreaterThan(2);
    // @ts-expect-error a code not in the union does not compile
    const bad = new DockerError('x', { code: 'NOT_A_CODE' });
    // @ts-expect-error HTTP_ takes a number
    const badHttp: DockerErrorCode = 'HTTP_teapot';
    expect([bad.code, badHttp]).toEqual(['NOT_A_CODE', 'HTTP_teapot']);
    expect(new DockerError('x').code).toBe('DOCKER_ERROR');
  });
});

describe('error messages', () => {
  it('cuts a message longer than MAX_ERROR_MESSAGE characters, saying how much was cut', () => {
    const huge = 'y'.repeat(1024 * 1024);
    const err = new DockerError(huge, { code: 'SERVER_ERROR' });
    expect(MAX_ERROR_MESSAGE).toBe(4096);
    expect(err.message).toBe(`${'y'.repeat(4096)}… (${1024 * 1024 - 4096} more characters)`);
    expect(err.message.length).toBeLessThan(4200);
    expect(String(err).length).toBeLessThan(4300);
    // subclasses too
    expect(new ValidationError('v'.repeat(5000)).message).toMatch(/^v{4096}… \(904 more characters\)$/);
  });

  it('keeps messages up to the limit as they are, and never cuts a surrogate pair in half', () => {
    const exact = 'z'.repeat(MAX_ERROR_MESSAGE);
    expect(new DockerError(exact).message).toBe(exact);
    const emoji = `${'a'.repeat(MAX_ERROR_MESSAGE - 1)}😀tail`;
    const cut = new DockerError(emoji).message;
    expect(cut).toBe(`${'a'.repeat(MAX_ERROR_MESSAGE - 1)}… (6 more characters)`);
  });

  it("caps an engine's 1 MiB JSON error message", async () => {
    const message = 'm'.repeat(MAX_ERROR_BODY - 100);
    const err = (await docker(() => json({ message }, 404)).containers.inspect('x').catch((e: unknown) => e)) as NotFoundError;
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message.length).toBeLessThan(MAX_ERROR_MESSAGE + 40);
    expect(err.message).toMatch(/… \(\d+ more characters\)$/);
  });
});
