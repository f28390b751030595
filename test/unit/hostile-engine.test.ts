/**
 * Issue 7 ("nothing crashes, hangs, leaks or loses data") against engines that misbehave as no
 * real engine does on demand (test/support/fake-engine.ts): hijacked connections reset or closed
 * under the client, a 101 without its Upgrade headers, huge error and JSON bodies, a multiplexed
 * header claiming 4 GiB, a server that is not Docker. Cases that could crash the process run in
 * a child (test/support/child.ts) and must end in a typed rejection and a clean exit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, Docker, DockerError, NotFoundError, StreamFormatError } from '../../src/index.js';
import { describeOutcome, expectTypedRejection, runChild } from '../support/child.js';
import { FakeEngine, frameHeader, repeat, type Handler } from '../support/fake-engine.js';
import { within, rejectionOf } from '../support/settle.js';
import { TRANSPORTS, UNDICI_HERE } from '../support/runtime.js';

const MiB = 1024 * 1024;

let engines: FakeEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
});

async function fake(handler: Handler, opts: { listen?: 'unix' | 'tcp'; apiVersion?: string | null } = {}): Promise<FakeEngine> {
  const engine = await FakeEngine.start({ listen: opts.listen ?? 'tcp', handler, ...(opts.apiVersion !== undefined ? { apiVersion: opts.apiVersion } : {}) });
  engines.push(engine);
  return engine;
}


/** The container inspect an attach or logs call makes on API < 1.42 to learn the TTY setting. */
function isInspect(path: string): boolean {
  return /\/containers\/abc\/json(\?|$)/.test(path);
}
const INSPECT = { Id: 'abc', Config: { Tty: false }, State: { Running: true } };

/** Child preamble: a client on HOST with TRANSPORT; 'auto' is switched to undici first (warm()). */
const CLIENT = `
const docker = new dockhand.Docker({ host: process.env.HOST, transport: process.env.TRANSPORT });
if (process.env.TRANSPORT === 'auto') {
  const auto = docker.requester?.transport;
  if (typeof auto?.warm !== 'function') throw new Error('test: cannot reach the auto transport to warm() it');
  await auto.warm();
  if (auto.active !== 'undici') throw new Error('test: the auto transport did not switch to undici');
}
`;

describe('crashes (each case in a child process: a typed rejection and a clean exit)', () => {
  for (const transport of TRANSPORTS) {
    it(`#2 exec start connection reset by the engine after the handshake, before iterating (${transport}): iterating rejects STREAM_FAILED`, async () => {
      const engine = await fake((req, reply) => {
        if (req.method === 'POST' && /\/exec\/abc\/start$/.test(req.path)) {
          reply.upgrade({ contentType: 'application/vnd.docker.multiplexed-stream' });
          setTimeout(() => reply.reset(), 30);
        } else reply.json(404, { message: `unexpected ${req.line}` });
      });
      const out = await runChild(
        `${CLIENT}
        report(await settle(async () => {
          const session = await docker.exec.start('abc', { Tty: false });
          await new Promise((r) => setTimeout(r, 300)); // the reset arrives before anyone reads
          for await (const frame of session) void frame;
        }));
        await docker.close();`,
        { HOST: engine.host, TRANSPORT: transport },
      );
      expectTypedRejection(out, 'STREAM_FAILED');
    }, 60_000);

    it(`#2 exec connection closed by the engine while the client still writes stdin (${transport}): iterating rejects STREAM_FAILED (or STREAM_TRUNCATED)`, async () => {
      const engine = await fake((req, reply) => {
        if (req.method === 'POST' && /\/exec\/abc\/start$/.test(req.path)) {
          reply.upgrade({ contentType: 'application/vnd.docker.multiplexed-stream' });
          reply.write(Buffer.concat([frameHeader(1, 3), Buffer.from('hi\n')]));
          let got = 0;
          reply.onData((chunk) => {
            got += chunk.length;
            if (got >= 256 * 1024) reply.reset();
          });
        } else if (/\/exec\/abc\/json$/.test(req.path)) {
          // asked only if the reset reads as a clean end: the exec still runs, so the output was cut
          reply.json(200, { Running: true, ExitCode: null, ProcessConfig: { tty: false } });
        } else reply.json(404, { message: `unexpected ${req.line}` });
      });
      const out = await runChild(
        `${CLIENT}
        report(await settle(async () => {
          const session = await docker.exec.start('abc', { Tty: false });
          const chunk = Buffer.alloc(64 * 1024, 120);
          let reading = true;
          const writing = (async () => {
            for (let i = 0; i < 400 && reading; i++) {
              session.stdin.write(chunk);
              await new Promise((r) => setImmediate(r));
            }
          })();
          try {
            for await (const frame of session) void frame;
          } finally {
            reading = false;
            await writing;
          }
        }));
        await docker.close();`,
        { HOST: engine.host, TRANSPORT: transport },
      );
      // a reset mid-write reads as a failed read (STREAM_FAILED, with the socket's error), or now
      // and then as a clean end, which the still-running exec shows to be a cut (STREAM_TRUNCATED)
      const r = expectTypedRejection(out, ['STREAM_FAILED', 'STREAM_TRUNCATED'], { withCause: false });
      if (r.code === 'STREAM_FAILED') expect(r.cause, describeOutcome(out)).toBeDefined();
    }, 60_000);

    it(`#3 attach answered 101 without Upgrade/Connection headers, then closed (${transport}): a typed rejection, no crash`, async () => {
      const engine = await fake((req, reply) => {
        if (isInspect(req.path)) return reply.json(200, INSPECT);
        if (req.method === 'POST' && /\/containers\/abc\/attach\?/.test(req.path)) {
          reply.upgrade({ upgradeHeaders: false });
          setTimeout(() => reply.end(), 30);
          return;
        }
        reply.json(404, { message: `unexpected ${req.line}` });
      });
      const out = await runChild(
        `${CLIENT}
        report(await settle(async () => {
          const session = await docker.containers.attach('abc', { stream: true, stdout: true, stderr: true });
          for await (const frame of session) void frame;
        }));
        await docker.close();`,
        { HOST: engine.host, TRANSPORT: transport },
      );
      expectTypedRejection(out, ['BAD_RESPONSE', 'STREAM_FAILED'], { withCause: false });
    }, 60_000);
  }

  for (const transport of UNDICI_HERE ? (['undici', 'auto'] as const) : []) {
    it(`#4 a 500 answer with a 4 MiB body on ${transport === 'auto' ? "'auto' after its switch to undici" : 'undici'}: ServerError with the message capped, clean exit`, async () => {
      const size = 4 * MiB;
      const engine = await fake(async (req, reply) => {
        if (req.method === 'GET' && /\/containers\/json/.test(req.path)) {
          const block = Buffer.alloc(64 * 1024, 120);
          await reply.stream(500, { 'Content-Type': 'application/json' }, (function* () {
            yield '{"message":"';
            yield* repeat(block, size / block.length);
            yield '"}';
          })(), { contentLength: size + 14 });
          return;
        }
        reply.json(404, { message: `unexpected ${req.line}` });
      });
      const out = await runChild(
        `${CLIENT}
        report(await settle(() => docker.containers.list()));
        await docker.close();`,
        { HOST: engine.host, TRANSPORT: transport },
      );
      const r = expectTypedRejection(out, 'SERVER_ERROR', { withCause: false });
      expect(r.name).toBe('ServerError');
      expect(r.statusCode).toBe(500);
      expect(r.messageLength, `the error message is ${r.messageLength} characters long`).toBeLessThanOrEqual(MiB + 1024);
    }, 60_000);
  }
});

describe('#13 huge JSON answers (in-process): BODY_TOO_LARGE, memory bounded', () => {
  /** RSS growth allowed while a too-large answer is refused ("~100 MB"; the default limit alone is 64 MiB). */
  const RSS_LIMIT = 112 * MiB;
  /** Past this the test stops the fake engine, so a client that keeps everything fails instead of exhausting memory. */
  const RSS_BRAKE = 400 * MiB;

  const unit = `{"Id":"${'a'.repeat(64)}","Names":["/x"]},`;
  const block = Buffer.from(unit.repeat(1000));

  /** A 100 MB ContainerList answer with Content-Length, produced lazily. */
  function hundredMegabytes(): { length: number; body: Iterable<Buffer | string> } {
    const blocks = Math.floor((100e6 - 3) / block.length);
    return { length: 1 + blocks * block.length + 3, body: (function* () { yield '['; yield* repeat(block, blocks); yield '{}]'; })() };
  }

  async function measure(engine: FakeEngine, work: () => Promise<unknown>): Promise<{ err: unknown; growth: number; braked: boolean }> {
    const base = process.memoryUsage().rss;
    let peak = base;
    let braked = false;
    const sample = setInterval(() => {
      const rss = process.memoryUsage().rss;
      peak = Math.max(peak, rss);
      if (rss - base > RSS_BRAKE && !braked) {
        braked = true;
        engine.destroyConnections();
      }
    }, 5);
    try {
      const err = await within(rejectionOf(work()), 30_000, 'the call').catch((e: unknown) => {
        engine.destroyConnections();
        throw e;
      });
      peak = Math.max(peak, process.memoryUsage().rss);
      return { err, growth: peak - base, braked };
    } finally {
      clearInterval(sample);
    }
  }

  const cases = [
    { name: 'a 100 MB answer (Content-Length)', endless: false },
    { name: 'a never-ending fast chunked answer', endless: true },
  ];
  for (const transport of TRANSPORTS) {
    for (const { name, endless } of cases) {
      for (const maxJsonBody of [undefined, MiB]) {
        it(`${name}, ${maxJsonBody ? 'maxJsonBody 1 MiB' : 'default maxJsonBody (64 MiB)'} (${transport})`, async () => {
          const engine = await fake(async (req, reply) => {
            if (!(req.method === 'GET' && /\/containers\/json/.test(req.path))) return reply.json(404, { message: `unexpected ${req.line}` });
            if (endless) {
              await reply.stream(200, { 'Content-Type': 'application/json' }, (function* () { yield '['; yield* repeat(block); })());
            } else {
              const { length, body } = hundredMegabytes();
              await reply.stream(200, { 'Content-Type': 'application/json' }, body, { contentLength: length });
            }
          });
          const docker = new Docker({ host: engine.host, transport, ...(maxJsonBody ? { maxJsonBody } : {}) });
          try {
            const { err, growth, braked } = await measure(engine, () => docker.containers.list());
            expect(braked, `RSS grew past ${RSS_BRAKE / MiB} MiB: the test cut the answer off (${(err as Error)?.message})`).toBe(false);
            expect(err, `rejected with ${(err as Error)?.name}: ${(err as Error)?.message}`).toBeInstanceOf(DockerError);
            expect((err as DockerError).code, (err as Error).message).toBe('BODY_TOO_LARGE');
            expect(growth, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(RSS_LIMIT);
          } finally {
            await within(docker.close(), 5_000, 'docker.close()').finally(() => engine.destroyConnections());
          }
        }, 60_000);
      }
    }
  }
});

describe('#14 a multiplexed header claiming 0xFFFFFFF0 bytes, then 8 MiB, then the end (in-process)', () => {
  for (const transport of TRANSPORTS) {
    it(`the data arrives as frames, then STREAM_FORMAT; arrayBuffers stay under +64 MiB (${transport})`, async () => {
      const size = 8 * MiB;
      const engine = await fake(async (req, reply) => {
        if (isInspect(req.path)) return reply.json(200, INSPECT);
        if (req.method === 'GET' && /\/containers\/abc\/logs\?/.test(req.path)) {
          const block = Buffer.alloc(64 * 1024, 120);
          await reply.stream(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' }, (function* () {
            yield frameHeader(1, 0xfffffff0);
            yield* repeat(block, size / block.length);
          })());
          reply.end();
          return;
        }
        reply.json(404, { message: `unexpected ${req.line}` });
      });
      const docker = new Docker({ host: engine.host, transport });
      const base = process.memoryUsage().arrayBuffers;
      let peak = base;
      const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 5);
      let received = 0;
      let frames = 0;
      try {
        const err = await within(
          rejectionOf(
            (async () => {
              for await (const frame of docker.containers.logs('abc')) {
                received += frame.data.length;
                frames++;
                peak = Math.max(peak, process.memoryUsage().arrayBuffers);
              }
            })(),
          ),
          30_000,
          'reading the logs',
        );
        expect(err, `rejected with ${(err as Error)?.name}: ${(err as Error)?.message}`).toBeInstanceOf(StreamFormatError);
        expect((err as DockerError).code).toBe('STREAM_FORMAT');
        expect(frames).toBeGreaterThan(0);
        expect(received, 'bytes delivered as frames before the error').toBe(size);
        expect(peak - base, `arrayBuffers grew by ${((peak - base) / MiB).toFixed(1)} MiB`).toBeLessThan(64 * MiB);
      } finally {
        clearInterval(sample);
        await within(docker.close(), 5_000, 'docker.close()').finally(() => engine.destroyConnections());
      }
    }, 60_000);
  }
});

describe('#18 a server that is not a Docker engine (404 to everything)', () => {
  for (const transport of TRANSPORTS) {
    it(`containers.list() rejects with ConnectionError NOT_DOCKER, not NotFoundError (${transport})`, async () => {
      const engine = await fake((_req, reply) => reply.send(404, '404 page not found\n', { 'Content-Type': 'text/plain; charset=utf-8' }), { apiVersion: null });
      const docker = new Docker({ host: engine.host, transport });
      try {
        const err = await within(rejectionOf(docker.containers.list()), 10_000, 'containers.list()');
        expect(err).not.toBeInstanceOf(NotFoundError);
        expect(err, `rejected with ${(err as Error)?.name}: ${(err as Error)?.message}`).toBeInstanceOf(ConnectionError);
        const e = err as ConnectionError;
        expect(e.code).toBe('CONNECTION');
        expect(e.reason).toBe('NOT_DOCKER');
        expect(e.message).toMatch(/not a docker engine/i);
      } finally {
        await within(docker.close(), 5_000, 'docker.close()');
      }
    }, 30_000);
  }
});

describe('#10 an exec the engine marks ended with 126 after a cut, while its process runs on', () => {
  // dockerd gives up on an exec whose connection broke (its write fails) by recording exit code
  // 126, without stopping the process. The output ended early: containers.exec must reject, not
  // resolve `exitCode: 126` with part of the output. A command that itself exits 126 (its pid is
  // gone) is still a result.
  const execEngine = (pidRuns: boolean): Handler => (req, reply) => {
    if (req.method === 'POST' && /\/containers\/abc\/exec$/.test(req.path)) return reply.json(201, { Id: 'e1' });
    if (req.method === 'POST' && /\/exec\/e1\/start$/.test(req.path)) {
      reply.upgrade({ contentType: 'application/vnd.docker.multiplexed-stream' });
      reply.write(Buffer.concat([frameHeader(1, 2), Buffer.from('a\n')]));
      setTimeout(() => reply.end(), 20); // a clean close, as a middlebox that dropped the connection gives
      return;
    }
    if (/\/exec\/e1\/json$/.test(req.path)) return reply.json(200, { ID: 'e1', Running: false, ExitCode: 126, Pid: 4242, ContainerID: 'abc', ProcessConfig: { tty: false } });
    if (/\/containers\/abc\/top/.test(req.path)) {
      const rows = [['root', '1', '0', 'sleep 1000'], ...(pidRuns ? [['root', '4242', '1', 'sh -c yes']] : [])];
      return reply.json(200, { Titles: ['UID', 'PID', 'PPID', 'CMD'], Processes: rows });
    }
    reply.json(404, { message: `unexpected ${req.line}` });
  };

  it('rejects STREAM_TRUNCATED when the exec process is still in the container', async () => {
    const engine = await fake(execEngine(true), { listen: 'unix' });
    const docker = new Docker({ host: engine.host });
    try {
      const err = await rejectionOf(docker.containers.exec('abc', { Cmd: ['sh', '-c', 'yes'] }));
      expect(err).toBeInstanceOf(DockerError);
      expect(err).toMatchObject({ code: 'STREAM_TRUNCATED', operationId: 'ExecStart' });
      expect(engine.requests.some((r) => /\/containers\/abc\/top/.test(r.path))).toBe(true);
    } finally {
      await docker.close();
    }
  });

  it('resolves exitCode 126 when the process is gone (a command that exits 126 itself)', async () => {
    const engine = await fake(execEngine(false), { listen: 'unix' });
    const docker = new Docker({ host: engine.host });
    try {
      await expect(docker.containers.exec('abc', { Cmd: ['sh', '-c', './not-executable'] })).resolves.toEqual({ exitCode: 126, stdout: 'a\n', stderr: '' });
    } finally {
      await docker.close();
    }
  });
});

describe('a raw docker.api.* stream cut by the engine (in-process)', () => {
  // The helpers map a stream's failures to dockhand's errors; a raw stream handed to the caller
  // does the same: a reset in the middle of the body is STREAM_FAILED with the socket's error as
  // cause, not a bare ECONNRESET or undici's SocketError.
  for (const transport of TRANSPORTS) {
    it(`ContainerLogs reset after the first frame: STREAM_FAILED with the cause (${transport})`, async () => {
      const engine = await fake((req, reply) => {
        if (/\/containers\/abc\/logs/.test(req.path)) {
          reply.head(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream', 'Transfer-Encoding': 'chunked' });
          const f = Buffer.concat([frameHeader(1, 4), Buffer.from('one\n')]);
          reply.write(`${f.length.toString(16)}\r\n`);
          reply.write(f);
          reply.write('\r\n');
          setTimeout(() => reply.reset(), 50);
          return;
        }
        reply.json(404, { message: `unexpected ${req.line}` });
      });
      const docker = new Docker({ host: engine.host, transport });
      try {
        const stream = await docker.api.ContainerLogs({ id: 'abc', follow: true, stdout: true });
        const chunks: Buffer[] = [];
        const err = await rejectionOf(
          (async () => {
            for await (const chunk of stream) chunks.push(chunk as Buffer);
          })(),
        );
        expect(Buffer.concat(chunks).subarray(8).toString()).toBe('one\n');
        expect(err).toBeInstanceOf(DockerError);
        expect(err).toMatchObject({ code: 'STREAM_FAILED', operationId: 'ContainerLogs' });
        expect((err as Error).cause).toBeDefined();
      } finally {
        await docker.close();
      }
    });
  }
});
