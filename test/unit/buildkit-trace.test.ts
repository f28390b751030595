import * as http2 from 'node:http2';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { grpcFrame, GrpcError, GRPC_NOT_FOUND, GrpcFrameDecoder, serveGrpc, unary, type GrpcHandler } from '../../src/buildkit/grpc.js';
import { decodeFirstString, encodeStatusResponse, type StatusResponse } from '../../src/buildkit/proto.js';
import { BuildkitTracer } from '../../src/buildkit/trace.js';
import type { BuildkitEvent } from '../../src/buildkit/types.js';

const T0 = Date.UTC(2026, 0, 1);
const v = (digest: string, name: string, more: Partial<StatusResponse['vertexes'][number]> = {}) => ({ digest, inputs: [], name, cached: false, started: undefined, completed: undefined, error: '', ...more });
const trace = (r: Partial<StatusResponse>): string => encodeStatusResponse(r).toString('base64');

describe('BuildKit progress', () => {
  it('merges vertices by digest and prints the plain shape: #N name, logs with elapsed time, DONE/CACHED/ERROR', () => {
    let text = '';
    const events: BuildkitEvent[] = [];
    const t = new BuildkitTracer((e) => events.push(e), (s) => (text += s));
    t.push(trace({ vertexes: [v('sha256:a', '[internal] load build definition from Dockerfile')] }));
    t.push(trace({ vertexes: [v('sha256:a', '[internal] load build definition from Dockerfile', { started: T0 })] }));
    t.push(trace({ statuses: [{ id: 'transferring dockerfile:', vertex: 'sha256:a', name: '', current: 37, total: 0, timestamp: T0, started: T0, completed: T0 + 10 }] }));
    t.push(trace({ vertexes: [v('sha256:a', '', { started: T0, completed: T0 + 200 })] }));
    t.push(trace({ vertexes: [v('sha256:b', '[1/2] FROM busybox', { cached: true })] }));
    t.push(trace({ vertexes: [v('sha256:c', '[2/2] RUN echo hi', { started: T0 + 1000 })] }));
    t.push(trace({ logs: [{ vertex: 'sha256:c', timestamp: T0 + 1206, stream: 1, msg: Buffer.from('hi\npart') }] }));
    t.push(trace({ logs: [{ vertex: 'sha256:c', timestamp: T0 + 1300, stream: 2, msg: Buffer.from('ial\n') }] }));
    t.push(trace({ vertexes: [v('sha256:c', '[2/2] RUN echo hi', { started: T0 + 1000, completed: T0 + 1400, error: 'process "/bin/sh -c echo hi" did not complete successfully: exit code: 1' })] }));
    t.flush();
    expect(text).toBe(
      [
        '#1 [internal] load build definition from Dockerfile',
        '#1 transferring dockerfile: 37B done',
        '#1 DONE 0.2s',
        '',
        '#2 [1/2] FROM busybox',
        '#2 CACHED',
        '',
        '#3 [2/2] RUN echo hi',
        '#3 0.206 hi',
        '#3 0.300 partial',
        '#3 ERROR: process "/bin/sh -c echo hi" did not complete successfully: exit code: 1',
        '',
      ].join('\n'),
    );
    expect(events.filter((e) => e.type === 'vertex').map((e) => `${e.type === 'vertex' ? e.state : ''} ${e.vertex.index}`)).toEqual(['started 1', 'completed 1', 'cached 2', 'started 3', 'error 3']);
    expect(events.filter((e) => e.type === 'log').map((e) => (e.type === 'log' ? e.stream : ''))).toEqual(['stdout', 'stderr']);
    const failure = t.failure();
    expect(failure?.vertex.name).toBe('[2/2] RUN echo hi');
    expect(failure?.log).toBe('hi\npartial\n');
  });

  it('holds a closing line back one message: statuses and the cached flag sent just after completion come first', () => {
    let text = '';
    const t = new BuildkitTracer(undefined, (s) => (text += s));
    t.push(trace({ vertexes: [v('sha256:a', '[1/2] FROM x', { started: T0, completed: T0 + 100 })] }));
    t.push(trace({ vertexes: [v('sha256:a', '[1/2] FROM x', { started: T0, completed: T0 + 100, cached: true })] }));
    t.push(trace({ vertexes: [v('sha256:b', '[internal] load build context', { started: T0, completed: T0 + 300 })] }));
    t.push(trace({ statuses: [{ id: 'transferring context:', vertex: 'sha256:b', name: '', current: 2048, total: 0, timestamp: T0, started: T0, completed: T0 + 200 }] }));
    expect(text).toBe('#1 [1/2] FROM x\n#1 CACHED\n\n#2 [internal] load build context\n#2 transferring context: 2.05kB done\n');
    t.flush();
    expect(text.endsWith('#2 DONE 0.3s\n')).toBe(true);
  });

  it('reports warnings and a canceled step', () => {
    let text = '';
    const events: BuildkitEvent[] = [];
    const t = new BuildkitTracer((e) => events.push(e), (s) => (text += s));
    t.push(trace({ vertexes: [v('sha256:x', '[1/1] RUN sleep 9', { started: T0, completed: T0 + 1, error: 'context canceled' })], warnings: [{ vertex: 'sha256:x', level: 1, short: 'FromAsCasing', detail: [], url: '' }] }));
    t.flush();
    expect(text).toContain('#1 CANCELED');
    expect(text).toContain('#1 WARN: FromAsCasing');
    expect(events.some((e) => e.type === 'warning' && e.message === 'FromAsCasing')).toBe(true);
  });
});

/** A gRPC client request over http2 against serveGrpc on a local socket pair. */
async function withServer(handlers: Map<string, GrpcHandler>, fn: (client: http2.ClientHttp2Session) => Promise<void>): Promise<void> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const session = http2.performServerHandshake(socket);
    session.on('error', () => undefined);
    serveGrpc(session, handlers, () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => undefined);
  try {
    await fn(client);
  } finally {
    client.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

async function callUnary(client: http2.ClientHttp2Session, method: string, body: Buffer, extra: Record<string, string | string[]> = {}): Promise<{ messages: Buffer[]; status: string | undefined; message: string | undefined }> {
  const req = client.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers', ...extra });
  const decoder = new GrpcFrameDecoder();
  const messages: Buffer[] = [];
  let trailers: http2.IncomingHttpHeaders = {};
  let headers: http2.IncomingHttpHeaders = {};
  req.on('response', (h) => (headers = h));
  req.on('trailers', (t) => (trailers = t));
  req.end(grpcFrame(body));
  for await (const chunk of req) messages.push(...decoder.push(chunk as Buffer));
  const status = (trailers['grpc-status'] ?? headers['grpc-status']) as string | undefined;
  const message = (trailers['grpc-message'] ?? headers['grpc-message']) as string | undefined;
  return { messages, status, message: message === undefined ? undefined : decodeURIComponent(message) };
}

describe('gRPC server', () => {
  it('answers a unary call, UNIMPLEMENTED for unknown methods, a GrpcError as its status; repeated metadata stays apart', async () => {
    let seen: string[] = [];
    const handlers = new Map<string, GrpcHandler>([
      ['/test.Echo/Say', unary((req) => Buffer.from(`echo:${decodeFirstString(req)}`))],
      ['/test.Echo/Fail', unary(() => {
        throw new GrpcError(GRPC_NOT_FOUND, 'no such thing: é');
      })],
      ['/test.Echo/Meta', unary((_req, call) => {
        seen = call.metadata('followpaths');
        return Buffer.alloc(0);
      })],
    ]);
    await withServer(handlers, async (client) => {
      const ok = await callUnary(client, '/test.Echo/Say', Buffer.from([0x0a, 0x02, 0x68, 0x69]));
      expect(ok.status).toBe('0');
      expect(ok.messages.map((m) => m.toString())).toEqual(['echo:hi']);
      const missing = await callUnary(client, '/test.Nope/X', Buffer.alloc(0));
      expect(missing.status).toBe('12');
      const failed = await callUnary(client, '/test.Echo/Fail', Buffer.alloc(0));
      expect(failed).toMatchObject({ status: '5', message: 'no such thing: é', messages: [] });
      await callUnary(client, '/test.Echo/Meta', Buffer.alloc(0), { followpaths: ['a, b', 'c'] });
      expect(seen).toEqual(['a, b', 'c']);
    });
  });
});
