/**
 * Connection limits and close(), against a local HTTP server that counts its connections: the
 * limit holds on every transport (the auto transport included, across its switch to undici), the
 * queue is first come first served, a queued call can be aborted, and close() is final.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, Docker, DockerError } from '../../src/index.js';
import { Limit } from '../../src/transport/limit.js';
import { FakeTransport } from '../support/fake-transport.js';
import { rejectionOf } from '../support/settle.js';
import { TRANSPORTS, UNDICI_HERE } from '../support/runtime.js';

interface Counting {
  host: string;
  /** Peak and current connections, as the server counts them. */
  stats(): Promise<{ peak: number; open: number }>;
  close(): Promise<void>;
}

/**
 * An engine stand-in in a process of its own (so the count does not depend on how the test's
 * runtime orders its own events): /_ping answers API 1.41, anything else `{}` after `delayMs`.
 * A connection counts until the client closes it (its FIN), not until the server's own close.
 * Its stdin takes `stats` lines, answered with one JSON line each.
 */
const SERVER = `
const http = require('node:http');
const delay = Number(process.argv[1]);
const state = { peak: 0, open: 0 };
const server = http.createServer((req, res) => {
  req.resume();
  const answer = () => {
    res.writeHead(200, { 'content-type': 'application/json', 'api-version': '1.41' });
    res.end(req.url === '/_ping' ? 'OK' : '{}');
  };
  if (req.url === '/_ping') answer(); else setTimeout(answer, delay);
});
server.on('connection', (socket) => {
  state.open++;
  state.peak = Math.max(state.peak, state.open);
  socket.on('error', () => {});
  let counted = true;
  const gone = () => { if (counted) { counted = false; state.open--; } };
  socket.once('end', gone);
  socket.once('close', gone);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
require('node:readline').createInterface({ input: process.stdin }).on('line', () => process.stdout.write(JSON.stringify(state) + '\\n'));
process.stdin.on('end', () => process.exit(0));
`;

async function countingEngine(delayMs: number): Promise<Counting> {
  const child = spawn('node', ['-e', SERVER, String(delayMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, number>> => JSON.parse(((await lines.next()).value as string | undefined) ?? 'null');
  const { port } = await next();
  return {
    host: `tcp://127.0.0.1:${port}`,
    stats: async () => {
      child.stdin!.write('stats\n');
      return (await next()) as { peak: number; open: number };
    },
    close: async () => {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

let engine: Counting | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

describe('connection limits', () => {
  it.runIf(UNDICI_HERE)('auto: the limit holds across the switch to undici, while node:http still has calls in flight', async () => {
    engine = await countingEngine(40);
    const docker = new Docker({ host: engine.host, transport: 'auto', maxConnections: 4 });
    try {
      const early = Array.from({ length: 60 }, () => docker.containers.inspect('abc'));
      // undici loads in the background meanwhile; node:http stays busy for ~600 ms
      await new Promise((r) => setTimeout(r, 250));
      const auto = (docker as unknown as { requester: { transport: { active: string } } }).requester.transport;
      expect(auto.active).toBe('undici');
      const late = Array.from({ length: 100 }, () => docker.containers.inspect('abc'));
      expect(await Promise.all([...early, ...late])).toHaveLength(160);
      expect((await engine.stats()).peak).toBeLessThanOrEqual(4);
      // node:http keeps no idle connection after the switch: what stays open is undici's pool
      await new Promise((r) => setTimeout(r, 50));
      expect((await engine.stats()).open).toBeLessThanOrEqual(4);
    } finally {
      await docker.close();
    }
  });

  for (const transport of [...TRANSPORTS, 'auto'] as const) {
    it(`${transport}: 300 concurrent calls with maxConnections 4 use at most 4 connections, and all succeed`, async () => {
      engine = await countingEngine(5);
      const docker = new Docker({ host: engine.host, transport, maxConnections: 4 });
      try {
        // 'auto' switches to undici after 16 requests, while node:http still has calls in flight
        const results = await Promise.all(Array.from({ length: 300 }, () => docker.containers.inspect('abc')));
        expect(results).toHaveLength(300);
        const { peak } = await engine.stats();
        expect(peak).toBeLessThanOrEqual(4);
        expect(peak).toBeGreaterThan(1);
      } finally {
        await docker.close();
      }
    });
  }

  it('a call waiting for a connection is ended by its signal with AbortError', async () => {
    engine = await countingEngine(300);
    const docker = new Docker({ host: engine.host, transport: 'node', maxConnections: 1 });
    try {
      await docker.system.ping();
      const first = docker.containers.inspect('a');
      const queued = docker.containers.inspect('b', {}, { timeout: 50 });
      const err = await rejectionOf(queued);
      expect(err).toBeInstanceOf(AbortError);
      expect((err as AbortError).code).toBe('TIMEOUT');
      await first;
    } finally {
      await docker.close();
    }
  });
});

describe('Limit', () => {
  it('grants places first come first served, and a place given up by an abort goes to the next', async () => {
    const limit = new Limit(1);
    const order: string[] = [];
    const release = await limit.acquire();
    const controller = new AbortController();
    const a = limit.acquire().then((r) => (order.push('a'), r));
    const b = limit.acquire(controller.signal).then((r) => (order.push('b'), r));
    const c = limit.acquire().then((r) => (order.push('c'), r));
    controller.abort(new Error('gone'));
    await expect(b).rejects.toThrow('gone');
    release();
    (await a)();
    (await c)();
    expect(order).toEqual(['a', 'c']);
    expect(limit.size).toBe(0);
  });
});

describe('close()', () => {
  it('a call waiting for a connection fails with CLOSED when the client closes (never hangs)', async () => {
    engine = await countingEngine(300);
    const docker = new Docker({ host: engine.host, transport: 'node', maxConnections: 1 });
    await docker.system.ping();
    const first = docker.containers.inspect('a').catch((e: unknown) => e);
    const queued = docker.containers.inspect('b').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await docker.close();
    for (const err of await Promise.all([first, queued])) {
      expect(err).toBeInstanceOf(DockerError);
      expect((err as DockerError).code).toBe('CLOSED');
    }
  });

  it.runIf(UNDICI_HERE)('auto: calls waiting for node:http to finish before the switch fail with CLOSED on close()', async () => {
    engine = await countingEngine(400);
    const docker = new Docker({ host: engine.host, transport: 'auto', maxConnections: 4 });
    const early = Array.from({ length: 20 }, () => docker.containers.inspect('abc').catch((e: unknown) => e));
    await new Promise((r) => setTimeout(r, 250));
    const auto = (docker as unknown as { requester: { transport: { active: string } } }).requester.transport;
    expect(auto.active).toBe('undici');
    // node:http still has calls in flight: this one waits for them
    const waiting = docker.containers.inspect('abc').catch((e: unknown) => e);
    await docker.close();
    const err = await Promise.race([waiting, new Promise((r) => setTimeout(() => r('hung'), 3000))]);
    expect(err).toBeInstanceOf(DockerError);
    expect((err as DockerError).code).toBe('CLOSED');
    await Promise.all(early);
  });

  it('a hijack waiting for a place fails on close(), and none starts after it', async () => {
    const limit = new Limit(1);
    const release = await limit.acquire();
    const waiting = limit.acquire();
    limit.close(new Error('closed'));
    await expect(waiting).rejects.toThrow('closed');
    await expect(limit.acquire()).rejects.toThrow('closed');
    release();
  });

  it('is final: closing twice resolves, and a later call fails with CLOSED without sending anything', async () => {
    const transport = new FakeTransport();
    const docker = new Docker({ transport, apiVersion: '1.41' });
    await docker.close();
    await docker.close();
    const err = await rejectionOf(docker.containers.list());
    expect(err).toBeInstanceOf(DockerError);
    expect((err as DockerError).code).toBe('CLOSED');
    expect(transport.calls).toHaveLength(0);
  });
});
