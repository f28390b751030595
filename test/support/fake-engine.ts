/**
 * Scripted HTTP servers for what no engine does on demand: huge or never-ending bodies, broken
 * upgrades, resets, servers that are not Docker at all. A raw `net` server (unix socket or
 * 127.0.0.1) parses each request (line, headers, body; keep-alive) and hands it to a handler with
 * a `Reply` that writes status, headers and bodies, or takes the raw socket over. `/_ping` is
 * answered with `API-Version` unless the engine is made with `apiVersion: null` (a non-Docker
 * server: the handler gets the ping too). Every socket has an 'error' listener.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface FakeRequest {
  method: string;
  /** Path and query as sent, e.g. `/v1.41/containers/json?all=1`. */
  path: string;
  /** The request line, e.g. `GET /_ping HTTP/1.1`. */
  line: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Buffer;
}

export type Handler = (req: FakeRequest, reply: Reply) => void | Promise<void>;

type Headers = Record<string, string | number>;

const CRLF = Buffer.from('\r\n');

/** Multiplexed-stream frame header: stream type (1 stdout, 2 stderr, 3 error) and payload size. */
export function frameHeader(stream: number, size: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(size >>> 0, 4);
  return h;
}

/** `chunk` repeated `times` times (forever by default), produced lazily. */
export function* repeat(chunk: Buffer | string, times = Infinity): Generator<Buffer> {
  const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  for (let i = 0; i < times; i++) yield b;
}

/** The answer to one request. */
export class Reply {
  /** Set once a complete answer was written: the connection is then read for the next request. */
  done = false;

  constructor(readonly socket: net.Socket) {}

  /** Writes the status line and headers. */
  head(status: number | string, headers: Headers = {}): void {
    const line = typeof status === 'number' ? `${status} ${status === 200 ? 'OK' : 'Status'}` : status;
    let text = `HTTP/1.1 ${line}\r\n`;
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
    this.socket.write(`${text}\r\n`);
  }

  /** A whole answer with Content-Length. */
  send(status: number, body: string | Buffer = '', headers: Headers = {}): void {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    this.head(status, { 'Content-Length': b.length, ...headers });
    this.socket.write(b);
    this.done = true;
  }

  json(status: number, value: unknown, headers: Headers = {}): void {
    this.send(status, JSON.stringify(value), { 'Content-Type': 'application/json', ...headers });
  }

  /**
   * Streams a body produced lazily, with backpressure: chunked (the default), or with the given
   * Content-Length. Stops quietly when the client goes away; resolves when written or gone.
   */
  /** Resolves on 'drain' or 'close', whichever comes first, leaving no listener behind. */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  async stream(status: number, headers: Headers, source: Iterable<Buffer | string> | AsyncIterable<Buffer | string>, { contentLength }: { contentLength?: number } = {}): Promise<void> {
    const chunked = contentLength === undefined;
    this.head(status, chunked ? { ...headers, 'Transfer-Encoding': 'chunked' } : { ...headers, 'Content-Length': contentLength });
    for await (const piece of source) {
      if (this.socket.destroyed || this.socket.writableEnded) return;
      const b = typeof piece === 'string' ? Buffer.from(piece) : piece;
      if (b.length === 0) continue;
      // three writes, no copy: the test's own garbage must not count against the client's memory
      if (chunked) this.socket.write(`${b.length.toString(16)}\r\n`);
      let ok = this.socket.write(b);
      if (chunked) ok = this.socket.write(CRLF);
      if (!ok) await this.drained();
    }
    if (this.socket.destroyed || this.socket.writableEnded) return;
    if (chunked) this.socket.write('0\r\n\r\n');
    this.done = true;
  }

  /**
   * Answers `101` (as the engine does for attach and exec start): with `Upgrade: tcp` and
   * `Connection: Upgrade` unless `upgradeHeaders: false`. The socket is then the handler's.
   */
  upgrade({ upgradeHeaders = true, contentType = 'application/vnd.docker.raw-stream' }: { upgradeHeaders?: boolean; contentType?: string } = {}): void {
    this.head('101 UPGRADED', { 'Content-Type': contentType, ...(upgradeHeaders ? { Connection: 'Upgrade', Upgrade: 'tcp' } : {}) });
  }

  /** Reads what the client sends next (stdin of a hijacked connection): attaches `fn` and resumes the socket. */
  onData(fn: (chunk: Buffer) => void): void {
    this.socket.on('data', fn);
    this.socket.resume();
  }

  /** Raw bytes. */
  write(bytes: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** FIN (after what was written). */
  end(): void {
    this.socket.end();
  }

  /** RST on TCP; on a unix socket (which cannot be reset) the connection is destroyed. */
  reset(): void {
    if (this.socket.destroyed) return;
    if (this.socket.remoteFamily !== undefined && typeof this.socket.resetAndDestroy === 'function') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }
}

/** Parses one request off the front of `buf`; undefined until it is complete. */
function parseRequest(buf: Buffer): { req: FakeRequest; rest: Buffer } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const line = lines[0]!;
  const [method = '', target = ''] = line.split(' ');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(':');
    if (colon > 0) headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
  }
  let at = end + 4;
  let body: Buffer;
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return undefined;
      const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
      if (buf.length < eol + 2 + size + 2) return undefined;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
      if (size === 0) break;
    }
    body = Buffer.concat(parts);
  } else {
    const length = Number(headers['content-length'] ?? 0);
    if (buf.length < at + length) return undefined;
    body = buf.subarray(at, at + length);
    at += length;
  }
  return { req: { method, path: target, line, headers, body: Buffer.from(body) }, rest: buf.subarray(at) };
}

export class FakeEngine {
  /** Every request received, in order. */
  readonly requests: FakeRequest[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    /** `unix:///tmp/...sock` or `tcp://127.0.0.1:PORT`. */
    readonly host: string,
    private readonly socketPath: string | undefined,
    private readonly handler: Handler,
    private readonly apiVersion: string | null,
  ) {}

  /** `apiVersion`: sent on `/_ping` (default 1.41); `null` for a server that is not Docker. */
  static async start(opts: { listen: 'unix' | 'tcp'; handler: Handler; apiVersion?: string | null }): Promise<FakeEngine> {
    const server = net.createServer();
    server.on('error', () => undefined);
    let host: string;
    let socketPath: string | undefined;
    if (opts.listen === 'unix') {
      socketPath = path.join(os.tmpdir(), `dockhand-fake-${randomBytes(6).toString('hex')}.sock`);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
      host = `unix://${socketPath}`;
    } else {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
      host = `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    }
    const engine = new FakeEngine(server, host, socketPath, opts.handler, opts.apiVersion === undefined ? '1.41' : opts.apiVersion);
    server.on('connection', (socket) => engine.serve(socket));
    return engine;
  }

  /** Client connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  /** Destroys every connection (a test's emergency brake too). */
  destroyConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseRequest(buf);
      if (!parsed) return;
      socket.off('data', onData);
      socket.pause();
      buf = Buffer.alloc(0);
      // what came after the request (stdin of a hijacked connection, a pipelined request) stays readable
      if (parsed.rest.length) socket.unshift(parsed.rest);
      void this.answer(parsed.req, socket).then(
        (reusable) => {
          if (!reusable || socket.destroyed) return;
          socket.on('data', onData);
          socket.resume();
        },
        () => socket.destroy(),
      );
    };
    socket.on('data', onData);
  }

  /** Runs the handler; true when it wrote a complete answer (the connection serves the next request). */
  private async answer(req: FakeRequest, socket: net.Socket): Promise<boolean> {
    this.requests.push(req);
    const reply = new Reply(socket);
    if (this.apiVersion !== null && /^(\/v[\d.]+)?\/_ping(\?|$)/.test(req.path)) {
      const headers = { 'API-Version': this.apiVersion, 'Content-Type': 'text/plain; charset=utf-8', 'Docker-Experimental': 'false', 'Cache-Control': 'no-cache, no-store, must-revalidate' };
      if (req.method === 'HEAD') {
        reply.head(200, { ...headers, 'Content-Length': 2 });
        reply.done = true;
      } else reply.send(200, 'OK', headers);
    } else {
      await this.handler(req, reply);
    }
    return reply.done;
  }

  async close(): Promise<void> {
    this.destroyConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }
}
