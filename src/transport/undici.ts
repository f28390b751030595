/**
 * Transport over an undici Pool: the cheapest per request. Loading undici costs ~100 ms, so it is
 * imported only when first needed (see auto.ts).
 */
import { tlsConnectOptions, type Endpoint } from './host.js';
import { hijack } from './hijack.js';
import type { Transport, TransportRequest, TransportResponse, UpgradeResult } from './types.js';

type Pool = import('undici').Pool;

export class UndiciTransport implements Transport {
  readonly address: string;

  private constructor(
    private readonly endpoint: Endpoint,
    private readonly connectTimeout: number,
    private readonly pool: Pool,
  ) {
    this.address = endpoint.address;
  }

  static async create(endpoint: Endpoint, connectTimeout: number): Promise<UndiciTransport> {
    const { Pool } = await import('undici');
    const pool = new Pool(`${endpoint.protocol}//${endpoint.hostname.includes(':') ? `[${endpoint.hostname}]` : endpoint.hostname}:${endpoint.port}`, {
      ...(endpoint.socketPath ? { socketPath: endpoint.socketPath } : {}),
      connect: {
        timeout: connectTimeout > 0 ? connectTimeout : null,
        ...tlsConnectOptions(endpoint.tls),
      } as never,
      // Timeouts are the caller's (CallOptions.timeout): a followed log may be idle for hours.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    return new UndiciTransport(endpoint, connectTimeout, pool);
  }

  request(r: TransportRequest): Promise<TransportResponse> {
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
    return hijack(this.endpoint, this.connectTimeout, r);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
