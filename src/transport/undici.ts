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

  async request(r: TransportRequest): Promise<TransportResponse> {
    const res = await this.pool.request({
      method: r.method as 'GET',
      path: r.path,
      headers: r.headers,
      body: r.body as never,
      ...(r.signal ? { signal: r.signal } : {}),
    });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  }

  upgrade(r: TransportRequest): Promise<UpgradeResult | TransportResponse> {
    return hijack(this.endpoint, this.connectTimeout, r);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
