/**
 * Answers read whole (JSON results, text, error messages) on every transport: node:http reads the
 * response stream; undici (and 'auto' once switched to it) gathers the answer from undici's own
 * callbacks without making a stream (Transport.requestWhole). Both must give the same results and
 * the same typed errors, keep their connections when an answer was read to its end, and close them
 * when it was not.
 */
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, ConnectionError, Docker, DockerError, NotFoundError, ServerError } from '../../src/index.js';
import { MAX_ERROR_MESSAGE } from '../../src/errors.js';
import { FakeEngine, repeat, type Handler } from '../support/fake-engine.js';
import { TRANSPORTS, UNDICI_HERE } from '../support/runtime.js';
import { rejectionOf, said, within } from '../support/settle.js';

type Mode = 'node' | 'undici' | 'auto';
const MODES: readonly Mode[] = UNDICI_HERE ? [...TRANSPORTS, 'auto'] : TRANSPORTS;

let engines: FakeEngine[] = [];
let clients: Docker[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
  clients = [];
});

/** A fake engine, and a client on it with `mode` ('auto' switched to undici first). */
async function setup(mode: Mode, handler: Handler, options: { maxJsonBody?: number } = {}): Promise<{ docker: Docker; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const engine = await FakeEngine.start({
    listen: 'unix',
    handler: (req, reply) => {
      sockets.add(reply.socket);
      return handler(req, reply);
    },
  });
  engines.push(engine);
  const docker = new Docker({ host: engine.host, transport: mode, ...options });
  clients.push(docker);
  if (mode === 'auto') {
    const auto = (docker as unknown as { requester: { transport: { warm(): Promise<void>; active: string } } }).requester.transport;
    await auto.warm();
    await docker.system.ping(); // the switch completes once node:http has no call left
    expect(auto.active).toBe('undici');
  }
  sockets.clear();
  return { docker, sockets };
}

const isList = (path: string): boolean => /\/containers\/json(\?|$)/.test(path);
const LIST = [{ Id: 'abc', Names: ['/é-日本-ü'], Labels: { 'a.b': 'c' } }];

/** Polls until `check` holds (a connection closing is seen a moment after the call settled). */
async function eventually(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`test bound: ${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const mode of MODES) {
  describe(`answers read whole (${mode})`, () => {
    it('a JSON answer sent in 3-byte chunks, split inside UTF-8 characters, is read whole', async () => {
      const { docker } = await setup(mode, async (_req, reply) => {
        const bytes = Buffer.from(JSON.stringify(LIST));
        const pieces = Array.from({ length: Math.ceil(bytes.length / 3) }, (_, i) => bytes.subarray(i * 3, i * 3 + 3));
        await reply.stream(200, { 'Content-Type': 'application/json' }, pieces);
      });
      expect(await docker.containers.list()).toEqual(LIST);
    });

    it('a leading UTF-8 byte order mark is skipped; an empty 200 is undefined; a text answer is its text', async () => {
      const { docker } = await setup(mode, (req, reply) => {
        if (isList(req.path)) return reply.send(200, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(LIST))]), { 'Content-Type': 'application/json' });
        return reply.send(200, '');
      });
      expect(await docker.containers.list()).toEqual(LIST);
      expect(await docker.system.info()).toBeUndefined();
      expect(await docker.system.ping()).toBe('OK');
    });

    it('twenty calls in a row are served on kept connections (one on node:http, two in turn on undici)', async () => {
      const { docker, sockets } = await setup(mode, (_req, reply) => reply.json(200, LIST));
      for (let i = 0; i < 20; i++) expect(await docker.containers.list()).toEqual(LIST);
      // undici's pool frees a connection a moment after its answer ended: a call made at once goes
      // to a second one (its own request() does the same)
      expect(sockets.size).toBeLessThanOrEqual(mode === 'node' ? 1 : 2);
    });

    it("error answers: the engine's message in the right class; one of 2 MiB is read up to 1 MiB, capped, and its connection closed", async () => {
      let big = false;
      let cut: net.Socket | undefined;
      const { docker, sockets } = await setup(mode, async (_req, reply) => {
        if (!big) return reply.json(404, { message: 'No such container: abc' });
        cut = reply.socket;
        await reply.stream(500, { 'Content-Type': 'text/plain' }, repeat('x'.repeat(64 * 1024), 32));
      });
      const missing = await rejectionOf(docker.containers.inspect('abc'));
      expect(missing, said(missing)).toBeInstanceOf(NotFoundError);
      expect(missing).toMatchObject({ message: 'No such container: abc', statusCode: 404, operationId: 'ContainerInspect' });
      big = true;
      const failed = await within(rejectionOf(docker.containers.inspect('abc')), 10_000, 'the 2 MiB error answer');
      expect(failed, said(failed)).toBeInstanceOf(ServerError);
      expect((failed as Error).message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE + 100);
      expect((failed as Error).message).toMatch(/^x{1000}/);
      // the unread rest of the answer: its connection is closed, the next call gets a new one
      await eventually(() => cut!.destroyed, 'the closing of the connection of the cut answer');
      big = false;
      sockets.clear();
      await expect(docker.containers.inspect('abc')).rejects.toBeInstanceOf(NotFoundError);
      expect(sockets.size).toBe(1);
    });

    it('an answer that is not JSON: BAD_RESPONSE, without the text in the message', async () => {
      const { docker } = await setup(mode, (_req, reply) => reply.send(200, '{"token":"s3cret", oops', { 'Content-Type': 'application/json' }));
      const err = await rejectionOf(docker.containers.list());
      expect(err, said(err)).toBeInstanceOf(DockerError);
      expect(err).toMatchObject({ code: 'BAD_RESPONSE', statusCode: 200 });
      expect((err as Error).message).not.toContain('s3cret');
    });

    it('maxJsonBody: an answer of exactly that size is read; one byte more, announced or sent, is BODY_TOO_LARGE and its connection closed', async () => {
      const limit = 1000;
      let size = limit;
      let announce = true;
      let last: net.Socket | undefined;
      const { docker } = await setup(
        mode,
        async (_req, reply) => {
          last = reply.socket;
          const body = `"${'a'.repeat(size - 2)}"`;
          if (announce) return reply.send(200, body, { 'Content-Type': 'application/json' });
          await reply.stream(200, { 'Content-Type': 'application/json' }, [body]);
        },
        { maxJsonBody: limit },
      );
      expect(await docker.containers.list()).toBe('a'.repeat(limit - 2));
      size = limit + 1;
      for (const announced of [true, false]) {
        announce = announced;
        const err = await rejectionOf(docker.containers.list());
        expect(err, said(err)).toMatchObject({ code: 'BODY_TOO_LARGE', operationId: 'ContainerList' });
        expect((err as Error).message).toContain(announced ? `${limit + 1} bytes announced` : 'more was sent');
        await eventually(() => last!.destroyed, 'the closing of the refused answer');
      }
    });

    it('a connection cut in the middle of an answer: REQUEST_FAILED with the cause (not "cannot reach the engine"), never part of the answer', async () => {
      const { docker } = await setup(mode, (_req, reply) => {
        reply.head(200, { 'Content-Length': 1000, 'Content-Type': 'application/json' });
        reply.write('[{"Id":"abc"');
        setTimeout(() => reply.socket.destroy(), 20);
      });
      const err = await within(rejectionOf(docker.containers.list()), 5000, 'the cut answer');
      expect(err, said(err)).toBeInstanceOf(DockerError);
      expect(err, said(err)).not.toBeInstanceOf(ConnectionError);
      expect(err).toMatchObject({ code: 'REQUEST_FAILED', operationId: 'ContainerList' });
      expect((err as Error).message).toMatch(/^ContainerList: the request failed: the connection was (closed|reset) in the middle of the answer/);
      expect((err as DockerError).cause).toBeInstanceOf(Error);
    });

    it('a connection cut before the answer came is a ConnectionError', async () => {
      const { docker } = await setup(mode, (_req, reply) => void reply.socket.destroy());
      const err = await within(rejectionOf(docker.containers.list()), 5000, 'the cut call');
      expect(err, said(err)).toBeInstanceOf(ConnectionError);
    });

    it("a stalled answer ends at the call's timeout: AbortError TIMEOUT, its connection closed", async () => {
      let stalled: net.Socket | undefined;
      const { docker } = await setup(mode, (_req, reply) => {
        stalled = reply.socket;
        reply.head(200, { 'Content-Length': 1000, 'Content-Type': 'application/json' });
        reply.write('[{"Id":"abc"');
      });
      const started = Date.now();
      const err = await within(rejectionOf(docker.containers.list({}, { timeout: 300 })), 5000, 'the stalled answer');
      expect(err, said(err)).toBeInstanceOf(AbortError);
      expect(err).toMatchObject({ code: 'TIMEOUT', operationId: 'ContainerList' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      await eventually(() => stalled!.destroyed, 'the closing of the stalled connection');
    });

    it("an error answer stalled in its message ends at the call's timeout too: AbortError TIMEOUT (read whole, and from the stream of a call without a JSON result)", async () => {
      const { docker } = await setup(mode, (_req, reply) => {
        reply.head(404, { 'Content-Length': 1000, 'Content-Type': 'application/json' });
        reply.write('{"message":"No such');
      });
      const calls = { ContainerInspect: () => docker.containers.inspect('abc', {}, { timeout: 300 }), ContainerStart: () => docker.containers.start('abc', {}, { timeout: 300 }) };
      for (const [operationId, call] of Object.entries(calls)) {
        const err = await within(rejectionOf(call()), 5000, `the stalled error answer of ${operationId}`);
        expect(err, said(err)).toBeInstanceOf(AbortError);
        expect(err).toMatchObject({ code: 'TIMEOUT', operationId });
      }
    });

    it('docker.close() in the middle of an answer: CLOSED, promptly', async () => {
      const { docker } = await setup(mode, (_req, reply) => {
        reply.head(200, { 'Content-Length': 1000, 'Content-Type': 'application/json' });
        reply.write('[{"Id":"abc"');
      });
      const call = rejectionOf(docker.containers.list());
      await new Promise((r) => setTimeout(r, 50));
      await within(docker.close(), 3000, 'docker.close()');
      const err = await within(call, 3000, 'the call ended by close()');
      expect(err, said(err)).toBeInstanceOf(DockerError);
      expect(err).toMatchObject({ code: 'CLOSED', operationId: 'ContainerList' });
    });

    it('a signal aborted in the middle of an answer: AbortError ABORTED with its reason, the connection closed', async () => {
      const controller = new AbortController();
      let stalled: net.Socket | undefined;
      const { docker } = await setup(mode, (_req, reply) => {
        stalled = reply.socket;
        reply.head(200, { 'Content-Length': 1000, 'Content-Type': 'application/json' });
        reply.write('[{"Id":"abc"');
        setTimeout(() => controller.abort(new Error('enough')), 50);
      });
      const err = await within(rejectionOf(docker.containers.list({}, { signal: controller.signal })), 5000, 'the aborted answer');
      expect(err, said(err)).toBeInstanceOf(AbortError);
      expect(err).toMatchObject({ code: 'ABORTED', operationId: 'ContainerList' });
      await eventually(() => stalled!.destroyed, 'the closing of the aborted connection');
    });
  });
}
