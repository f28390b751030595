/**
 * Issue 7 ("nothing crashes, hangs, leaks or loses data") against the real engine, with faults
 * injected by a proxy in front of it (test/support/fault-proxy.ts: cut, reset or stall the engine's
 * answer after N bytes), on its unix and loopback TCP fronts (a real RST needs TCP). Cases that
 * could crash the process run in a child (test/support/child.ts): they must end in a typed
 * rejection and a clean exit. The others run here, each bounded well under the test's timeout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, Docker, DockerError } from '../../src/index.js';
import { expectCleanExit, expectTypedRejection, runChild, describeOutcome } from '../support/child.js';
import { Created, ENGINE as ENGINE_UNDER_TEST, ENGINE_HOST, RUN_ID, TEST_IMAGE, TEST_LABEL, RUN_LABEL, waitUntil } from '../support/engine.js';
import { FaultProxy, type Fault } from '../support/fault-proxy.js';
import { within, rejectionOf, said } from '../support/settle.js';

const ENGINE = ENGINE_HOST;
const PODMAN = ENGINE_UNDER_TEST.podman;
const TRANSPORTS = ['node', 'undici'] as const;
const FRONTS = ['unix', 'tcp'] as const;
const ARCHIVE = /\/containers\/[^/]+\/archive/;
const ATTACH = /\/containers\/[^/]+\/attach/;
const EXEC_START = /\/exec\/[^/]+\/start/;

const docker = new Docker({ host: ENGINE });
/** Objects of one test, removed after it. */
const created = new Created(docker);
/** Objects of the whole file. */
const shared = new Created(docker);
/** A running, silent `sleep 300`. */
let sleeper: string;
/** A running container printing `tick` every 0.2 s. */
let ticker: string;
/** An exited container with 5 MB of output (stdout and stderr). */
let chatty: string;

beforeAll(async () => {
  sleeper = await shared.runContainer();
  ticker = await shared.runContainer({ Cmd: ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'] });
  chatty = await shared.runContainer({ Cmd: ['sh', '-c', 'yes "line of output" | head -c 4000000; yes "err" | head -c 1000000 >&2'] });
  await waitUntil(() => docker.containers.inspect(chatty), (c) => c.State?.Running === false, 30_000, 'the chatty container to exit');
});

/** Clients, proxies and folders of one test: closed and removed after it, whatever happened. */
let clients: Docker[] = [];
let proxies: FaultProxy[] = [];
let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => within(c.close(), 5_000, 'docker.close()').catch(() => undefined)));
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  clients = [];
  proxies = [];
  dirs = [];
  await created.cleanup();
});
afterAll(async () => {
  try {
    await shared.cleanup();
  } finally {
    await docker.close();
  }
});

function client(options: ConstructorParameters<typeof Docker>[0]): Docker {
  const c = new Docker(options);
  clients.push(c);
  return c;
}

async function proxy(listen: 'unix' | 'tcp', fault?: Fault): Promise<FaultProxy> {
  const p = await FaultProxy.start({ listen });
  p.fault = fault;
  proxies.push(p);
  return p;
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'dockhand-faults-'));
  dirs.push(d);
  return d;
}



/** The container has no exec still running (dockerd lists only running execs in ExecIDs). */
async function noExecRunning(id: string): Promise<void> {
  if (PODMAN) {
    // Podman lists ended (attached) execs too, until their cleanup 5 minutes later: ask each
    const running = async (): Promise<string[]> => {
      const ids = (await docker.containers.inspect(id)).ExecIDs ?? [];
      const states = await Promise.all(ids.map((e) => docker.exec.inspect(e).then((i) => i.Running, () => false)));
      return ids.filter((_, i) => states[i]);
    };
    await waitUntil(running, (r) => r.length === 0, 5_000, `no exec left running in ${id.slice(0, 12)}`);
    return;
  }
  await waitUntil(() => docker.containers.inspect(id), (c) => !c.ExecIDs?.length, 5_000, `no exec left running in ${id.slice(0, 12)}`);
}

/** Child preamble: a client on HOST with TRANSPORT; 'auto' is switched to undici first (warm()). */
const CLIENT = `
import fs from 'node:fs';
import { Readable } from 'node:stream';
const docker = new dockhand.Docker({ host: process.env.HOST, transport: process.env.TRANSPORT, apiVersion: '1.41' });
if (process.env.TRANSPORT === 'auto') {
  const auto = docker.requester?.transport;
  if (typeof auto?.warm !== 'function') throw new Error('test: cannot reach the auto transport to warm() it');
  await auto.warm();
  if (auto.active !== 'undici') throw new Error('test: the auto transport did not switch to undici');
}
`;

describe('crashes: uploads from a failing stream (in a child: UPLOAD_FAILED with the cause, clean exit)', () => {
  for (const transport of TRANSPORTS) {
    it(`#1 images.load(fs.createReadStream('/missing')) (${transport})`, async () => {
      const out = await runChild(
        `${CLIENT}
        report(await settle(docker.images.load(fs.createReadStream('/missing'))));
        await docker.close();`,
        { HOST: ENGINE, TRANSPORT: transport },
      );
      expect(expectTypedRejection(out, 'UPLOAD_FAILED').cause).toBe('ENOENT');
    });

    it(`#1 images.import(fs.createReadStream('/missing')) (${transport})`, async () => {
      const out = await runChild(
        `${CLIENT}
        const changes = ['LABEL ${TEST_LABEL}=true', 'LABEL ${RUN_LABEL}=${RUN_ID}'];
        report(await settle(docker.images.import(fs.createReadStream('/missing'), { changes })));
        await docker.close();`,
        { HOST: ENGINE, TRANSPORT: transport },
      );
      expect(expectTypedRejection(out, 'UPLOAD_FAILED').cause).toBe('ENOENT');
    });

    it(`#1 containers.putArchive(id, '/tmp', fs.createReadStream('/missing')) (${transport})`, async () => {
      const out = await runChild(
        `${CLIENT}
        report(await settle(docker.containers.putArchive(process.env.CID, '/tmp', fs.createReadStream('/missing'))));
        await docker.close();`,
        { HOST: ENGINE, TRANSPORT: transport, CID: sleeper },
      );
      expect(expectTypedRejection(out, 'UPLOAD_FAILED').cause).toBe('ENOENT');
    });

    it(`#1 containers.exec(id, { Cmd: ['cat'], stdin: fs.createReadStream('/missing') }): the exec's connection is closed (${transport})`, async () => {
      const id = await created.runContainer();
      const out = await runChild(
        `${CLIENT}
        report(await settle(docker.containers.exec(process.env.CID, { Cmd: ['cat'], stdin: fs.createReadStream('/missing') })));
        await docker.close();`,
        { HOST: ENGINE, TRANSPORT: transport, CID: id },
      );
      expect(expectTypedRejection(out, 'UPLOAD_FAILED').cause).toBe('ENOENT');
      await noExecRunning(id); // cat saw EOF
    });

    it(`#1 docker.run(image, ['cat'], { stdin: fs.createReadStream('/missing') }) (attach stdin): UPLOAD_FAILED, nothing left behind (${transport})`, async () => {
      const name = `dockhand-fault-run-${RUN_ID}-${transport}-${Date.now()}`;
      const out = await runChild(
        `${CLIENT}
        report(await settle(docker.run(process.env.IMAGE, ['cat'], { name: process.env.NAME, stdin: fs.createReadStream('/missing'), labels: JSON.parse(process.env.LABELS) })));
        await docker.close();`,
        { HOST: ENGINE, TRANSPORT: transport, IMAGE: TEST_IMAGE, NAME: name, LABELS: JSON.stringify({ [TEST_LABEL]: 'true', [RUN_LABEL]: RUN_ID }) },
      );
      expect(expectTypedRejection(out, 'UPLOAD_FAILED').cause).toBe('ENOENT');
      // cat saw EOF (the attach connection was closed) and run removed its container
      const left = await docker.containers.list({ all: true, filters: { name: [name] } });
      expect(left.map((c) => c.Names)).toEqual([]);
    });
  }
});

describe('crashes: hijacked connections reset after the handshake, before iterating (in a child, tcp proxy)', () => {
  const reset: Fault = { kind: 'reset', from: 'body', afterResponseBytes: 0 };
  for (const transport of TRANSPORTS) {
    it(`#2 attach reset by the peer right after the 101: iterating rejects STREAM_FAILED, no crash (${transport})`, async () => {
      const p = await proxy('tcp', { ...reset, match: ATTACH });
      const out = await runChild(
        `${CLIENT}
        report(await settle(async () => {
          const session = await docker.containers.attach(process.env.CID, { stream: true, stdout: true, stderr: true });
          await new Promise((r) => setTimeout(r, 300)); // the RST arrives before anyone reads
          for await (const frame of session) void frame;
        }));
        await docker.close();`,
        { HOST: p.host, TRANSPORT: transport, CID: sleeper },
      );
      expectTypedRejection(out, 'STREAM_FAILED');
    });

    it(`#2 exec start reset by the peer right after the 101: iterating rejects STREAM_FAILED, no crash (${transport})`, async () => {
      const p = await proxy('tcp', { ...reset, match: EXEC_START });
      const out = await runChild(
        `${CLIENT}
        report(await settle(async () => {
          const { Id } = await docker.exec.create(process.env.CID, { execConfig: { Cmd: ['sleep', '30'], AttachStdout: true, AttachStderr: true } });
          const session = await docker.exec.start(Id, { Tty: false });
          await new Promise((r) => setTimeout(r, 300)); // the RST arrives before anyone reads
          for await (const frame of session) void frame;
        }));
        await docker.close();`,
        { HOST: p.host, TRANSPORT: transport, CID: sleeper },
      );
      expectTypedRejection(out, 'STREAM_FAILED');
    });
  }
});

describe('crashes: undici bodies destroyed by the caller (in a child)', () => {
  for (const transport of ['undici', 'auto'] as const) {
    it(`#4 (await docker.api.ContainerLogs(...)).destroy() 25 times, and 10 times on followed logs: no crash, clean exit (${transport === 'auto' ? "'auto' after its switch" : 'undici'})`, async () => {
      const out = await runChild(
        `${CLIENT}
        for (let i = 0; i < 25; i++) (await docker.api.ContainerLogs({ id: process.env.CHATTY, stdout: true, stderr: true })).destroy();
        for (let i = 0; i < 10; i++) (await docker.api.ContainerLogs({ id: process.env.TICKER, stdout: true, follow: true })).destroy();
        await new Promise((r) => setTimeout(r, 200));
        await docker.close();
        report({ ok: true });`,
        { HOST: ENGINE, TRANSPORT: transport, CHATTY: chatty, TICKER: ticker },
      );
      expectCleanExit(out);
      expect(out.result, describeOutcome(out)).toEqual({ ok: true });
    });
  }
});

describe('hangs: copyFrom through a proxy, with { timeout: 3000 } (timeouts cover the whole copy)', () => {
  for (const front of FRONTS) {
    for (const transport of TRANSPORTS) {
      it(`#5 cut right after the answer's headers: rejects STREAM_FAILED or STREAM_TRUNCATED (${front} front, ${transport})`, async () => {
        const p = await proxy(front, { kind: 'cutAfterHeaders', match: ARCHIVE });
        const c = client({ host: p.host, transport, apiVersion: '1.41' });
        const err = await within(rejectionOf(c.containers.copyFrom(sleeper, '/etc', await tempDir(), { timeout: 3000 })), 10_000, 'copyFrom');
        expect(err, said(err)).toBeInstanceOf(DockerError);
        expect(err, said(err)).not.toBeInstanceOf(AbortError);
        expect(['STREAM_FAILED', 'STREAM_TRUNCATED'], said(err)).toContain((err as DockerError).code);
      });

      it(`#5 stalled after the headers and 1000 bytes: rejects AbortError TIMEOUT after ~3 s, connection closed (${front} front, ${transport})`, async () => {
        const p = await proxy(front, { kind: 'stall', match: ARCHIVE, from: 'body', afterResponseBytes: 1000 });
        const c = client({ host: p.host, transport, apiVersion: '1.41' });
        const started = Date.now();
        const err = await within(rejectionOf(c.containers.copyFrom(sleeper, '/etc', await tempDir(), { timeout: 3000 })), 15_000, 'copyFrom');
        const elapsed = Date.now() - started;
        expect(err, said(err)).toBeInstanceOf(AbortError);
        expect((err as AbortError).code).toBe('TIMEOUT');
        expect(elapsed).toBeGreaterThanOrEqual(2500);
        expect(elapsed).toBeLessThan(8000);
        await within(c.close(), 5_000, 'docker.close()');
        await waitUntil(async () => p.stats.open, (open) => open === 0, 3_000, 'the proxy to see every client connection closed');
      });
    }
  }
});

describe('hangs: exec with a timeout or a signal ends with dockhand AbortError', () => {
  it('#6 containers.exec(sleep 30, { timeout: 1000 }): AbortError TIMEOUT within a few seconds', async () => {
    const started = Date.now();
    const err = await within(rejectionOf(docker.containers.exec(sleeper, { Cmd: ['sleep', '30'] }, { timeout: 1000 })), 10_000, 'containers.exec');
    expect(err, said(err)).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('#6 containers.exec(sleep 30) with a signal aborted at 0, 1, 5, 20, 50, 200 and 1000 ms: always AbortError ABORTED', async () => {
    for (const delay of [0, 1, 5, 20, 50, 200, 1000]) {
      const ac = new AbortController();
      if (delay === 0) ac.abort();
      else setTimeout(() => ac.abort(), delay);
      const err = await within(rejectionOf(docker.containers.exec(sleeper, { Cmd: ['sleep', '30'] }, { signal: ac.signal })), 10_000, `containers.exec aborted at ${delay} ms`);
      expect(err, `aborted at ${delay} ms: ${said(err)}`).toBeInstanceOf(AbortError);
      expect((err as AbortError).code, `aborted at ${delay} ms`).toBe('ABORTED');
    }
  });
});

describe('hangs: docker.close() and idle followed logs', () => {
  for (const transport of TRANSPORTS) {
    it(`#7 docker.close() while a followed log is read resolves promptly; the loop rejects CLOSED (${transport})`, async () => {
      const c = client({ host: ENGINE, transport });
      let frames = 0;
      const reading = (async () => {
        for await (const frame of c.containers.logs(ticker, { follow: true, tail: '0' })) frames += frame.data.length > 0 ? 1 : 0;
      })();
      reading.catch(() => undefined);
      await waitUntil(async () => frames, (n) => n > 0, 10_000, 'a first log frame');
      const started = Date.now();
      await within(c.close(), 3_000, 'docker.close()');
      expect(Date.now() - started).toBeLessThan(2000);
      const err = await within(rejectionOf(reading), 3_000, 'the log loop');
      expect(err, said(err)).toBeInstanceOf(DockerError);
      expect((err as DockerError).code, said(err)).toBe('CLOSED');
    });
  }

  it('#8 logs(follow, { idleTimeout: 500 }) on a silent container: AbortError TIMEOUT within ~1 s', async () => {
    const started = Date.now();
    const err = await within(
      rejectionOf((async () => {
        for await (const frame of docker.containers.logs(sleeper, { follow: true }, { idleTimeout: 500 })) void frame;
      })()),
      10_000,
      'the followed logs',
    );
    const elapsed = Date.now() - started;
    expect(err, said(err)).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(2000);
  });

  it('#8 logs(follow) without idleTimeout on a silent container stays open (1.5 s), then the signal ends it: AbortError ABORTED', async () => {
    const ac = new AbortController();
    let settled = false;
    const reading = (async () => {
      for await (const frame of docker.containers.logs(sleeper, { follow: true }, { signal: ac.signal })) void frame;
    })().finally(() => (settled = true));
    reading.catch(() => undefined);
    await sleep(1500);
    expect(settled, 'the followed log ended by itself').toBe(false);
    ac.abort();
    const err = await within(rejectionOf(reading), 5_000, 'the aborted logs');
    expect(err, said(err)).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('ABORTED');
  });
});

describe('data loss: cut connections reject, never resolve with part of the data', () => {
  for (const front of FRONTS) {
    for (const transport of TRANSPORTS) {
      it(`#9 copyFrom(/bin) cut in the middle of the tar: rejects STREAM_FAILED or STREAM_TRUNCATED (${front} front, ${transport})`, async () => {
        const p = await proxy(front, { kind: 'cut', match: ARCHIVE, from: 'body', afterResponseBytes: 256 * 1024 });
        const c = client({ host: p.host, transport, apiVersion: '1.41' });
        const dir = await tempDir();
        const err = await within(rejectionOf(c.containers.copyFrom(sleeper, '/bin', dir)), 15_000, 'copyFrom');
        expect(err, said(err)).toBeInstanceOf(DockerError);
        expect(['STREAM_FAILED', 'STREAM_TRUNCATED'], said(err)).toContain((err as DockerError).code);
      });
    }

    // Hijacks take the node:http side on every transport; the exit code and inspects that follow do not.
    for (const transport of TRANSPORTS) {
      it(`#9 containers.exec whose output connection is cut after 'a': rejects STREAM_TRUNCATED, not part of the output (${front} front, ${transport})`, async () => {
        const p = await proxy(front, { kind: 'cut', match: EXEC_START, from: 'body', afterResponseBytes: 8 + 2 });
        const c = client({ host: p.host, transport, apiVersion: '1.41' });
        const err = await within(rejectionOf(c.containers.exec(sleeper, { Cmd: ['sh', '-c', 'echo a; sleep 5; echo b'] })), 20_000, 'containers.exec');
        expect(err, said(err)).toBeInstanceOf(DockerError);
        expect((err as DockerError).code, said(err)).toBe('STREAM_TRUNCATED');
      });

      it(`#9 containers.attach on a running container whose connection is cut: the frames before the cut, then STREAM_TRUNCATED (${front} front, ${transport})`, async () => {
        const p = await proxy(front, { kind: 'cut', match: ATTACH, from: 'body', afterResponseBytes: 8 + 5 });
        const c = client({ host: p.host, transport, apiVersion: '1.41' });
        const session = await within(c.containers.attach(ticker, { stream: true, stdout: true, stderr: true }), 10_000, 'containers.attach');
        let text = '';
        const err = await within(
          rejectionOf((async () => {
            for await (const frame of session) text += frame.data.toString();
          })()),
          20_000,
          'iterating the attach',
        );
        expect(text).toBe('tick\n');
        expect(err, said(err)).toBeInstanceOf(DockerError);
        expect((err as DockerError).code, said(err)).toBe('STREAM_TRUNCATED');
      });
    }
  }

  for (const transport of TRANSPORTS) {
    it(`#11 copyFrom(/bin) reset in the middle of the tar: DockerError STREAM_FAILED with a cause, not "cannot reach the engine" (tcp front, ${transport})`, async () => {
      const p = await proxy('tcp', { kind: 'reset', match: ARCHIVE, from: 'body', afterResponseBytes: 256 * 1024 });
      const c = client({ host: p.host, transport, apiVersion: '1.41' });
      const err = await within(rejectionOf(c.containers.copyFrom(sleeper, '/bin', await tempDir())), 15_000, 'copyFrom');
      expect(err, said(err)).toBeInstanceOf(DockerError);
      expect((err as DockerError).code, said(err)).toBe('STREAM_FAILED');
      expect((err as Error).cause, said(err)).toBeDefined();
      expect((err as Error).message).not.toMatch(/cannot reach the Docker engine/i);
    });
  }
});

describe('correctness', () => {
  for (const transport of TRANSPORTS) {
    it(`#16 logs(id).pipe(process.stdout, process.stderr) in a child: process.stdout is still writable afterwards (${transport})`, async () => {
      const id = await created.runContainer({ Cmd: ['sh', '-c', 'echo out; echo err >&2'] });
      await waitUntil(() => docker.containers.inspect(id), (c) => c.State?.Running === false, 10_000, 'the container to exit');
      const out = await runChild(
        `${CLIENT}
        await docker.containers.logs(process.env.CID).pipe(process.stdout, process.stderr);
        process.stdout.write('after the pipe\\n');
        await docker.close();
        report({ ok: true });`,
        { HOST: ENGINE, TRANSPORT: transport, CID: id },
      );
      expectCleanExit(out);
      expect(out.stdout, describeOutcome(out)).toMatch(/^out\n/m);
      expect(out.stdout, describeOutcome(out)).toMatch(/^after the pipe\n/m);
      expect(out.stderr, describeOutcome(out)).toMatch(/^err\n/m);
      expect(out.result).toEqual({ ok: true });
    });

    it(`#23 containers.exec with a stdin stream that fails midway: UPLOAD_FAILED with the cause, the exec's connection closed, the child exits (${transport})`, async () => {
      const id = await created.runContainer();
      const out = await runChild(
        `${CLIENT}
        const stdin = new Readable({ read() {} });
        stdin.push('hello\\n');
        setTimeout(() => stdin.destroy(Object.assign(new Error('disk gone'), { code: 'EIO' })), 200);
        report(await settle(docker.containers.exec(process.env.CID, { Cmd: ['cat'], stdin })));
        await docker.close();`,
        { HOST: ENGINE, TRANSPORT: transport, CID: id },
      );
      expect(expectTypedRejection(out, 'UPLOAD_FAILED').cause).toBe('EIO');
      await noExecRunning(id); // cat saw EOF
    });
  }
});
