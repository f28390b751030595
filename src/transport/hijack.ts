/**
 * Hijacked connections: the engine takes over the HTTP connection for attach, exec start and
 * session. Each gets its own connection (never a pooled one), asks for `Upgrade: tcp` and
 * expects 101; an engine that answers 200 streams on the same connection instead.
 */
import http from 'node:http';
import { lazyBuiltin } from '../builtin.js';
import type { Endpoint } from './host.js';
import type { Limit } from './limit.js';
import { armConnectTimeout, baseRequestOptions, watchIdle, writeBody } from './node-http.js';
import type { TransportRequest, TransportResponse, UpgradeResult } from './types.js';

const ignore = (): void => undefined;

/**
 * List-valued headers sent as one line per value, given comma-joined: the engine's Go server
 * keeps a comma-joined value as one (the BuildKit session's served gRPC methods).
 */
const LIST_HEADERS = ['x-docker-expose-session-grpc-method'];

/**
 * Opens a hijacked connection. With `limit`, it holds a place there until its connection closes
 * (waiting for one first when all are taken).
 */
export async function hijack(endpoint: Endpoint, connectTimeout: number, r: TransportRequest, limit?: Limit): Promise<UpgradeResult | TransportResponse> {
  if (!limit) return open(endpoint, connectTimeout, r);
  const release = await limit.acquire(r.signal);
  try {
    const result = await open(endpoint, connectTimeout, r);
    const conn = 'socket' in result ? result.socket : result.body;
    if (conn.destroyed) release();
    else conn.once('close', release);
    return result;
  } catch (err) {
    release();
    throw err;
  }
}

function open(endpoint: Endpoint, connectTimeout: number, r: TransportRequest): Promise<UpgradeResult | TransportResponse> {
  const module = endpoint.protocol === 'https:' ? lazyBuiltin.https() : http;
  const headers: Record<string, string | string[]> = { connection: 'Upgrade', upgrade: 'tcp', ...r.headers };
  for (const name of LIST_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string') headers[name] = value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  }
  // A connection of its own, never a pooled one; ssh:// endpoints bring their own way to open it.
  const open = endpoint.createConnection;
  let agent: http.Agent | false = false;
  if (open) {
    agent = new module.Agent({ keepAlive: false });
    (agent as unknown as { createConnection: () => unknown }).createConnection = () => open();
  }
  return new Promise((resolve, reject) => {
    const req = module.request({
      ...baseRequestOptions(endpoint),
      agent,
      method: r.method,
      path: r.path,
      headers,
      ...(r.signal ? { signal: r.signal } : {}),
    });
    armConnectTimeout(req, connectTimeout);
    req.once('error', reject);
    req.once('upgrade', (res, socket, head) => {
      // From birth: a reset before the caller reads is reported by reading, never a crash.
      socket.on('error', ignore);
      if (head.length > 0) socket.unshift(head);
      watchIdle(socket, socket, r.idleTimeout);
      if (r.signal) {
        const onAbort = () => socket.destroy(r.signal!.reason instanceof Error ? r.signal!.reason : undefined);
        r.signal.addEventListener('abort', onAbort, { once: true });
        socket.once('close', () => r.signal!.removeEventListener('abort', onAbort));
      }
      resolve({ statusCode: res.statusCode ?? 101, headers: res.headers, socket });
    });
    req.once('response', (res) => {
      res.on('error', ignore);
      res.socket.on('error', ignore);
      watchIdle(res.socket, res, r.idleTimeout);
      resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    writeBody(req, r.body);
  });
}
