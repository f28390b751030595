/**
 * Hijacked connections: the engine takes over the HTTP connection for attach, exec start and
 * session. Each gets its own connection (never a pooled one), asks for `Upgrade: tcp` and
 * expects 101; an engine that answers 200 streams on the same connection instead.
 */
import http from 'node:http';
import { lazyBuiltin } from '../builtin.js';
import type { Endpoint } from './host.js';
import { armConnectTimeout, baseRequestOptions, writeBody } from './node-http.js';
import type { TransportRequest, TransportResponse, UpgradeResult } from './types.js';

export function hijack(endpoint: Endpoint, connectTimeout: number, r: TransportRequest): Promise<UpgradeResult | TransportResponse> {
  const module = endpoint.protocol === 'https:' ? lazyBuiltin.https() : http;
  const headers: Record<string, string> = { connection: 'Upgrade', upgrade: 'tcp', ...r.headers };
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
      if (head.length > 0) socket.unshift(head);
      if (r.signal) {
        const onAbort = () => socket.destroy(r.signal!.reason instanceof Error ? r.signal!.reason : undefined);
        r.signal.addEventListener('abort', onAbort, { once: true });
        socket.once('close', () => r.signal!.removeEventListener('abort', onAbort));
      }
      resolve({ statusCode: res.statusCode ?? 101, headers: res.headers, socket });
    });
    req.once('response', (res) => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res }));
    writeBody(req, r.body);
  });
}
