/**
 * containers.waitFor against the real engine: each condition met and timed out (the WaitError's
 * code, unmet condition, state and log tail checked), exits during a wait failing before the
 * timeout, arrays of conditions, and aborting with a signal.
 *
 * Published ports: the engines other than the default one run in network namespaces of their
 * own (scripts/engines.sh), so a port they publish is on the namespace's 127.0.0.1, not this
 * machine's. For those, the test bridges the published port to the same port number on this
 * machine's 127.0.0.2 (a socat in the namespace behind a unix socket, a TCP server here) and
 * passes `host: '127.0.0.2'`: the condition's way to reach ports through another address.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AbortError, Docker, ValidationError, WaitError, type ContainerCreateParams } from '../../src/index.js';
import { Created, ENGINE, ENGINE_SOCKET } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);
afterEach(() => created.cleanup());
afterAll(() => docker.close());

type Body = Partial<ContainerCreateParams['body']>;

/** A started labelled container running `script` in sh. */
async function run(script: string, body: Body = {}): Promise<string> {
  return created.runContainer({ Cmd: ['sh', '-c', script], ...body });
}

/** How long a promise takes to settle, and how it settled. */
async function timed<T>(work: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const t0 = Date.now();
  try {
    const value = await work;
    return { ms: Date.now() - t0, value };
  } catch (error) {
    return { ms: Date.now() - t0, error };
  }
}

function asWaitError(err: unknown): WaitError {
  expect(err).toBeInstanceOf(WaitError);
  return err as WaitError;
}

// ---- published ports through the engine's network namespace ----

/** The engine's network namespace, for engines that scripts/engines.sh runs in one. */
const NETNS = /^\/run\/dockhand-engines\/([\w-]+)\.sock$/.exec(ENGINE_SOCKET ?? '')?.[1];
const BRIDGE_HOST = '127.0.0.2';
const bridges: Array<{ server: net.Server; socat: ChildProcess; sockets: Set<net.Socket> }> = [];

afterEach(async () => {
  for (const b of bridges.splice(0)) {
    for (const s of b.sockets) s.destroy();
    b.server.close();
    if (b.socat.exitCode === null) {
      b.socat.kill('SIGTERM');
      await once(b.socat, 'exit');
    }
  }
});

/**
 * The `host` option that reaches `hostPort` (a port the engine published): none for the default
 * engine (127.0.0.1 is right), else a bridge into the engine's namespace on 127.0.0.2:hostPort.
 */
async function reach(hostPort: number): Promise<{ host?: string; expectedHost: string }> {
  if (!NETNS) return { expectedHost: '127.0.0.1' };
  const sock = `/tmp/dockhand-waitfor-${randomBytes(4).toString('hex')}.sock`;
  const socat = spawn('nsenter', [`--net=/run/netns/dockhand-${NETNS}`, '--', 'socat', `UNIX-LISTEN:${sock},fork,unlink-early,unlink-close`, `TCP:127.0.0.1:${hostPort}`], { stdio: 'ignore' });
  socat.on('error', () => undefined);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const inner = net.connect(sock);
    sockets.add(client).add(inner);
    const end = (): void => {
      client.destroy();
      inner.destroy();
      sockets.delete(client);
      sockets.delete(inner);
    };
    client.on('error', end).on('close', end);
    inner.on('error', end).on('close', end);
    client.pipe(inner).pipe(client);
  });
  server.on('error', () => undefined);
  bridges.push({ server, socat, sockets });
  // socat's unix socket exists once it listens.
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const probe = net.connect(sock);
      probe.on('connect', () => (probe.destroy(), resolve(true))).on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise<void>((resolve, reject) => server.listen(hostPort, BRIDGE_HOST, resolve).once('error', reject));
  return { host: BRIDGE_HOST, expectedHost: BRIDGE_HOST };
}

/** A container publishing its port 80 on a random host port; resolves to its id and that port. */
async function publishing(script: string): Promise<{ id: string; hostPort: number }> {
  const id = await run(script, { ExposedPorts: { '80/tcp': {} }, HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '' }] } } });
  const info = await docker.containers.inspect(id);
  const binding = info.NetworkSettings?.Ports?.['80/tcp']?.find((b) => b.HostPort);
  expect(binding?.HostPort).toMatch(/^\d+$/);
  return { id, hostPort: Number(binding!.HostPort) };
}

const HTTPD = 'mkdir -p /www && echo hello > /www/index.html && sleep 1 && exec httpd -f -p 80 -h /www';

function get(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

// ---- Podman's healthchecks ----

/**
 * Podman runs healthchecks from systemd timers, which this machine has not: the test runs the
 * container's check itself through libpod's endpoint (what the timer would do) until `stop`.
 */
function podmanHealthchecks(id: string): () => void {
  if (!ENGINE.podman) return () => undefined;
  let stopped = false;
  void (async () => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const req = http.request({ socketPath: ENGINE_SOCKET, path: `/v4.0.0/libpod/containers/${id}/healthcheck`, method: 'GET' }, (res) => {
          res.resume();
          res.on('end', resolve).on('error', () => resolve());
        });
        req.on('error', () => resolve());
        req.end();
      });
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return () => {
    stopped = true;
  };
}

/** A healthcheck running `test` every 200 ms. */
const healthcheck = (test: string): Body => ({ Healthcheck: { Test: ['CMD-SHELL', test], Interval: 200_000_000, Timeout: 2_000_000_000, Retries: 1 } });

describe('containers.waitFor: log', () => {
  it('resolves to the matching line (read from the start, followed), with the RegExp match', async () => {
    const id = await run('echo starting; sleep 0.5; echo "listening on 8080" >&2; sleep 300');
    const match = await docker.containers.waitFor(id, { log: /listening on (\d+)/, stream: 'stderr' }, { timeout: 20_000 });
    expect(match.stream).toBe('stderr');
    expect(match.line).toBe('listening on 8080');
    expect(match.match?.[1]).toBe('8080');
    // The log is read from the start: a line printed before the call is found.
    const early = await docker.containers.waitFor(id, { log: 'starting' });
    expect(early).toEqual({ stream: 'stdout', line: 'starting' });
  });

  it('waits for `times` matching lines, whole lines only', async () => {
    const id = await run('for i in 1 2 3 4; do echo "tick $i"; sleep 0.3; done; sleep 300');
    const t0 = Date.now();
    const match = await docker.containers.waitFor(id, { log: /^tick \d$/, times: 3 }, { timeout: 20_000 });
    expect(match.line).toBe('tick 3');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    // `stream` filters: nothing matches on stderr.
    const err = asWaitError((await timed(docker.containers.waitFor(id, { log: 'tick', stream: 'stderr' }, { timeout: 800 }))).error);
    expect(err.code).toBe('WAIT_TIMEOUT');
  });

  it('times out with WAIT_TIMEOUT naming the condition, the state and the log tail', async () => {
    const id = await run('echo first line; echo second line >&2; sleep 300');
    const { ms, error } = await timed(docker.containers.waitFor(id, { log: 'never printed' }, { timeout: 1000, logTail: 5 }));
    const err = asWaitError(error);
    expect(ms).toBeGreaterThanOrEqual(1000);
    expect(ms).toBeLessThan(8000);
    expect(err.code).toBe('WAIT_TIMEOUT');
    expect(err.containerId).toBe(id);
    expect(err.unmet).toEqual(['log "never printed"']);
    expect(err.state?.Status).toBe('running');
    expect(err.exitCode).toBeUndefined();
    expect(err.logTail).toEqual(expect.arrayContaining([{ stream: 'stdout', line: 'first line' }, { stream: 'stderr', line: 'second line' }]));
    expect(err.message).toContain('timed out after 1000 ms');
    expect(err.message).toContain('log "never printed"');
    expect(err.message).toContain('state: running');
    expect(err.message).toContain('stdout| first line');
    expect(err.message).toContain('stderr| second line');
  });

  it('fails with CONTAINER_EXITED, the exit code and the log tail as soon as the container exits', async () => {
    const id = await run('echo bye; echo oops >&2; sleep 0.5; exit 3');
    const { ms, error } = await timed(docker.containers.waitFor(id, { log: 'never printed' }, { timeout: 30_000 }));
    const err = asWaitError(error);
    expect(err.code).toBe('CONTAINER_EXITED');
    expect(ms).toBeLessThan(10_000);
    expect(err.exitCode).toBe(3);
    expect(err.state?.Status).toBe('exited');
    expect(err.logTail.map((l) => l.line)).toEqual(expect.arrayContaining(['bye', 'oops']));
    expect(err.message).toMatch(/exited with code 3 while waiting for log "never printed"/);
  });

  it('a line printed just before the exit still counts', async () => {
    const id = await run('sleep 0.3; echo done-and-gone; exit 0');
    expect(await docker.containers.waitFor(id, { log: 'done-and-gone' }, { timeout: 20_000 })).toEqual({ stream: 'stdout', line: 'done-and-gone' });
  });
});

describe('containers.waitFor: running and exited', () => {
  it("'running' waits for a created container to be started", async () => {
    const id = await created.createContainer();
    const waiting = docker.containers.waitFor(id, 'running', { timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    await docker.containers.start(id);
    const state = await waiting;
    expect(state.Running).toBe(true);
    expect(state.Pid).toBeGreaterThan(0);
  });

  it("'running' fails with CONTAINER_EXITED when the container exits instead", async () => {
    const id = await created.createContainer({ Cmd: ['sh', '-c', 'echo exiting; exit 2'] });
    await docker.containers.start(id);
    await docker.containers.wait(id);
    const { ms, error } = await timed(docker.containers.waitFor(id, 'running', { timeout: 30_000 }));
    const err = asWaitError(error);
    expect(err.code).toBe('CONTAINER_EXITED');
    expect(ms).toBeLessThan(5000);
    expect(err.exitCode).toBe(2);
    expect(err.unmet).toEqual(["'running'"]);
    expect(err.logTail).toEqual([{ stream: 'stdout', line: 'exiting' }]);
  });

  it("'running' times out while the container stays created", async () => {
    const id = await created.createContainer();
    const err = asWaitError((await timed(docker.containers.waitFor(id, 'running', { timeout: 700 }))).error);
    expect(err.code).toBe('WAIT_TIMEOUT');
    expect(err.state?.Status).toBe('created');
    expect(err.message).toContain("not met: 'running'");
    expect(err.message).toContain('state: created');
  });

  it('{ exited: true } resolves to the exit code; times out while it runs', async () => {
    const id = await run('sleep 0.5; exit 7');
    expect(await docker.containers.waitFor(id, { exited: true }, { timeout: 20_000 })).toBe(7);
    const running = await run('echo still here; sleep 300');
    const err = asWaitError((await timed(docker.containers.waitFor(running, { exited: true }, { timeout: 700 }))).error);
    expect(err.code).toBe('WAIT_TIMEOUT');
    expect(err.unmet).toEqual(['{ exited: true }']);
    expect(err.state?.Running).toBe(true);
    expect(err.logTail).toEqual([{ stream: 'stdout', line: 'still here' }]);
  });

  it('an unknown container is NOT_FOUND, a bad condition a ValidationError, before any wait', async () => {
    await expect(docker.containers.waitFor('dockhand-test-no-such-container', 'running', { timeout: 5000 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(docker.containers.waitFor('x', { port: '80/udp' })).rejects.toBeInstanceOf(ValidationError);
    await expect(docker.containers.waitFor('x', { log: '' })).rejects.toThrow(/log must be a RegExp or a non-empty string/);
    // @ts-expect-error: not a condition
    await expect(docker.containers.waitFor('x', 'started')).rejects.toBeInstanceOf(ValidationError);
    await expect(docker.containers.waitFor('x', [])).rejects.toThrow(/at least one condition/);
  });
});

describe('containers.waitFor: healthy', () => {
  it("resolves once the engine's healthcheck passes", async () => {
    const id = await run('sleep 1; touch /tmp/ok; sleep 300', healthcheck('test -e /tmp/ok'));
    const stop = podmanHealthchecks(id);
    try {
      const t0 = Date.now();
      const state = await docker.containers.waitFor(id, 'healthy', { timeout: 30_000 });
      expect(state.Health?.Status).toBe('healthy');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    } finally {
      stop();
    }
  });

  it('times out with the health status and the last check in the error', async () => {
    const id = await run('sleep 300', healthcheck('echo not ready yet; false'));
    const stop = podmanHealthchecks(id);
    try {
      const err = asWaitError((await timed(docker.containers.waitFor(id, 'healthy', { timeout: 2500 }))).error);
      expect(err.code).toBe('WAIT_TIMEOUT');
      expect(err.state?.Health?.Status).toMatch(/^(unhealthy|starting)$/);
      expect(err.unmet[0]).toMatch(/^'healthy' \(health: (unhealthy|starting)\)$/);
      expect(err.message).toMatch(/health: (unhealthy|starting)/);
      if (err.state?.Health?.Status === 'unhealthy') expect(err.message).toContain('not ready yet');
    } finally {
      stop();
    }
  });

  it('fails with NO_HEALTHCHECK at once for a container without one', async () => {
    const id = await run('sleep 300');
    const { ms, error } = await timed(docker.containers.waitFor(id, 'healthy', { timeout: 30_000 }));
    const err = asWaitError(error);
    expect(err.code).toBe('NO_HEALTHCHECK');
    expect(ms).toBeLessThan(5000);
    expect(err.message).toContain('no healthcheck');
  });

  it('fails with CONTAINER_EXITED when the container exits before it is healthy', async () => {
    const id = await run('sleep 0.5; exit 4', healthcheck('false'));
    const err = asWaitError((await timed(docker.containers.waitFor(id, 'healthy', { timeout: 30_000 }))).error);
    expect(err.code).toBe('CONTAINER_EXITED');
    expect(err.exitCode).toBe(4);
  });
});

describe('containers.waitFor: port and http', () => {
  it('{ port } resolves to the host and published port once something listens (not when the proxy accepts)', async () => {
    const { id, hostPort } = await publishing(HTTPD);
    const { host, expectedHost } = await reach(hostPort);
    const t0 = Date.now();
    const result = await docker.containers.waitFor(id, { port: 80, ...(host ? { host } : {}) }, { timeout: 30_000 });
    expect(result).toEqual({ host: expectedHost, port: hostPort });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500); // httpd starts after a second
    expect(await get(result.host, result.port, '/index.html')).toEqual({ status: 200, body: 'hello\n' });
  });

  it('{ http } waits for the status asked for', async () => {
    const { id, hostPort } = await publishing(HTTPD);
    const { host, expectedHost } = await reach(hostPort);
    const ok = await docker.containers.waitFor(id, { http: { port: '80/tcp', path: '/index.html', ...(host ? { host } : {}) } }, { timeout: 30_000 });
    expect(ok).toEqual({ host: expectedHost, port: hostPort, status: 200 });
    const missing = await docker.containers.waitFor(id, { http: { port: 80, path: '/missing', status: 404, ...(host ? { host } : {}) } }, { timeout: 10_000 });
    expect(missing.status).toBe(404);
    const err = asWaitError((await timed(docker.containers.waitFor(id, { http: { port: 80, path: '/missing', ...(host ? { host } : {}) } }, { timeout: 1000 }))).error);
    expect(err.code).toBe('WAIT_TIMEOUT');
    expect(err.unmet[0]).toContain('answered 404');
  });

  it('{ port } times out while nothing listens behind the published port', async () => {
    const { id, hostPort } = await publishing('echo no server here; sleep 300');
    const { host } = await reach(hostPort);
    const err = asWaitError((await timed(docker.containers.waitFor(id, { port: 80, ...(host ? { host } : {}) }, { timeout: 1500 }))).error);
    expect(err.code).toBe('WAIT_TIMEOUT');
    expect(err.unmet[0]).toMatch(/^port 80\/tcp \(.*:\d+: /);
    expect(err.state?.Status).toBe('running');
    expect(err.logTail).toEqual([{ stream: 'stdout', line: 'no server here' }]);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('{ port } fails at once for a port the container does not publish, and on exit', async () => {
    const id = await run('sleep 300');
    await expect(docker.containers.waitFor(id, { port: 80 }, { timeout: 30_000 })).rejects.toThrow(/does not publish 80\/tcp/);
    const { id: exiting } = await publishing('sleep 0.5; exit 5');
    const err = asWaitError((await timed(docker.containers.waitFor(exiting, { port: 80, host: '127.0.0.1' }, { timeout: 30_000 }))).error);
    expect(err.code).toBe('CONTAINER_EXITED');
    expect(err.exitCode).toBe(5);
  });
});

describe('containers.waitFor: arrays and abort', () => {
  it('resolves to each result in order once all hold', async () => {
    const { id, hostPort } = await publishing(`echo ready; ${HTTPD}`);
    const { host, expectedHost } = await reach(hostPort);
    const [state, line, port] = await docker.containers.waitFor(id, ['running', { log: /^ready$/ }, { port: 80, ...(host ? { host } : {}) }], { timeout: 30_000 });
    expect(state.Running).toBe(true);
    expect(line.line).toBe('ready');
    expect(port).toEqual({ host: expectedHost, port: hostPort });
  });

  it('names only the conditions not met on timeout', async () => {
    const id = await run('echo ready; sleep 300');
    const err = asWaitError((await timed(docker.containers.waitFor(id, ['running', { log: 'ready' }, { log: 'never' }, { exited: true }], { timeout: 1000 }))).error);
    expect(err.code).toBe('WAIT_TIMEOUT');
    expect(err.unmet).toEqual(['log "never"', '{ exited: true }']);
  });

  it('an exit fails a wait for a log line even when { exited: true } is asked for too', async () => {
    const id = await run('echo a; sleep 0.3; exit 1');
    const err = asWaitError((await timed(docker.containers.waitFor(id, [{ exited: true }, { log: 'never' }], { timeout: 30_000 }))).error);
    expect(err.code).toBe('CONTAINER_EXITED');
    expect(err.exitCode).toBe(1);
    // …and with the line printed, both hold.
    const ok = await run('echo here; sleep 0.3; exit 1');
    expect(await docker.containers.waitFor(ok, [{ exited: true }, { log: 'here' }], { timeout: 30_000 })).toEqual([1, { stream: 'stdout', line: 'here' }]);
  });

  it('the signal aborts with AbortError, and nothing of the wait is left running', async () => {
    const id = await run('sleep 300');
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 400);
    const { ms, error } = await timed(docker.containers.waitFor(id, [{ log: 'never' }, { exited: true }], { timeout: 30_000, signal: controller.signal }));
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).code).toBe('ABORTED');
    expect(ms).toBeLessThan(3000);
    await new Promise((r) => setTimeout(r, 50));
    expect(timers()).toBeLessThanOrEqual(before);
    // An already aborted signal fails at once.
    await expect(docker.containers.waitFor(id, 'running', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  });
});
