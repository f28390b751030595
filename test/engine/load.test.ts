/**
 * Load on one client, through a byte-forwarding FaultProxy (no fault) that counts the client's
 * connections, for each transport (node, undici, auto):
 *
 * - rounds of 1000 concurrent ordinary calls (ping, inspect, image list) while 200 followed
 *   streams stay open (192 followed logs, 4 events, 4 attach sessions on hijacked connections):
 *   every call succeeds, no stream ends while the calls run (no starvation), the proxy never sees
 *   more than maxConnections + 200 connections, `close()` resolves promptly and every stream's loop
 *   rejects with a DockerError `CLOSED`; file descriptors come back to their count before the round
 *   and neither they nor the heap (after a forced GC) grow across rounds; for 'auto', odd rounds
 *   switch to undici first (warm()) and even rounds switch while the streams open;
 * - with `maxConnections: 8` and no stream open, 1000 concurrent ordinary calls never use more than
 *   8 connections;
 * - auto only: with `maxConnections: 8`, a call still in flight on node:http (a container wait)
 *   while steady calls move to undici, the client holds no more than 8 connections once the switch
 *   has settled.
 *
 * Rounds per transport: LOAD_ROUNDS (default 20, as issue 7 asks; 6-12 s per transport on a quiet
 * 2-core machine).
 */
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Docker, DockerError } from '../../src/index.js';
import { Created } from '../support/engine.js';
import { FaultProxy } from '../support/fault-proxy.js';

type TransportKind = 'node' | 'undici' | 'auto';

const LOGS = 192;
const EVENTS = 4;
const ATTACHES = 4;
const STREAMS = LOGS + EVENTS + ATTACHES;
const CALLS = 1000;
const MAX_CONNECTIONS = 64; // the default
const SMALL_LIMIT = 8;
/** close() must resolve within this (ms). */
const CLOSE_BOUND = 3000;
/** Heap growth allowed from the second round to the last, after a forced GC. */
const HEAP_SLACK = 8 * 1024 * 1024;
const MB = 1024 * 1024;

const envRounds = process.env.LOAD_ROUNDS ? Number(process.env.LOAD_ROUNDS) : undefined;
const ROUNDS: Record<TransportKind, number> = {
  undici: envRounds ?? 20,
  node: envRounds ?? 20,
  auto: envRounds ?? 20,
};

/** Setup and cleanup go straight to the engine, not through the proxy. */
const setupClient = new Docker();
const created = new Created(setupClient);
/** A running, labelled container that prints one line and then sleeps (logs followed, inspected). */
let target: string;
/**
 * A running, labelled container that prints a line every 200 ms, to attach to. The engine notices
 * that an attach client went away only when it next writes to it: the ticks make it (and the
 * proxy, which forwards them to a socket dockhand closed) close its end, so the proxy's count
 * tells whether dockhand really closed the hijacked connection.
 */
let ticker: string;
/** Before the container was started: events since then replay at least its start at once. */
let since: Date;

beforeAll(async () => {
  since = new Date(Date.now() - 1000);
  target = await created.runContainer({ Cmd: ['sh', '-c', 'echo ready; exec sleep 3600'] });
  ticker = await created.runContainer({ Cmd: ['sh', '-c', 'while :; do echo tick; sleep 0.2; done'] });
});

afterAll(async () => {
  try {
    await created.cleanup();
  } finally {
    await setupClient.close();
  }
});

/** `global.gc`, or the same function obtained at run time when node runs without --expose-gc. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gc = exposeGc();

const fdCount = (): number => readdirSync('/proc/self/fd').length;

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise(setImmediate);
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Polls until `done()` holds or `ms` pass; returns whether it held. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** A promise that rejects after `ms` with `what`, for bounding waits with a clear message. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    work.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** The auto transport of a client (a private field, as the bench reaches it: diagnostics only). */
function autoOf(docker: Docker): { active: 'node' | 'undici'; warm(): Promise<void> } {
  return (docker as unknown as { requester: { transport: { active: 'node' | 'undici'; warm(): Promise<void> } } }).requester.transport;
}

function client(proxy: FaultProxy, transport: TransportKind, extra: { maxConnections?: number } = {}): Docker {
  return new Docker({ host: proxy.host, transport, env: {}, ...extra });
}

/** One open stream: its loop's outcome, and whether it has shown it is open. */
interface OpenStream {
  kind: 'logs' | 'events' | 'attach';
  ready: Promise<void>;
  /** The loop: resolves when it ends without an error, rejects with its error. */
  done: Promise<void>;
  ended: boolean;
}

/** Starts a loop over `source` that marks the stream ready (open and delivering) at its first item. */
function follow(kind: OpenStream['kind'], source: () => Promise<AsyncIterable<unknown>> | AsyncIterable<unknown>): OpenStream {
  let markReady!: () => void;
  let failReady!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined);
  const s: OpenStream = { kind, ready, done: Promise.resolve(), ended: false };
  s.done = (async () => {
    try {
      const iterable = await source();
      for await (const item of iterable) {
        void item;
        markReady();
      }
      failReady(new Error(`${kind}: the stream ended before it was ready`));
    } catch (err) {
      failReady(err);
      throw err;
    } finally {
      s.ended = true;
    }
  })();
  s.done.catch(() => undefined);
  return s;
}

/** 1000 ordinary calls at once: ping, inspect of the container, image list. */
async function ordinaryCalls(docker: Docker): Promise<{ ms: number; failures: unknown[] }> {
  const t0 = performance.now();
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < CALLS; i++) {
    switch (i % 3) {
      case 0:
        calls.push(docker.system.ping());
        break;
      case 1:
        calls.push(docker.containers.inspect(target).then((c) => expect(c.Id).toBe(target)));
        break;
      default:
        calls.push(docker.images.list());
    }
  }
  const settled = await Promise.allSettled(calls);
  const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
  return { ms: performance.now() - t0, failures };
}

interface RoundFigures {
  round: number;
  /** auto: 'warm' (undici loaded before the round) or 'load' (the switch happens during the round). */
  mode: string;
  openMs: number;
  callsMs: number;
  peak: number;
  closeMs: number;
  fds: number;
  heapMB: number;
}

/**
 * One round, through a proxy of its own (so its stats are the round's). For 'auto', odd rounds
 * load undici first (warm()); even rounds let the switch happen during the round, as the streams
 * open: then node:http's ordinary connections are closed at the switch while undici opens its own,
 * and the proxy counts a closed connection until the engine has answered its FIN, so its peak may
 * include up to maxConnections connections dockhand already closed: that bound is looser, and the
 * count once the calls are done is held to the strict one.
 */
async function loadRound(transport: TransportKind, round: number, baselineFds: number): Promise<RoundFigures> {
  const proxy = await FaultProxy.start({ listen: 'unix' });
  const docker = client(proxy, transport);
  const warmed = transport === 'auto' && round % 2 === 1;
  const mode = transport !== 'auto' ? '-' : warmed ? 'warm' : 'load';
  let streams: OpenStream[] = [];
  try {
    if (warmed) {
      await autoOf(docker).warm();
      expect(autoOf(docker).active, 'warm() moved the auto transport to undici').toBe('undici');
    }
    const t0 = performance.now();
    for (let i = 0; i < LOGS; i++) streams.push(follow('logs', () => docker.containers.logs(target, { follow: true })));
    for (let i = 0; i < EVENTS; i++) streams.push(follow('events', () => docker.system.events({ since })));
    for (let i = 0; i < ATTACHES; i++) streams.push(follow('attach', () => docker.containers.attach(ticker, { stream: true, stdout: true, stderr: true })));
    await within(Promise.all(streams.map((s) => s.ready)), 30_000, `${STREAMS} streams to open`);
    const openMs = performance.now() - t0;
    expect(proxy.stats.open, 'connections open with every stream open').toBeGreaterThanOrEqual(STREAMS);

    // The ordinary calls, while every stream stays open.
    const { ms: callsMs, failures } = await within(ordinaryCalls(docker), 30_000, `${CALLS} ordinary calls with ${STREAMS} streams open (starved?)`);
    expect(failures.length, `ordinary calls that failed, e.g. ${String((failures[0] as Error)?.message)}`).toBe(0);
    const endedEarly = streams.filter((s) => s.ended).map((s) => s.kind);
    expect(endedEarly, 'streams that ended while the ordinary calls ran').toEqual([]);
    expect(proxy.stats.open, 'connections open after the calls, streams still open').toBeGreaterThanOrEqual(STREAMS);
    expect(proxy.stats.open, `connections open after the calls (maxConnections ${MAX_CONNECTIONS} + ${STREAMS} streams)`).toBeLessThanOrEqual(MAX_CONNECTIONS + STREAMS);

    const peak = proxy.stats.peak;
    const switchLag = mode === 'load' ? MAX_CONNECTIONS : 0;
    expect(peak, `peak connections (maxConnections ${MAX_CONNECTIONS} + ${STREAMS} streams${switchLag ? ` + ${switchLag} closed at the switch` : ''})`).toBeLessThanOrEqual(
      MAX_CONNECTIONS + STREAMS + switchLag,
    );
    if (transport === 'auto') expect(autoOf(docker).active, 'the auto transport moved to undici').toBe('undici');

    // close(): prompt, and every loop rejects with CLOSED.
    const c0 = performance.now();
    await within(docker.close(), CLOSE_BOUND, 'docker.close()');
    const closeMs = performance.now() - c0;
    const outcomes = await within(Promise.allSettled(streams.map((s) => s.done)), 5000, 'every stream loop to end after close()');
    const notClosed = outcomes
      .map((o, i) => ({ kind: streams[i]!.kind, o }))
      .filter(({ o }) => !(o.status === 'rejected' && o.reason instanceof DockerError && o.reason.code === 'CLOSED'))
      .map(({ kind, o }) => `${kind}: ${o.status === 'fulfilled' ? 'ended without an error' : `${(o.reason as Error)?.name} ${(o.reason as { code?: string })?.code}: ${(o.reason as Error)?.message}`}`);
    expect(notClosed, 'stream loops that did not reject with CLOSED after close()').toEqual([]);
    streams = [];

    // Every connection is gone, seen from the proxy (before closing it, which would hide a leak).
    expect(await until(() => proxy.stats.open === 0, 5000), `proxy connections still open after close(): ${proxy.stats.open}`).toBe(true);
    await proxy.close();
    await until(() => fdCount() <= baselineFds, 5000);
    const fds = fdCount();
    const heap = await settledHeap();
    return { round, mode, openMs, callsMs, peak, closeMs, fds, heapMB: heap / MB };
  } finally {
    await docker.close().catch(() => undefined);
    await Promise.allSettled(streams.map((s) => s.done));
    await proxy.close();
  }
}

function table(transport: TransportKind, rows: RoundFigures[], baselineFds: number, baselineHeap: number): string {
  const head = `load (${transport}): baseline fds ${baselineFds}, heap ${(baselineHeap / MB).toFixed(1)} MB\n round  switch  open ms  calls ms  peak conns  close ms  fds  heap MB`;
  const lines = rows.map(
    (r) => `${String(r.round).padStart(6)} ${r.mode.padStart(7)} ${r.openMs.toFixed(0).padStart(8)} ${r.callsMs.toFixed(0).padStart(9)} ${String(r.peak).padStart(11)} ${r.closeMs.toFixed(1).padStart(9)} ${String(r.fds).padStart(4)} ${r.heapMB.toFixed(1).padStart(8)}`,
  );
  return [head, ...lines].join('\n');
}

describe.each(['node', 'undici', 'auto'] as const)('load on one client (%s)', (transport) => {
  it(`with maxConnections: ${SMALL_LIMIT}, ${CALLS} concurrent ordinary calls use at most ${SMALL_LIMIT} connections`, async () => {
    const proxy = await FaultProxy.start({ listen: 'unix' });
    const docker = client(proxy, transport, { maxConnections: SMALL_LIMIT });
    try {
      const { failures } = await within(ordinaryCalls(docker), 30_000, `${CALLS} ordinary calls with maxConnections ${SMALL_LIMIT}`);
      expect(failures.length, `ordinary calls that failed, e.g. ${String((failures[0] as Error)?.message)}`).toBe(0);
      if (transport === 'auto') expect(autoOf(docker).active, 'the auto transport moved to undici').toBe('undici');
      console.log(`load (${transport}): maxConnections ${SMALL_LIMIT}: peak ${proxy.stats.peak} connection(s) for ${CALLS} concurrent calls`);
      expect(proxy.stats.peak).toBeLessThanOrEqual(SMALL_LIMIT);
      expect(proxy.stats.peak, 'the calls ran concurrently').toBeGreaterThan(1);
      await docker.close();
      expect(await until(() => proxy.stats.open === 0, 5000), `proxy connections still open after close(): ${proxy.stats.open}`).toBe(true);
    } finally {
      await docker.close().catch(() => undefined);
      await proxy.close();
    }
  }, 60_000);

  it(`${ROUNDS[transport]} rounds of ${CALLS} ordinary calls with ${STREAMS} followed streams open, then close()`, async () => {
    const rounds = ROUNDS[transport];
    const baselineFds = fdCount();
    const baselineHeap = await settledHeap();
    const rows: RoundFigures[] = [];
    try {
      for (let round = 1; round <= rounds; round++) {
        const row = await loadRound(transport, round, baselineFds);
        rows.push(row);
        expect(row.fds, `round ${round}: file descriptors after close() (baseline ${baselineFds})`).toBeLessThanOrEqual(baselineFds);
      }
    } finally {
      console.log(table(transport, rows, baselineFds, baselineHeap));
    }
    // No growth across rounds: descriptors equal, heap within slack (round 1 includes one-time costs).
    expect(rows.at(-1)!.fds, 'fds after the last round vs the first').toBeLessThanOrEqual(rows[0]!.fds);
    const heapGrowth = (rows.at(-1)!.heapMB - rows[Math.min(1, rows.length - 1)]!.heapMB) * MB;
    expect(heapGrowth, `heap growth from round 2 to round ${rounds} (bytes)`).toBeLessThan(HEAP_SLACK);
  }, 300_000);
});

describe('load on one client (auto): the switch to undici under load', () => {
  /** After the switch, the proxy has seen the FIN of every connection closed at the switch by then. */
  const SETTLE_MS = 300;

  it(`with maxConnections: ${SMALL_LIMIT} and a container wait in flight across the switch, steady calls never hold more than ${SMALL_LIMIT} connections (+1 for the wait, a long poll counted with the streams)`, async () => {
    const slow = await created.runContainer({ Cmd: ['sleep', '4'] });
    const proxy = await FaultProxy.start({ listen: 'unix' });
    const docker = client(proxy, 'auto', { maxConnections: SMALL_LIMIT });
    let sampler: NodeJS.Timeout | undefined;
    try {
      // A long ordinary call on node:http, from before the switch: waiting for a container that exits in 4 s.
      let waitDone = false;
      const waiting = docker.containers.wait(slow).finally(() => (waitDone = true));
      // The most connections open once the switch has settled, while the wait is still in flight.
      let switchedAt: number | undefined;
      let settledMax = 0;
      let samples = 0;
      sampler = setInterval(() => {
        if (waitDone) return;
        if (switchedAt === undefined) {
          if (autoOf(docker).active === 'undici') switchedAt = performance.now();
          return;
        }
        if (performance.now() - switchedAt < SETTLE_MS) return;
        samples++;
        settledMax = Math.max(settledMax, proxy.stats.open);
      }, 5);
      // 32 workers calling one after another until the wait ends: calls made after the switch go to undici.
      const failures: unknown[] = [];
      let calls = 0;
      const workers = Array.from({ length: 32 }, async (_, w) => {
        for (let i = 0; !waitDone; i++) {
          try {
            await ((i + w) % 2 ? docker.system.ping() : docker.containers.inspect(target));
            calls++;
          } catch (err) {
            failures.push(err);
          }
        }
      });
      const [result] = await within(Promise.all([waiting, ...workers]), 30_000, 'the wait and the calls');
      clearInterval(sampler);
      expect(result.StatusCode).toBe(0);
      expect(failures.length, `calls that failed, e.g. ${String((failures[0] as Error)?.message)}`).toBe(0);
      expect(autoOf(docker).active, 'the auto transport moved to undici').toBe('undici');
      console.log(
        `load (auto, switch under load): maxConnections ${SMALL_LIMIT}: ${calls} calls; ${samples} samples from ${SETTLE_MS} ms after the switch ` +
          `to the end of the wait: at most ${settledMax} connection(s) open; peak ${proxy.stats.peak} (the peak counts connections closed at the switch until the engine answers their FIN)`,
      );
      expect(samples, 'samples taken after the switch had settled, the wait still in flight on node:http').toBeGreaterThan(20);
      // ContainerWait is a long poll: it holds a connection counted apart, with the streams.
      expect(settledMax, `connections open after the switch, with the wait still in flight (maxConnections ${SMALL_LIMIT}, + 1 for the wait)`).toBeLessThanOrEqual(SMALL_LIMIT + 1);
      await docker.close();
      expect(await until(() => proxy.stats.open === 0, 5000), `proxy connections still open after close(): ${proxy.stats.open}`).toBe(true);
    } finally {
      clearInterval(sampler);
      await docker.close().catch(() => undefined);
      await proxy.close();
    }
  }, 60_000);
});
