/** Transport over node:http: starts fast (no extra module to load), pools keep-alive sockets. */
import http from 'node:http';
import type https from 'node:https';
import { lazyBuiltin } from '../builtin.js';
import { Readable } from 'node:stream';
import { tlsConnectOptions, type Endpoint } from './host.js';
import { hijack } from './hijack.js';
import type { RequestBody, Transport, TransportRequest, TransportResponse, UpgradeResult } from './types.js';

export interface NodeHttpOptions {
  connectTimeout: number;
}

/** Request options shared by pooled requests and hijacked connections. */
export function baseRequestOptions(endpoint: Endpoint): http.RequestOptions & https.RequestOptions {
  if (endpoint.createConnection) {
    const open = endpoint.createConnection;
    return { host: endpoint.hostname, port: endpoint.port, createConnection: () => open() as import('node:net').Socket };
  }
  return {
    ...(endpoint.socketPath ? { socketPath: endpoint.socketPath } : { host: endpoint.hostname, port: endpoint.port }),
    ...tlsConnectOptions(endpoint.tls),
  };
}

/** Fails the request if the connection is not made within `ms`. */
export function armConnectTimeout(req: http.ClientRequest, ms: number): void {
  if (!(ms > 0)) return;
  req.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`connect timed out after ${ms} ms`), { code: 'CONNECT_TIMEOUT' }));
    }, ms);
    socket.once('encrypted' in socket ? 'secureConnect' : 'connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
}

/** Sends `body` on `req` and ends it; stream errors abort the request. */
export function writeBody(req: http.ClientRequest, body: RequestBody | undefined): void {
  if (body === undefined) {
    req.end();
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    req.end(body);
  } else if (body instanceof Uint8Array) {
    req.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  } else {
    const source = body instanceof Readable ? body : Readable.from(body, { objectMode: false });
    source.on('error', (err) => req.destroy(err));
    source.pipe(req);
  }
}

export class NodeHttpTransport implements Transport {
  readonly address: string;
  private readonly agent: http.Agent;
  private readonly module: typeof http | typeof https;
  private readonly base: http.RequestOptions;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly options: NodeHttpOptions,
  ) {
    this.address = endpoint.address;
    const secure = endpoint.protocol === 'https:';
    this.module = secure ? lazyBuiltin.https() : http;
    this.base = baseRequestOptions(endpoint);
    this.agent = secure ? new (lazyBuiltin.https().Agent)({ keepAlive: true, ...(this.base as https.AgentOptions) }) : new http.Agent({ keepAlive: true });
    const open = endpoint.createConnection;
    if (open) (this.agent as unknown as { createConnection: () => unknown }).createConnection = () => open();
  }

  request(r: TransportRequest): Promise<TransportResponse> {
    return new Promise((resolve, reject) => {
      const headers = r.body !== undefined && (typeof r.body === 'string' || r.body instanceof Uint8Array)
        ? { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) }
        : r.headers;
      const req = this.module.request({ ...this.base, agent: this.agent, method: r.method, path: r.path, headers, ...(r.signal ? { signal: r.signal } : {}) });
      armConnectTimeout(req, this.options.connectTimeout);
      req.once('error', reject);
      req.once('response', (res) => {
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      writeBody(req, r.body);
    });
  }

  upgrade(r: TransportRequest): Promise<UpgradeResult | TransportResponse> {
    return hijack(this.endpoint, this.options.connectTimeout, r);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
