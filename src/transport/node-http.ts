/** Transport over node:http: starts fast (no extra module to load), pools keep-alive sockets. */
import http from 'node:http';
import type https from 'node:https';
import { lazyBuiltin } from '../builtin.js';
import { Readable } from 'node:stream';
import { tlsConnectOptions, type Endpoint } from './host.js';
import { IdleTimeout } from '../request/abort.js';
import { hijack } from './hijack.js';
import { Limit } from './limit.js';
import { DEFAULT_LIMITS, type ConnectionLimits, type RequestBody, type Transport, type TransportRequest, type TransportResponse, type UpgradeResult } from './types.js';

export interface NodeHttpOptions {
  connectTimeout: number;
  limits?: ConnectionLimits;
}

/**
 * Ends `stream` with an IdleTimeout when `socket` sees no byte for `ms`; the watch stops when the
 * stream closes (a pooled socket goes back to its pool without a timeout).
 */
export function watchIdle(socket: import('node:net').Socket, stream: import('node:stream').Readable | import('node:net').Socket, ms: number | undefined): void {
  if (!ms || !(ms > 0)) return;
  const onTimeout = (): void => void stream.destroy(new IdleTimeout(ms));
  socket.setTimeout(ms, onTimeout);
  stream.once('close', () => {
    socket.setTimeout(0);
    socket.off('timeout', onTimeout);
  });
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
    if (source.destroyed) {
      // failed (or was closed) before it could be sent: nothing would ever end the request
      req.destroy(source.errored ?? Object.assign(new Error('the request body stream was closed before it was sent'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      return;
    }
    source.on('error', (err) => req.destroy(err));
    source.pipe(req);
  }
}

export class NodeHttpTransport implements Transport {
  readonly address: string;
  /** Connections for ordinary calls, and for streams (counted apart). */
  private readonly agent: http.Agent;
  private readonly streamAgent: http.Agent;
  private readonly hijacks: Limit;
  private readonly module: typeof http | typeof https;
  private readonly base: http.RequestOptions;
  /**
   * Requests not yet closed, so close() can end them itself: not every runtime's `Agent.destroy`
   * ends the sockets in use (Deno's lets a call in flight finish).
   */
  private readonly live = new Set<http.ClientRequest | http.IncomingMessage>();
  private closed: Error | undefined;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly options: NodeHttpOptions,
  ) {
    this.address = endpoint.address;
    const secure = endpoint.protocol === 'https:';
    this.module = secure ? lazyBuiltin.https() : http;
    this.base = baseRequestOptions(endpoint);
    const limits = options.limits ?? DEFAULT_LIMITS;
    const makeAgent = (maxSockets: number): http.Agent => {
      const settings = { keepAlive: true, maxSockets };
      const agent = secure ? new (lazyBuiltin.https().Agent)({ ...settings, ...(this.base as https.AgentOptions) }) : new http.Agent(settings);
      const open = endpoint.createConnection;
      if (open) (agent as unknown as { createConnection: () => unknown }).createConnection = () => open();
      return agent;
    };
    this.agent = makeAgent(limits.maxConnections);
    this.streamAgent = makeAgent(limits.maxStreams);
    this.hijacks = new Limit(limits.maxStreams);
  }

  request(r: TransportRequest): Promise<TransportResponse> {
    return new Promise((resolve, reject) => {
      const headers = r.body !== undefined && (typeof r.body === 'string' || r.body instanceof Uint8Array)
        ? { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) }
        : r.headers;
      const agent = r.stream ? this.streamAgent : this.agent;
      const req = this.module.request({ ...this.base, agent, method: r.method, path: r.path, headers, ...(r.signal ? { signal: r.signal } : {}) });
      armConnectTimeout(req, this.options.connectTimeout);
      req.once('error', reject);
      if (this.closed) req.destroy(this.closed);
      this.live.add(req);
      req.once('close', () => this.live.delete(req));
      req.once('response', (res) => {
        if (r.idleTimeout) watchIdle(res.socket, res, r.idleTimeout);
        this.live.add(res);
        res.once('close', () => this.live.delete(res));
        if (this.closed) res.destroy(this.closed);
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      writeBody(req, r.body);
    });
  }

  upgrade(r: TransportRequest): Promise<UpgradeResult | TransportResponse> {
    return hijack(this.endpoint, this.options.connectTimeout, r, this.hijacks);
  }

  /**
   * Ordinary calls' connections close as soon as their request is done instead of being kept:
   * the auto transport calls this once undici serves ordinary calls.
   */
  retire(): void {
    const a = this.agent as unknown as { keepAlive: boolean; options: { keepAlive?: boolean }; keepSocketAlive: () => boolean };
    a.keepAlive = false;
    a.options.keepAlive = false;
    a.keepSocketAlive = () => false;
    for (const sockets of Object.values(this.agent.freeSockets)) for (const s of sockets ?? []) s.destroy();
  }

  async close(): Promise<void> {
    const closed = (this.closed ??= new Error('the transport was closed'));
    this.hijacks.close(closed);
    // Requests in flight or queued for a connection (destroy() of the agent would open new
    // connections for queued ones), and the bodies of answered ones still being read.
    for (const s of this.live) s.destroy(closed);
    this.live.clear();
    for (const agent of [this.agent, this.streamAgent]) agent.destroy();
  }
}
