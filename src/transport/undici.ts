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
 */
import { tlsConnectOptions, type Endpoint } from './host.js';
import { NodeHttpTransport } from './node-http.js';
import { DEFAULT_LIMITS, type ConnectionLimits, type Transport, type TransportRequest, type TransportResponse, type UpgradeResult } from './types.js';

type Pool = import('undici').Pool;

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
    const options: Parameters<Pool['request']>[0] = { method: r.method as 'GET', path: r.path };
    // Only what is there: every option given costs undici a look.
    for (const _ in r.headers) {
      options.headers = r.headers;
      break;
    }
    if (r.body !== undefined) options.body = r.body as never;
    if (r.signal) options.signal = r.signal;
    return this.pool.request(options);
  }

  upgrade(r: TransportRequest): Promise<UpgradeResult | TransportResponse> {
    return this.streams.upgrade(r);
  }

  /** Ends every connection at once: requests in flight and open bodies fail. */
  async close(): Promise<void> {
    await Promise.all([this.pool.destroy(), this.streams.close()]);
  }
}
