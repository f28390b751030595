/**
 * Transport over an undici Pool: the cheapest per request. Loading undici costs ~100 ms, so it is
 * imported only when first needed (see auto.ts).
 *
 * Streamed answers (logs, events, pulls, archives) and hijacks go through node:http instead, on
 * connections counted apart. undici resumes a paused body by taking everything waiting on the
 * socket as one joined buffer, parsing one chunk of it and pushing the rest back: a reader that
 * applies backpressure (any `pipe`) makes that backlog grow and every chunk copy all of it (a 50 MB
 * archive piped to a file moved 9-19 GB: seconds instead of 0.3 s). node:http pauses the socket
 * instead, and a stream's cost per request does not matter.
 *
 * Ordinary calls whose answer is read whole (JSON results, errors) skip undici's body stream too:
 * `requestWhole` gathers the answer from undici's callbacks, the cheapest way to make a call.
 */
import type { Dispatcher } from 'undici';
import { tlsConnectOptions, type Endpoint } from './host.js';
import { NodeHttpTransport } from './node-http.js';
import { DEFAULT_LIMITS, type ConnectionLimits, type Transport, type TransportRequest, type TransportResponse, type UpgradeResult, type WholeLimits, type WholeResponse } from './types.js';
import { announcedOver, CutAnswer, isErrorStatus, readWhole } from './whole.js';

type Pool = import('undici').Pool;
type Controller = Dispatcher.DispatchController;

/**
 * Why the undici package cannot serve requests in this runtime, or undefined where it can. Bun
 * resolves `import('undici')` to a built-in module of its own whose Pool.request() does nothing.
 */
export function undiciUnavailable(): string | undefined {
  const bun = (process.versions as { bun?: string }).bun;
  return bun ? `under Bun ${bun}, import('undici') gives Bun's built-in stand-in, whose Pool cannot make requests` : undefined;
}

export class UndiciTransport implements Transport {
  readonly address: string;

  private constructor(
    endpoint: Endpoint,
    private readonly pool: Pool,
    /** Streams and hijacks. */
    private readonly streams: NodeHttpTransport,
  ) {
    this.address = endpoint.address;
  }

  /**
   * With `streams`, streamed answers and hijacks go to that node:http transport (the auto
   * transport's own); else to one of its own.
   */
  static async create(endpoint: Endpoint, connectTimeout: number, limits: ConnectionLimits = DEFAULT_LIMITS, streams?: NodeHttpTransport): Promise<UndiciTransport> {
    const unavailable = undiciUnavailable();
    if (unavailable) throw new Error(`the undici transport is not available: ${unavailable}`); // 'auto' stays on node:http
    const { Pool } = await import('undici');
    const pool = new Pool(`${endpoint.protocol}//${endpoint.hostname.includes(':') ? `[${endpoint.hostname}]` : endpoint.hostname}:${endpoint.port}`, {
      ...(endpoint.socketPath ? { socketPath: endpoint.socketPath } : {}),
      connect: {
        timeout: connectTimeout > 0 ? connectTimeout : null,
        ...tlsConnectOptions(endpoint.tls),
      } as never,
      // Timeouts are the caller's (CallOptions.timeout).
      headersTimeout: 0,
      bodyTimeout: 0,
      connections: limits.maxConnections,
    });
    return new UndiciTransport(endpoint, pool, streams ?? new NodeHttpTransport(endpoint, { connectTimeout, limits }));
  }

  request(r: TransportRequest): Promise<TransportResponse> {
    if (r.stream) return this.streams.request(r);
    // undici's answer already has the shape of a TransportResponse: hand it over as it is.
    const options: Parameters<Pool['request']>[0] = dispatchOptions(r);
    if (r.signal) options.signal = r.signal;
    return this.pool.request(options);
  }

  /** The answer gathered straight from undici's callbacks, without a body stream (see WholeAnswer). */
  requestWhole(r: TransportRequest, limits: WholeLimits): Promise<WholeResponse> {
    if (r.stream) return this.streams.request(r).then((res) => readWhole(res, limits, r.signal));
    return new Promise((resolve, reject) => {
      const handler = new WholeAnswer(resolve, reject, limits, r.signal);
      try {
        this.pool.dispatch(dispatchOptions(r), handler);
      } catch (err) {
        handler.onResponseError(undefined, err as Error);
      }
    });
  }

  upgrade(r: TransportRequest): Promise<UpgradeResult | TransportResponse> {
    return this.streams.upgrade(r);
  }

  /** Ends every connection at once: requests in flight and open bodies fail. */
  async close(): Promise<void> {
    await Promise.all([this.pool.destroy(), this.streams.close()]);
  }
}

/** undici's options for a request: only what is there (every option given costs undici a look). */
function dispatchOptions(r: TransportRequest): Dispatcher.DispatchOptions {
  const options: Dispatcher.DispatchOptions = { method: r.method as 'GET', path: r.path };
  for (const _ in r.headers) {
    options.headers = r.headers;
    break;
  }
  if (r.body !== undefined) options.body = r.body as never;
  return options;
}

const EMPTY = Buffer.alloc(0);

/**
 * Gathers one answer within its limits (see WholeLimits) and settles once: with the answer, or
 * with undici's error (a cut or reset connection) or the signal's reason. An answer over its
 * limit, and an aborted one, close their connection.
 */
class WholeAnswer implements Dispatcher.DispatchHandler {
  private controller: Controller | undefined;
  private statusCode = 0;
  private headers: WholeResponse['headers'] = {};
  private chunks: Buffer[] = [];
  private size = 0;
  private limit = 0;
  private settled = false;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly resolve: (answer: WholeResponse) => void,
    private readonly reject: (err: unknown) => void,
    private readonly limits: WholeLimits,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal) {
      this.onAbort = () => this.stop(signal.reason);
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.signal?.aborted) controller.abort(this.signal.reason);
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: WholeResponse['headers']): void {
    if (statusCode < 200 || this.settled) return; // 1xx: the answer is still to come
    this.statusCode = statusCode;
    this.headers = headers;
    if (isErrorStatus(statusCode)) {
      this.limit = this.limits.error;
    } else {
      this.limit = this.limits.answer;
      if (announcedOver(headers['content-length'], this.limits)) this.finish(true, true);
    }
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    if (this.settled) return;
    if (this.size + chunk.length <= this.limit) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    } else if (isErrorStatus(this.statusCode)) {
      this.chunks.push(chunk.subarray(0, this.limit - this.size));
      this.size = this.limit;
      this.finish(false, true);
    } else {
      this.finish(true, true);
    }
  }

  onResponseEnd(): void {
    if (!this.settled) this.finish(false, false);
  }

  onResponseError(_controller: Controller | undefined, err: Error): void {
    if (this.settled) return;
    // an error answer cut short still has its status: keep what came
    if (this.statusCode !== 0 && isErrorStatus(this.statusCode)) return this.finish(false, false);
    this.settled = true;
    this.cleanup();
    this.reject(this.statusCode === 0 ? err : new CutAnswer(err));
  }

  /**
   * Settles with what came; `over`: a successful answer over its limit (kept empty); `cutOff`:
   * the rest of the answer is not read, so its connection cannot be reused.
   */
  private finish(over: boolean, cutOff: boolean): void {
    this.settled = true;
    this.cleanup();
    const body = over ? EMPTY : this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.resolve({ statusCode: this.statusCode, headers: this.headers, body, over });
    if (cutOff) this.controller?.abort(new Error('the rest of the answer is not read'));
  }

  private stop(reason: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.cleanup();
    this.reject(reason);
    this.controller?.abort(reason as Error);
  }

  private cleanup(): void {
    if (this.onAbort) this.signal!.removeEventListener('abort', this.onAbort);
  }
}
