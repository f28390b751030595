/**
 * `containers.waitFor(id, condition, { timeout, signal })`: wait until a container is running,
 * healthy, has printed a line, has exited, or answers on a port or over HTTP, instead of a
 * hand-written loop. Several conditions in an array must all be met.
 *
 * How each is watched:
 * - `'running'`, `'healthy'`, `{ exited: true }`: ContainerInspect, polled with backoff (25 ms
 *   doubling to 500 ms), and re-run at once when an engine event names the container.
 * - `{ log }`: the container's log, read from the start and followed, split into lines.
 * - `{ port }`, `{ http }`: once the container runs, the port's published host port is connected
 *   to (backoff 50 ms doubling to 1 s).
 *
 * Whatever ends the wait (met, timed out, exited, aborted, failed), every request, log stream,
 * event stream, probe socket and timer of it is closed before the promise settles' caller sees
 * anything more from it: nothing is left running.
 */
import http from 'node:http';
import net from 'node:net';
import { DockerError, ValidationError, describeValue } from '../errors.js';
import type { ContainerInspectResponse, ContainerState, PortBinding } from '../generated/types.js';
import { abortError } from '../request/abort.js';
import type { CallOptions } from '../request/types.js';
import type { StreamName } from '../streams/demux.js';
import type { Line } from '../streams/lines.js';
import type { OperationContext } from './context.js';
import { containerLogs } from './logs.js';
import { systemEvents } from './monitor.js';

/** A container's state as ContainerInspect reports it. */
export type ContainerStateInfo = NonNullable<ContainerState>;

/** A container port: `80` or `'80'` (TCP), or `'80/tcp'`. */
export type ContainerPort = number | string;

/** A line of the container's log (stdout and stderr, from the start, followed). */
export interface LogCondition {
  /**
   * A RegExp tested against each whole line (without its line ending), or a string that must
   * appear in a line (a substring, not a pattern).
   */
  log: RegExp | string;
  /** How many matching lines to wait for (default 1); the result is the last one. */
  times?: number;
  /** Only lines of this stream (default: both). With a TTY everything is stdout. */
  stream?: StreamName;
}

/** The container has exited; resolves to its exit code. */
export interface ExitedCondition {
  exited: true;
}

/** The published host port of a container port accepts a TCP connection. */
export interface PortCondition {
  port: ContainerPort;
  /**
   * Where to connect, instead of the address worked out from the engine's (see README): for an
   * engine whose published ports are reached through another address (a tunnel, a proxy).
   */
  host?: string;
}

/** An HTTP request to the published host port of a container port gets the expected status. */
export interface HttpCondition {
  http: {
    port: ContainerPort;
    /** Default `/`. */
    path?: string;
    /** Default `GET`. */
    method?: string;
    /** The status expected, or a test of it; by default any 2xx. */
    status?: number | ((status: number) => boolean);
    /** As PortCondition's `host`. */
    host?: string;
  };
}

export type WaitCondition = 'running' | 'healthy' | LogCondition | ExitedCondition | PortCondition | HttpCondition;

/** A log condition's result: the (last) matching line. */
export interface LogMatch {
  stream: StreamName;
  line: string;
  /** The RegExp's match, for RegExp conditions (capture groups included). */
  match?: RegExpExecArray;
}

/** A port condition's result: where the port was reached. */
export interface PortResult {
  host: string;
  port: number;
}

/** An HTTP condition's result: where, and the status the check got. */
export interface HttpResult extends PortResult {
  status: number;
}

/** What one condition resolves to. */
export type WaitResult<C> = C extends 'running' | 'healthy'
  ? ContainerStateInfo
  : C extends ExitedCondition
    ? number
    : C extends LogCondition
      ? LogMatch
      : C extends HttpCondition
        ? HttpResult
        : C extends PortCondition
          ? PortResult
          : never;

/** What an array of conditions resolves to: each condition's result, in the same order. */
export type WaitResults<C extends readonly WaitCondition[]> = { -readonly [K in keyof C]: WaitResult<C[K]> };

export interface WaitForOptions {
  /** Milliseconds before failing with WAIT_TIMEOUT (default 60 000; 0 or Infinity: no limit). */
  timeout?: number;
  signal?: AbortSignal;
  /** How many of the container's last log lines a WaitError carries (default 20, at most 1000). */
  logTail?: number;
}

/** Why a wait failed: WAIT_TIMEOUT, CONTAINER_EXITED or NO_HEALTHCHECK, with what was seen. */
export class WaitError extends DockerError {
  readonly containerId: string;
  /** The conditions not met, described (`log /ready/ (0 of 1 lines)`, `port 80/tcp`, ...). */
  readonly unmet: readonly string[];
  /** The container's last known state. */
  readonly state: ContainerStateInfo | undefined;
  /** The exit code, when the container had exited. */
  readonly exitCode: number | undefined;
  /** The container's last log lines (at most `logTail` lines of at most 1000 characters each). */
  readonly logTail: readonly Line[];
  constructor(
    message: string,
    details: { code: 'WAIT_TIMEOUT' | 'CONTAINER_EXITED' | 'NO_HEALTHCHECK'; containerId: string; unmet: string[]; state?: ContainerStateInfo; exitCode?: number; logTail?: Line[]; cause?: unknown },
  ) {
    super(message, { code: details.code, operationId: OPERATION, ...(details.cause !== undefined ? { cause: details.cause } : {}) });
    this.containerId = details.containerId;
    this.unmet = details.unmet;
    this.state = details.state;
    this.exitCode = details.exitCode;
    this.logTail = details.logTail ?? [];
  }
}

const OPERATION = 'containers.waitFor';
const DEFAULT_TIMEOUT = 60_000;
const DEFAULT_TAIL = 20;
const MAX_TAIL = 1000;
/** Longest log line kept in an error (characters). */
const TAIL_LINE_CHARS = 1000;
/** Longest log line shown in an error's message (characters). */
const MESSAGE_LINE_CHARS = 200;
/** Log lines longer than this are matched in pieces (see streams/lines.ts). */
const LOG_LINE_BYTES = 1024 * 1024;
const POLL_MIN_MS = 25;
const POLL_MAX_MS = 500;
const PROBE_MIN_MS = 50;
const PROBE_MAX_MS = 1000;
/** Longest wait for a connection (or an HTTP answer) of one probe. */
const PROBE_TIMEOUT_MS = 2000;
/**
 * How long a probe's connection must stay open. dockerd's userland proxy (docker-proxy) accepts
 * a connection to a published port even when nothing in the container listens, then closes it
 * when its own connection to the container is refused: a connection closed this soon without a
 * byte counts as refused.
 */
const PROBE_HOLD_MS = 250;
/** How long the diagnostics of a failed wait (a last inspect, the log tail) may take. */
const DIAGNOSTICS_MS = 3000;

type Inspect = ContainerInspectResponse;

interface BaseSpec {
  readonly index: number;
  readonly describe: string;
  met: boolean;
  result?: unknown;
  /** What was seen last, for errors: `0 of 2 lines`, `ECONNREFUSED at 127.0.0.1:32768`. */
  progress?: string;
  lastError?: unknown;
}
type Spec = BaseSpec &
  (
    | { kind: 'running' | 'healthy' | 'exited' }
    | { kind: 'log'; test: (line: string) => RegExpExecArray | boolean; times: number; stream: StreamName | undefined; count: number }
    | { kind: 'port'; port: string; host: string | undefined; probing: boolean }
    | {
        kind: 'http';
        port: string;
        host: string | undefined;
        probing: boolean;
        path: string;
        method: string;
        status: (status: number) => boolean;
      }
  );

function bad(where: string, why: string): never {
  throw new ValidationError(`${OPERATION}: ${where} ${why}`, { operationId: OPERATION, parameter: where });
}

function parsePort(value: unknown, where: string): string {
  const m = typeof value === 'number' ? /^(\d+)$/.exec(String(value)) : typeof value === 'string' ? /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(value.trim()) : null;
  const n = m ? Number(m[1]) : NaN;
  if (!m || !(n >= 1 && n <= 65535)) bad(where, `must be a container port (80, '80' or '80/tcp'), not ${describeValue(value)}`);
  const proto = (m[2] ?? 'tcp').toLowerCase();
  if (proto !== 'tcp') bad(where, `is ${n}/${proto}: only TCP ports can be checked by connecting`);
  return `${n}/tcp`;
}

function parseHost(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') bad(where, `must be a host name or address, not ${describeValue(value)}`);
  return value.trim();
}

function parseCondition(c: unknown, index: number, where: string): Spec {
  const base = { index, met: false };
  if (c === 'running' || c === 'healthy') return { ...base, kind: c, describe: `'${c}'` };
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    return bad(where, `must be 'running', 'healthy', { log }, { exited: true }, { port } or { http }, not ${describeValue(c)}`);
  }
  const o = c as Record<string, unknown>;
  const keys = ['log', 'exited', 'port', 'http'].filter((k) => k in o);
  if (keys.length !== 1) bad(where, `must have exactly one of log, exited, port, http (it has ${keys.length ? keys.join(', ') : 'none'})`);
  if ('log' in o) {
    const pattern = o.log;
    const times = o.times ?? 1;
    if (typeof times !== 'number' || !Number.isSafeInteger(times) || times < 1) bad(`${where}.times`, `must be a whole number >= 1, not ${describeValue(times)}`);
    if (o.stream !== undefined && o.stream !== 'stdout' && o.stream !== 'stderr') bad(`${where}.stream`, `must be 'stdout' or 'stderr', not ${describeValue(o.stream)}`);
    let test: (line: string) => RegExpExecArray | boolean;
    let shown: string;
    if (pattern instanceof RegExp) {
      test = (line) => {
        pattern.lastIndex = 0; // a /g or /y pattern would otherwise carry its position from line to line
        return pattern.exec(line) ?? false;
      };
      shown = String(pattern);
    } else if (typeof pattern === 'string' && pattern !== '') {
      test = (line) => line.includes(pattern);
      shown = JSON.stringify(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern);
    } else {
      return bad(`${where}.log`, `must be a RegExp or a non-empty string, not ${describeValue(pattern)}`);
    }
    const stream = o.stream as StreamName | undefined;
    const describe = `log ${shown}${times > 1 ? ` ${times} times` : ''}${stream ? ` on ${stream}` : ''}`;
    return { ...base, kind: 'log', describe, test, times, stream, count: 0 };
  }
  if ('exited' in o) {
    if (o.exited !== true) bad(`${where}.exited`, `must be true, not ${describeValue(o.exited)}`);
    return { ...base, kind: 'exited', describe: '{ exited: true }' };
  }
  if ('port' in o) {
    const port = parsePort(o.port, `${where}.port`);
    return { ...base, kind: 'port', port, host: parseHost(o.host, `${where}.host`), probing: false, describe: `port ${port}` };
  }
  const h = o.http;
  if (typeof h !== 'object' || h === null) return bad(`${where}.http`, `must be an object { port, path?, status? }, not ${describeValue(h)}`);
  const hc = h as Record<string, unknown>;
  const port = parsePort(hc.port, `${where}.http.port`);
  const path = hc.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/') || /[\s\0]/.test(path)) bad(`${where}.http.path`, `must be a path starting with /, without spaces, not ${describeValue(path)}`);
  const method = hc.method ?? 'GET';
  if (typeof method !== 'string' || !/^[A-Z]+$/i.test(method)) bad(`${where}.http.method`, `must be an HTTP method, not ${describeValue(method)}`);
  const s = hc.status;
  let status: (code: number) => boolean;
  let shown: string;
  if (s === undefined) {
    status = (code) => code >= 200 && code < 300;
    shown = '2xx';
  } else if (typeof s === 'number' && Number.isInteger(s) && s >= 100 && s <= 599) {
    status = (code) => code === s;
    shown = String(s);
  } else if (typeof s === 'function') {
    status = (code) => (s as (code: number) => unknown)(code) === true;
    shown = 'the status test';
  } else {
    return bad(`${where}.http.status`, `must be a status code (100-599) or a function, not ${describeValue(s)}`);
  }
  return {
    ...base,
    kind: 'http',
    port,
    host: parseHost(hc.host, `${where}.http.host`),
    probing: false,
    path,
    method: method.toUpperCase(),
    status,
    describe: `http ${method.toUpperCase()} ${path} on port ${port} answering ${shown}`,
  };
}

/** The host name of a tcp://, http(s):// or ssh:// engine address; undefined for a local socket. */
export function remoteEngineHost(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const m = /^(?:tcp|https?|ssh):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^/:]+)/i.exec(address);
  return m ? m[1]!.replace(/^\[|\]$/g, '') : undefined;
}

function isLoopback(ip: string): boolean {
  return /^127\./.test(ip) || ip === '::1' || ip === 'localhost';
}

/**
 * Where a published port is reached from here: the engine's host for a remote engine (tcp://,
 * ssh://), this machine (127.0.0.1, or ::1 for an IPv6-only binding) for a local socket when the
 * binding is on every address, else the binding's own address.
 */
export function publishedHost(binding: PortBinding, engineAddress: string | undefined): string {
  const ip = (binding.HostIp ?? '').trim();
  const any = ip === '' || ip === '0.0.0.0' || ip === '::';
  const remote = remoteEngineHost(engineAddress);
  if (remote !== undefined) return any || isLoopback(ip) ? remote : ip;
  if (any) return ip === '::' ? '::1' : '127.0.0.1';
  return ip;
}

/** Running, or about to be: neither exited for good nor going away. */
function hasExited(state: ContainerStateInfo): boolean {
  if (state.Restarting) return false;
  const status = state.Status as string | undefined;
  if (status === 'exited' || status === 'dead' || status === 'removing' || status === 'stopped') return true;
  return status === undefined && state.Running === false && !!state.FinishedAt && !state.FinishedAt.startsWith('0001-');
}

/**
 * Whether the container has a healthcheck: its config's (its own or its image's), or a health
 * status. Podman reports `Health: { Status: "" }` for a container without one.
 */
function hasHealthcheck(info: Inspect): boolean {
  if (info.State?.Health?.Status) return true;
  const test = info.Config?.Healthcheck?.Test;
  return Array.isArray(test) && test.length > 0 && test[0] !== 'NONE';
}

function describeState(state: ContainerStateInfo | undefined): string {
  if (!state) return 'unknown';
  const parts = [state.Status ?? (state.Running ? 'running' : 'not running')];
  if (hasExited(state) && typeof state.ExitCode === 'number') parts.push(`exit code ${state.ExitCode}`);
  if (state.OOMKilled) parts.push('OOM-killed');
  if (state.Error) parts.push(`error: ${state.Error}`);
  if (state.Health?.Status) {
    const last = state.Health.Log?.[state.Health.Log.length - 1];
    const output = last?.Output?.trim();
    parts.push(`health: ${state.Health.Status}${last ? ` (last check exit code ${last.ExitCode}${output ? `: ${output.slice(0, MESSAGE_LINE_CHARS)}` : ''})` : ''}`);
  }
  return parts.join(', ');
}

function errorText(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  const message = (err as Error)?.message ?? String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** One TCP connection to host:port that stays open PROBE_HOLD_MS (or gets a byte). */
function tcpProbe(host: string, port: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host, port });
    let timer: NodeJS.Timeout | undefined;
    const finish = (err?: Error): void => {
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => finish(new Error('aborted'));
    socket.on('error', (err) => finish(err));
    socket.on('data', () => finish());
    socket.on('end', () => finish(new Error(`${host}:${port} closed the connection at once (nothing listens behind the published port yet)`)));
    socket.on('close', () => finish(new Error(`${host}:${port} closed the connection at once`)));
    socket.on('connect', () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(), PROBE_HOLD_MS);
    });
    timer = setTimeout(() => finish(new Error(`no connection to ${host}:${port} within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One HTTP request; resolves to the status (the body is not read). */
function httpProbe(host: string, port: number, method: string, path: string, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const req = http.request({ host, port, method, path, agent: false, signal, headers: { connection: 'close', 'user-agent': 'dockhand-waitFor' }, timeout: PROBE_TIMEOUT_MS });
    req.on('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from http://${host}:${port}${path} within ${PROBE_TIMEOUT_MS} ms`)));
    req.on('response', (res) => {
      res.on('error', () => undefined);
      settled = true;
      resolve(res.statusCode ?? 0);
      res.destroy();
      req.destroy();
    });
    req.end();
  });
}

/** One waitFor call: its conditions, its tasks, and everything they opened. */
class Waiter {
  /** Aborted when the wait settles, whichever way: ends every request, stream, probe and sleep. */
  private readonly stop = new AbortController();
  private readonly wakers = new Set<() => void>();
  private readonly tail: Line[] = [];
  private lastInspect: Inspect | undefined;
  private settled = false;
  private nudged = false;
  private timer: NodeJS.Timeout | undefined;
  private resolvePromise!: (value: unknown[]) => void;
  private rejectPromise!: (err: unknown) => void;
  private readonly tailSize: number;
  private readonly timeout: number;

  constructor(
    private readonly ctx: OperationContext,
    private readonly id: string,
    private readonly specs: Spec[],
    private readonly options: WaitForOptions,
  ) {
    this.tailSize = options.logTail ?? DEFAULT_TAIL;
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT;
  }

  private get call(): CallOptions {
    return { signal: this.stop.signal };
  }

  run(): Promise<unknown[]> {
    const done = new Promise<unknown[]>((resolve, reject) => {
      this.resolvePromise = resolve;
      this.rejectPromise = reject;
    });
    const signal = this.options.signal;
    if (signal?.aborted) {
      this.onAbort();
      return done;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.timeout > 0 && Number.isFinite(this.timeout)) this.timer = setTimeout(() => void this.failWith('WAIT_TIMEOUT'), this.timeout);
    const task = (work: Promise<void>): void => void work.catch((err: unknown) => this.fail(err));
    if (this.specs.some((s) => s.kind !== 'log')) {
      task(this.poll());
      task(this.watchEvents());
    }
    if (this.specs.some((s) => s.kind === 'log')) task(this.followLogs());
    return done;
  }

  private readonly onAbort = (): void => {
    this.fail(abortError(OPERATION, this.options.signal?.reason));
  };

  /** Ends every task and timer; after this nothing of the wait runs. */
  private cleanup(): void {
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.stop.abort();
    for (const wake of [...this.wakers]) wake();
  }

  private fail(err: unknown): void {
    if (this.settled) return;
    this.cleanup();
    this.rejectPromise(err);
  }

  private met(spec: Spec, result: unknown): void {
    if (spec.met || this.settled) return;
    spec.met = true;
    spec.result = result;
    if (this.specs.every((s) => s.met)) {
      this.cleanup();
      this.resolvePromise(this.specs.map((s) => s.result));
    }
  }

  /** Sleeps `ms`, or less when an event names the container or the wait settles. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.settled) return resolve();
      const wake = (): void => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /** ContainerInspect; a container removed after it was seen is reported as undefined. */
  private async inspect(): Promise<Inspect | undefined> {
    try {
      const info = await this.ctx.call('ContainerInspect', { id: this.id }, this.call);
      this.lastInspect = info;
      return info;
    } catch (err) {
      if (this.lastInspect && err instanceof DockerError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  /** The state conditions, and exits, from ContainerInspect polled with backoff. */
  private async poll(): Promise<void> {
    let delay = POLL_MIN_MS;
    while (!this.settled) {
      const info = await this.inspect();
      if (this.settled) return;
      if (!info) {
        if (this.specs.some((s) => !s.met && s.kind !== 'log')) return this.failWith('CONTAINER_EXITED', 'the container was removed');
        return;
      }
      this.evaluate(info);
      if (this.settled || this.specs.every((s) => s.met || s.kind === 'log')) return;
      await this.sleep(delay);
      delay = this.nudged ? POLL_MIN_MS : Math.min(delay * 2, POLL_MAX_MS);
      this.nudged = false;
    }
  }

  private evaluate(info: Inspect): void {
    const state: ContainerStateInfo = info.State ?? {};
    const running = state.Running === true && !state.Paused && !state.Restarting;
    const exited = hasExited(state);
    for (const spec of this.specs) {
      if (spec.met || this.settled) continue;
      switch (spec.kind) {
        case 'running':
          if (running) this.met(spec, state);
          break;
        case 'healthy':
          if (!hasHealthcheck(info)) {
            void this.failWith('NO_HEALTHCHECK', 'the container has no healthcheck (its image defines none and it was created without one)');
            return;
          }
          spec.progress = `health: ${state.Health?.Status ?? 'none yet'}`;
          if (running && state.Health?.Status === 'healthy') this.met(spec, state);
          break;
        case 'exited':
          if (exited) this.met(spec, state.ExitCode ?? 0);
          break;
        case 'port':
        case 'http':
          if (running && !spec.probing) {
            spec.probing = true;
            void this.probe(spec).catch((err: unknown) => this.fail(err));
          }
          break;
        default:
          break;
      }
    }
    if (!this.settled && exited && this.specs.some((s) => !s.met && s.kind !== 'log' && s.kind !== 'exited')) void this.failWith('CONTAINER_EXITED');
  }

  /** Engine events about the container wake the poll loop (events are a hint; polling decides). */
  private async watchEvents(): Promise<void> {
    try {
      const events = systemEvents(this.ctx, { filters: { type: ['container'], container: [this.id] } }, this.call);
      for await (const _event of events) {
        this.nudged = true;
        for (const wake of [...this.wakers]) wake();
      }
    } catch {
      // Polling goes on without events (an engine without them, a dropped stream, the wait settled).
    }
  }

  /** Connects to a port (or asks over HTTP) until it answers; the container runs when this starts. */
  private async probe(spec: Spec & { kind: 'port' | 'http' }): Promise<void> {
    let delay = PROBE_MIN_MS;
    while (!this.settled) {
      const info = this.lastInspect;
      const target = info && (await this.target(spec, info));
      if (this.settled) return;
      if (target) {
        try {
          if (spec.kind === 'port') {
            await tcpProbe(target.host, target.port, this.stop.signal);
            if (this.settled) return;
            return this.met(spec, target);
          }
          const status = await httpProbe(target.host, target.port, spec.method, spec.path, this.stop.signal);
          if (this.settled) return;
          if (spec.status(status)) return this.met(spec, { ...target, status });
          spec.progress = `http://${target.host}:${target.port}${spec.path} answered ${status}`;
          spec.lastError = undefined;
        } catch (err) {
          if (this.settled) return;
          spec.lastError = err;
          spec.progress = `${target.host}:${target.port}: ${errorText(err)}`;
        }
      }
      await this.sleep(delay);
      delay = Math.min(delay * 2, PROBE_MAX_MS);
    }
  }

  /** The host and port a container port is published on; fails when it is not published. */
  private async target(spec: Spec & { kind: 'port' | 'http' }, info: Inspect): Promise<PortResult | undefined> {
    const ports = info.NetworkSettings?.Ports ?? {};
    const bindings = (ports[spec.port] ?? []).filter((b) => b.HostPort && /^\d+$/.test(b.HostPort));
    if (bindings.length === 0) {
      const published = Object.entries(ports)
        .filter(([, b]) => b && b.length > 0)
        .map(([p]) => p);
      throw new ValidationError(
        `${OPERATION}: container ${this.id} does not publish ${spec.port} on a host port (${published.length ? `it publishes ${published.join(', ')}` : 'it publishes no port'}); create it with HostConfig.PortBindings, e.g. { '${spec.port}': [{ HostPort: '' }] } for a random one`,
        { operationId: OPERATION, parameter: spec.kind === 'port' ? 'port' : 'http.port' },
      );
    }
    // An IPv4 binding first: '::' and '0.0.0.0' both mean every address, and IPv4 always works here.
    const binding = bindings.find((b) => !(b.HostIp ?? '').includes(':')) ?? bindings[0]!;
    const port = Number(binding.HostPort);
    if (spec.host) return { host: spec.host, port };
    const address = this.ctx.address ? await this.ctx.address().catch(() => undefined) : undefined;
    return { host: publishedHost(binding, address), port };
  }

  /** The log from the start, followed, line by line, until every log condition is met. */
  private async followLogs(): Promise<void> {
    const logs = this.specs.filter((s): s is Spec & { kind: 'log' } => s.kind === 'log');
    let seen = 0;
    let delay = PROBE_MIN_MS;
    while (!this.settled) {
      let index = 0;
      const stream = containerLogs(this.ctx, this.id, { follow: true, stdout: true, stderr: true }, this.call);
      for await (const line of stream.lines({ maxLineLength: LOG_LINE_BYTES })) {
        // A reopened log starts again from the start: skip the lines already checked.
        if (index++ < seen) continue;
        seen++;
        this.remember(line);
        for (const spec of logs) {
          if (spec.met || (spec.stream && spec.stream !== line.stream)) continue;
          const hit = spec.test(line.line);
          if (hit === false) continue;
          spec.count++;
          spec.progress = `${spec.count} of ${spec.times} lines`;
          if (spec.count >= spec.times) this.met(spec, { stream: line.stream, line: line.line, ...(hit === true ? {} : { match: hit }) });
        }
        if (this.settled || logs.every((s) => s.met)) return;
      }
      // The followed log ended: the container stopped, or never started yet (its log then ends at once).
      const info = await this.inspect();
      if (this.settled) return;
      if (!info) return this.failWith('CONTAINER_EXITED', 'the container was removed');
      if (info.State && hasExited(info.State)) return this.failWith('CONTAINER_EXITED');
      await this.sleep(delay);
      delay = Math.min(delay * 2, PROBE_MAX_MS);
    }
  }

  private remember(line: Line): void {
    if (this.tailSize <= 0) return;
    this.tail.push(line.line.length > TAIL_LINE_CHARS ? { stream: line.stream, line: `${line.line.slice(0, TAIL_LINE_CHARS)}…` } : line);
    if (this.tail.length > this.tailSize) this.tail.shift();
  }

  /** The container's last log lines, read afresh (or those the log condition saw, if that fails). */
  private async logTail(signal: AbortSignal): Promise<Line[]> {
    if (this.tailSize <= 0) return [];
    try {
      const lines: Line[] = [];
      const stream = containerLogs(this.ctx, this.id, { tail: String(this.tailSize), stdout: true, stderr: true }, { signal });
      for await (const line of stream.lines({ maxLineLength: 4 * TAIL_LINE_CHARS })) {
        lines.push(line.line.length > TAIL_LINE_CHARS ? { stream: line.stream, line: `${line.line.slice(0, TAIL_LINE_CHARS)}…` } : line);
        if (lines.length > this.tailSize) lines.shift();
      }
      return lines;
    } catch {
      return [...this.tail];
    }
  }

  /**
   * Fails with a WaitError after settling (so nothing else runs), once it has read the
   * container's last state and log tail (bounded in time, and cut short by the caller's signal).
   */
  private async failWith(code: 'WAIT_TIMEOUT' | 'CONTAINER_EXITED' | 'NO_HEALTHCHECK', note?: string): Promise<void> {
    if (this.settled) return;
    this.cleanup();
    const unmetSpecs = this.specs.filter((s) => !s.met);
    const unmet = unmetSpecs.map((s) => (s.progress ? `${s.describe} (${s.progress})` : s.describe));
    const diagnostics = AbortSignal.any([AbortSignal.timeout(DIAGNOSTICS_MS), ...(this.options.signal ? [this.options.signal] : [])]);
    let state = this.lastInspect?.State ?? undefined;
    if (code === 'WAIT_TIMEOUT') {
      const fresh = await this.ctx.call('ContainerInspect', { id: this.id }, { signal: diagnostics }).catch(() => undefined);
      state = fresh?.State ?? state;
    }
    const logTail = await this.logTail(diagnostics);
    const exitCode = state && hasExited(state) && typeof state.ExitCode === 'number' ? state.ExitCode : undefined;
    const short = this.id.length > 12 && /^[0-9a-f]+$/.test(this.id) ? this.id.slice(0, 12) : this.id;
    const what = unmet.join(', ');
    const head =
      code === 'WAIT_TIMEOUT'
        ? `timed out after ${this.timeout} ms waiting for container ${short}: not met: ${what}`
        : code === 'CONTAINER_EXITED'
          ? `container ${short} ${note ?? `exited${exitCode !== undefined ? ` with code ${exitCode}` : ''}`} while waiting for ${what}`
          : `container ${short}: cannot wait for 'healthy': ${note}`;
    const shownTail = logTail.map((l) => `  ${l.stream}| ${l.line.length > MESSAGE_LINE_CHARS ? `${l.line.slice(0, MESSAGE_LINE_CHARS)}…` : l.line}`);
    const message = `${OPERATION}: ${head}; state: ${describeState(state)}; ${
      logTail.length ? `last ${logTail.length} log line(s):\n${shownTail.join('\n')}` : 'no log lines'
    }`;
    const cause = unmetSpecs.map((s) => s.lastError).find((e) => e !== undefined);
    this.rejectPromise(
      new WaitError(message, {
        code,
        containerId: this.id,
        unmet,
        ...(state ? { state } : {}),
        ...(exitCode !== undefined ? { exitCode } : {}),
        logTail,
        ...(cause !== undefined ? { cause } : {}),
      }),
    );
  }
}

/**
 * Waits for one condition (resolving to its result) or for all of an array of conditions
 * (resolving to their results in the same order). See the README's "Waiting for a container".
 */
export function waitFor(ctx: OperationContext, id: string, condition: WaitCondition | readonly WaitCondition[], options: WaitForOptions = {}): Promise<unknown> {
  try {
    if (typeof id !== 'string' || id === '') bad('id', `must be a container id or name, not ${describeValue(id)}`);
    const list = Array.isArray(condition) ? (condition as readonly unknown[]) : [condition];
    if (list.length === 0) bad('conditions', 'must name at least one condition');
    const specs = list.map((c, i) => parseCondition(c, i, Array.isArray(condition) ? `conditions[${i}]` : 'condition'));
    const { timeout, logTail } = options;
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0)) bad('timeout', `must be a number of milliseconds >= 0, not ${describeValue(timeout)}`);
    if (logTail !== undefined && !(Number.isSafeInteger(logTail) && logTail >= 0 && logTail <= MAX_TAIL)) bad('logTail', `must be a whole number from 0 to ${MAX_TAIL}, not ${describeValue(logTail)}`);
    const results = new Waiter(ctx, id, specs, options).run();
    return Array.isArray(condition) ? results : results.then((r) => r[0]);
  } catch (err) {
    return Promise.reject(err);
  }
}

