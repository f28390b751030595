import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  AbortError,
  ApiVersionError,
  BadRequestError,
  ConflictError,
  ConnectionError,
  Docker,
  DockerError,
  NotFoundError,
  ServerError,
  ValidationError,
} from '../../src/index.js';
import { Created, ENGINE, RecordingTransport, TEST_IMAGE, labels, readJsonLines, uniqueName } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);
const dir = mkdtempSync(join(tmpdir(), 'dockhand-errors-'));

afterEach(() => created.cleanup());
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await docker.close();
});

/** Resolves to what the promise rejected with (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<DockerError> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.err).toBeInstanceOf(DockerError);
  return outcome.err as DockerError;
}

describe('engine errors: status codes to classes', () => {
  it('404 on an unknown container: NotFoundError naming the id', async () => {
    const id = `dockhand-missing-${uniqueName('x')}`;
    const err = await rejection(docker.containers.inspect(id));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ name: 'NotFoundError', code: 'NOT_FOUND', statusCode: 404, operationId: 'ContainerInspect' });
    expect(err.message).toContain(id);
    expect(err.message).toMatch(/no such container/i);
  });

  it('404 on an unknown image, network and volume', async () => {
    const name = uniqueName('missing');
    // one at a time: a promise made before its turn would reject unhandled
    for (const call of [() => docker.images.inspect(`dockhand-test/${name}:nope`), () => docker.networks.inspect(name), () => docker.volumes.inspect(name)]) {
      const err = await rejection(call());
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.statusCode).toBe(404);
      expect(err.message).toContain(name);
    }
  });

  it('409 removing a running container without force: ConflictError', async () => {
    const id = await created.runContainer();
    const err = await rejection(docker.containers.remove(id));
    if (ENGINE.podman) {
      // Podman answers a state conflict with a 500 ("container state improper"), not a 409
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'SERVER_ERROR', statusCode: 500, operationId: 'ContainerDelete' });
      expect(err.message).toContain(id);
      expect(err.message).toContain('cannot remove container');
      expect(err.message).toContain('running or paused containers cannot be removed without force');
      expect((await docker.containers.inspect(id)).State!.Running).toBe(true);
      return;
    }
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ code: 'CONFLICT', statusCode: 409, operationId: 'ContainerDelete' });
    // 20.10 names it by id, 26+ by name
    const name = (await docker.containers.inspect(id)).Name!;
    expect([id, name].some((n) => err.message.includes(n))).toBe(true);
    // 20.10: "You cannot remove a running container"; 26+: "cannot remove container ...: container is running"
    expect(err.message).toMatch(/running container|container is running/);
    // nothing happened to it
    expect((await docker.containers.inspect(id)).State!.Running).toBe(true);
  });

  it('409 creating a second container with a name in use', async () => {
    const name = uniqueName('dup');
    const first = await created.createContainer({}, name);
    const err = await rejection(created.createContainer({}, name));
    // Podman answers a name in use with a 500 ("that name is already in use"), not a 409
    expect(err).toBeInstanceOf(ENGINE.podman ? ServerError : ConflictError);
    if (ENGINE.podman) expect(err).toMatchObject({ statusCode: 500, message: expect.stringContaining('is already in use') });
    expect(err.message).toContain(name);
    expect(err.message).toContain(first);
  });

  it('400 from the engine for an invalid container name: BadRequestError', async () => {
    const err = await rejection(docker.containers.create({ name: 'bad name!', body: { Image: TEST_IMAGE, Labels: labels() } }));
    if (ENGINE.podman) {
      // Podman checks the name only when it makes the container: a 500 ("invalid argument")
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'SERVER_ERROR', statusCode: 500, operationId: 'ContainerCreate' });
      expect(err.message).toBe('container create: running container create option: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument');
      expect(await docker.containers.list({ all: true, filters: { name: ['bad name!'] } })).toEqual([]);
      return;
    }
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ code: 'BAD_REQUEST', statusCode: 400, operationId: 'ContainerCreate' });
    expect(err.message).toBe('Invalid container name (bad name!), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed');
    expect(await docker.containers.list({ all: true, filters: { name: ['bad name!'] } })).toEqual([]);
  });

  it('400 from the engine for an impossible memory limit: BadRequestError', async () => {
    const create = docker.containers.create({ body: { Image: TEST_IMAGE, Labels: labels(), HostConfig: { Memory: -5 } } });
    if (ENGINE.podman) {
      // Podman does not check it: the container is made, without a memory limit
      const { Id } = await create;
      created.container(Id);
      expect((await docker.containers.inspect(Id)).HostConfig!.Memory).toBe(0);
      return;
    }
    const err = await rejection(create);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.statusCode).toBe(400);
    expect(err.message).toBe('Minimum memory limit allowed is 6MB');
  });

  it('503 from a swarm-only endpoint on an engine outside a swarm: ServerError', async () => {
    const err = await rejection(docker.api.ConfigList());
    if (ENGINE.podman) {
      // Podman has no swarm endpoints: its router answers 404 "Not Found"
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err).toMatchObject({ code: 'NOT_FOUND', statusCode: 404, operationId: 'ConfigList', message: 'Not Found' });
      return;
    }
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'SERVER_ERROR', statusCode: 503, operationId: 'ConfigList' });
    expect(err.message).toMatch(/not a swarm manager/);
  });

  it('every swarm endpoint on an engine outside a swarm: 503 "not a swarm manager" (Docker); 404, and 503 for SwarmInit (Podman, which has none)', async () => {
    const calls: [string, () => Promise<unknown>][] = [
      ['SwarmInspect', () => docker.api.SwarmInspect()],
      ['NodeList', () => docker.api.NodeList()],
      ['ServiceList', () => docker.api.ServiceList()],
      ['TaskList', () => docker.api.TaskList()],
      ['ConfigList', () => docker.api.ConfigList()],
    ];
    // Podman serves secrets without a swarm (its own secrets, test/engine/swarm.test.ts has them on Docker).
    if (!ENGINE.podman) calls.push(['SecretList', () => docker.api.SecretList()]);
    for (const [operationId, call] of calls) {
      const err = await rejection(call());
      if (ENGINE.podman) {
        expect(err, operationId).toBeInstanceOf(NotFoundError);
        expect(err, operationId).toMatchObject({ code: 'NOT_FOUND', statusCode: 404, operationId });
      } else {
        expect(err, operationId).toBeInstanceOf(ServerError);
        expect(err, operationId).toMatchObject({ code: 'SERVER_ERROR', statusCode: 503, operationId });
        expect(err.message, operationId).toMatch(/not a swarm manager|not part of a swarm/);
      }
    }
    // Creating a swarm is asked of Podman only (on Docker it would make one): 503, said plainly.
    if (ENGINE.podman) {
      const err = await rejection(docker.api.SwarmInit({ body: { ListenAddr: '127.0.0.1:2377' } }));
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'SERVER_ERROR', statusCode: 503, operationId: 'SwarmInit', message: expect.stringMatching(/Podman does not support service/) });
    }
  });
});

describe('connection errors', () => {
  const kinds = ['node', 'undici', 'auto'] as const;

  it.each(kinds)('no socket at the address (%s transport): ConnectionError, "no such socket"', async (transport) => {
    const address = 'unix:///tmp/dockhand-no-engine.sock';
    const d = new Docker({ host: address, transport });
    try {
      expect(d.address).toBe(address);
      const err = await rejection(d.system.ping());
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err).toMatchObject({ code: 'CONNECTION', address, reason: 'ENOENT', statusCode: undefined });
      expect(err.message).toContain(address);
      expect(err.message).toContain('no such socket');
      // negotiation failed: a later call tries again, and fails the same way
      const again = await rejection(d.containers.list());
      expect(again).toBeInstanceOf(ConnectionError);
    } finally {
      await d.close();
    }
  });

  it.each(kinds)('a socket file nobody listens on (%s transport): ConnectionError, ECONNREFUSED', async (transport) => {
    const path = join(dir, `stale-${transport}.sock`);
    // a process binds the socket and dies without unlinking it: a stale socket file
    const child = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(child.signal).toBe('SIGKILL');
    expect(statSync(path).isSocket()).toBe(true);
    const address = `unix://${path}`;
    const d = new Docker({ host: address, transport, apiVersion: '1.41' });
    try {
      const err = await rejection(d.containers.list());
      expect(err).toBeInstanceOf(ConnectionError);
      // pinned: no negotiation, so the error names the operation the caller ran
      expect(err).toMatchObject({ code: 'CONNECTION', address, reason: 'ECONNREFUSED', operationId: 'ContainerList' });
      expect(err.message).toContain(address);
      expect(err.message).toContain('connection refused');
    } finally {
      await d.close();
    }
  });

  it('a regular file where the socket should be: ConnectionError', async () => {
    const path = join(dir, 'not-a-socket');
    writeFileSync(path, 'plain file');
    const d = new Docker({ host: `unix://${path}` });
    try {
      const err = await rejection(d.system.version());
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err.code).toBe('CONNECTION');
      expect(['ECONNREFUSED', 'ENOTSOCK']).toContain((err as ConnectionError).reason);
      expect(err.message).toContain(path);
    } finally {
      await d.close();
    }
  });
});

describe('API version gates', () => {
  it('an operation newer than the pinned version: ApiVersionError, and nothing is sent', async () => {
    const transport = new RecordingTransport();
    const old = new Docker({ transport, apiVersion: '1.25' });
    try {
      const err = await rejection(old.api.ConfigList());
      expect(err).toBeInstanceOf(ApiVersionError);
      expect(err).toMatchObject({ code: 'API_VERSION', operationId: 'ConfigList', required: '>= 1.30', current: '1.25', parameter: undefined });
      expect(err.message).toContain('ConfigList');
      expect(err.message).toContain('>= 1.30');
      expect(err.message).toContain('1.25');
      // the friendly method goes through the same gate
      expect(await rejection(old.configs.list())).toBeInstanceOf(ApiVersionError);
      expect(transport.sent).toEqual([]);
      // the pinned 1.25 client does reach this engine for what 1.25 has
      expect(await old.system.ping()).toBe('OK');
      expect(transport.sent).toEqual(['GET /v1.25/_ping']);
    } finally {
      await old.close();
    }

    // with 1.41 the same call reaches the engine (which refuses: not a swarm manager; Podman has
    // no swarm endpoints at all: 404)
    const current = new RecordingTransport();
    const d = new Docker({ transport: current, apiVersion: '1.41' });
    try {
      const err = await rejection(d.api.ConfigList());
      expect(err).toBeInstanceOf(ENGINE.podman ? NotFoundError : ServerError);
      expect(err.statusCode).toBe(ENGINE.podman ? 404 : 503);
      expect(current.sent).toEqual(['GET /v1.41/configs']);
    } finally {
      await d.close();
    }
  });

  it('a parameter newer than the pinned version: ApiVersionError naming it, nothing sent', async () => {
    const id = await created.runContainer();
    const transport = new RecordingTransport();
    const d = new Docker({ transport, apiVersion: '1.41' });
    try {
      const err = await rejection(d.containers.stop(id, { t: 1, signal: 'SIGKILL' }));
      expect(err).toBeInstanceOf(ApiVersionError);
      expect(err).toMatchObject({ operationId: 'ContainerStop', parameter: 'signal', required: '>= 1.42', current: '1.41' });
      expect(err.message).toContain('"signal"');
      expect(transport.sent).toEqual([]);
      // the container was not stopped
      expect((await docker.containers.inspect(id)).State!.Running).toBe(true);
    } finally {
      await d.close();
    }
  });

  it('a negotiated client gets the engine version and gates by it', async () => {
    const transport = new RecordingTransport();
    const d = new Docker({ transport });
    try {
      // ImageList's `identity` is from API 1.54, newer than any engine this suite runs against
      const err = await rejection(d.images.list({ identity: true }));
      expect(err).toBeInstanceOf(ApiVersionError);
      expect((err as ApiVersionError).current).toBe(ENGINE.api);
      expect((err as ApiVersionError).required).toBe('>= 1.54');
      // only the negotiation ping went out
      expect(transport.sent).toEqual(['GET /_ping']);
    } finally {
      await d.close();
    }
  });
});

describe('validation: refused before anything is sent', () => {
  it('wrong types, unknown parameters and missing required ones: ValidationError', async () => {
    const transport = new RecordingTransport();
    const d = new Docker({ transport, apiVersion: '1.41' });
    try {
      const wrongType = await rejection(d.containers.list({ all: 'yes' } as never));
      expect(wrongType).toBeInstanceOf(ValidationError);
      expect(wrongType).toMatchObject({ code: 'VALIDATION', operationId: 'ContainerList', parameter: 'all' });
      expect(wrongType.message).toContain('must be a boolean');

      const unknown = await rejection(d.containers.list({ bogus: 1 } as never));
      expect(unknown).toMatchObject({ name: 'ValidationError', parameter: 'bogus' });
      expect(unknown.message).toContain('unknown parameter "bogus"');

      const missing = await rejection(d.containers.create({} as never));
      expect(missing).toMatchObject({ name: 'ValidationError', parameter: 'body' });

      const badEnum = await rejection(d.containers.wait('x', { condition: 'whenever' } as never));
      expect(badEnum).toMatchObject({ name: 'ValidationError', parameter: 'condition' });

      const badInt = await rejection(d.containers.stop('x', { t: 1.5 }));
      expect(badInt).toMatchObject({ name: 'ValidationError', parameter: 't' });

      const badId = await rejection(d.containers.inspect('..'));
      expect(badId).toBeInstanceOf(ValidationError);

      expect(transport.sent).toEqual([]);
    } finally {
      await d.close();
    }
  });

  it('bad client options: ValidationError / ApiVersionError at construction', () => {
    expect(() => new Docker({ host: 'ftp://example' })).toThrow(ValidationError);
    expect(() => new Docker({ host: 'unix://relative.sock' })).toThrow(ValidationError);
    expect(() => new Docker({ apiVersion: '1.5x' })).toThrow(ApiVersionError);
    expect(() => new Docker({ transport: 'carrier-pigeon' as never })).toThrow(ValidationError);
  });
});

describe('timeouts and aborts against the engine', () => {
  it('a call that outlives its timeout: AbortError, code TIMEOUT', async () => {
    const id = await created.runContainer();
    const t0 = Date.now();
    const err = await rejection(docker.containers.wait(id, {}, { timeout: 300 }));
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'TIMEOUT', timedOut: true, operationId: 'ContainerWait' });
    expect(Date.now() - t0).toBeLessThan(5_000);
    // the client is still usable afterwards
    expect((await docker.containers.inspect(id)).State!.Running).toBe(true);
  });

  it('an aborted call: AbortError, code ABORTED', async () => {
    const id = await created.runContainer();
    const controller = new AbortController();
    const pending = docker.containers.wait(id, {}, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const err = await rejection(pending);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'ABORTED', timedOut: false });

    const already = await rejection(docker.system.ping({}, { signal: AbortSignal.abort() }));
    expect(already).toMatchObject({ name: 'AbortError', code: 'ABORTED', operationId: 'SystemPing' });
  });
});

describe('aborting a streamed response', () => {
  // Once a stream has started, aborting must end it with dockhand's AbortError on either
  // transport (each has its own abort error, and `auto` moves from one to the other).
  it.each(['node', 'undici'] as const)('ends a followed events stream with AbortError (%s transport)', async (transport) => {
    const d = new Docker({ transport });
    try {
      const controller = new AbortController();
      const stream = await d.api.SystemEvents({ filters: { label: [`dockhand.none=${uniqueName('x')}`] } }, { signal: controller.signal });
      expect(stream.statusCode).toBe(200);
      setTimeout(() => controller.abort(), 100);
      const t0 = Date.now();
      const err = await readJsonLines(stream).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(stream.destroyed).toBe(true);
      expect(err).toBeInstanceOf(AbortError);
      expect(err).toMatchObject({ code: 'ABORTED', operationId: 'SystemEvents' });
    } finally {
      await d.close();
    }
  });
});

describe('transports', () => {
  it('node and undici transports give the same answers for list and inspect', async () => {
    const mark = uniqueName('transport');
    const id = await created.createContainer({ Labels: { 'dockhand.transport': mark } }, mark);
    const results: unknown[] = [];
    for (const transport of ['node', 'undici', 'auto'] as const) {
      const d = new Docker({ transport });
      try {
        const list = await d.containers.list({ all: true, filters: { label: [`dockhand.transport=${mark}`] } });
        expect(list.map((c) => c.Id)).toEqual([id]);
        const inspect = await d.containers.inspect(id);
        expect(inspect.Name).toBe(`/${mark}`);
        const missing = await rejection(d.containers.inspect(`${mark}-missing`));
        expect(missing).toBeInstanceOf(NotFoundError);
        results.push({ list, inspect, missing: missing.message });
      } finally {
        await d.close();
      }
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('the auto transport keeps answering correctly once it switches to undici', async () => {
    const d = new Docker({ transport: 'auto' });
    try {
      const id = await created.createContainer();
      // more requests than the switch-over threshold, some in parallel
      const names = await Promise.all(Array.from({ length: 40 }, () => d.containers.inspect(id).then((c) => c.Id)));
      expect(new Set(names)).toEqual(new Set([id]));
      expect(await d.system.ping()).toBe('OK');
    } finally {
      await d.close();
    }
  });
});
