/**
 * A fault-injecting proxy in front of the real engine: each client connection gets its own engine
 * connection and bytes are forwarded both ways (so hijacked attach/exec connections work through
 * it). A `fault` cuts, resets or stalls the engine's answer after a number of bytes, on the
 * connections whose first request line matches. Listens on a unix socket or on 127.0.0.1 (a real
 * RST, ECONNRESET on the client, needs TCP). Every socket has an 'error' listener: it never crashes.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ENGINE_HOST, ENGINE_SOCKET } from './engine.js';

/**
 * What to do to the engine's answer. Byte counts are of the answer as it arrives from the engine
 * (status line and headers included); with `from: 'body'` they count from the end of the answer's
 * header block instead (for faults "after N bytes of output", whatever the headers' length).
 */
export type Fault =
  | { kind: 'cut'; afterResponseBytes: number; match?: RegExp; from?: 'start' | 'body' } // FIN both sides after N bytes
  | { kind: 'reset'; afterResponseBytes: number; match?: RegExp; from?: 'start' | 'body' } // RST the client after N bytes
  | { kind: 'stall'; afterResponseBytes: number; match?: RegExp; from?: 'start' | 'body' } // stop forwarding after N bytes
  | { kind: 'cutAfterHeaders'; match?: RegExp }; // FIN right after the answer's header block

const HEADER_END = Buffer.from('\r\n\r\n');

export class FaultProxy {
  /** Applies to connections whose FIRST request line matches `match` (all without it), decided when that line is read. */
  fault: Fault | undefined;
  /** Client connections: open now, most open at once, total accepted. */
  readonly stats = { open: 0, peak: 0, total: 0 };
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    /** `unix:///tmp/...sock` or `tcp://127.0.0.1:PORT`, for `new Docker({ host })`. */
    readonly host: string,
    private readonly target: string,
    private readonly socketPath: string | undefined,
  ) {}

  static async start(opts: { target?: string; listen: 'unix' | 'tcp' }): Promise<FaultProxy> {
    const target = opts.target ?? ENGINE_SOCKET;
    if (!target) throw new Error(`FaultProxy: the engine under test (${ENGINE_HOST}) is not a unix socket`);
    const server = net.createServer({ allowHalfOpen: true });
    server.on('error', () => undefined);
    let host: string;
    let socketPath: string | undefined;
    if (opts.listen === 'unix') {
      socketPath = path.join(os.tmpdir(), `dockhand-proxy-${randomBytes(6).toString('hex')}.sock`);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
      host = `unix://${socketPath}`;
    } else {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
      host = `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    }
    const proxy = new FaultProxy(server, host, target, socketPath);
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Reads the client's first request line, then decides the fault and connects to the engine. */
  private accept(client: net.Socket): void {
    this.track(client);
    this.stats.open++;
    this.stats.total++;
    this.stats.peak = Math.max(this.stats.peak, this.stats.open);
    client.once('close', () => this.stats.open--);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const eol = head.indexOf('\r\n');
      if (eol < 0 && head.length < 16 * 1024) return;
      client.off('data', onData);
      client.off('end', onEnd);
      client.pause();
      const line = head.subarray(0, eol < 0 ? head.length : eol).toString('latin1');
      const fault = this.fault && (!this.fault.match || this.fault.match.test(line)) ? this.fault : undefined;
      this.forward(client, head, fault);
    };
    const onEnd = (): void => void client.destroy();
    client.on('data', onData);
    client.once('end', onEnd);
  }

  private forward(client: net.Socket, first: Buffer, fault: Fault | undefined): void {
    const engine = net.connect({ path: this.target, allowHalfOpen: true });
    this.track(engine);
    client.once('close', () => engine.destroy());

    // client -> engine: everything, with backpressure; the client's FIN is passed on
    engine.write(first);
    client.pipe(engine);
    client.resume();

    // engine -> client: counted; the fault acts at `trigger` (absolute byte offset of the answer)
    let received = 0;
    let prefix = Buffer.alloc(0);
    let trigger: number | undefined;
    let tripped = false;
    const countsFromBody = fault && (fault.kind === 'cutAfterHeaders' || fault.from === 'body');
    if (fault && !countsFromBody) trigger = (fault as { afterResponseBytes: number }).afterResponseBytes;

    const send = (bytes: Buffer): void => {
      if (bytes.length === 0 || client.destroyed) return;
      if (!client.write(bytes)) {
        engine.pause();
        client.once('drain', () => engine.resume());
      }
    };

    engine.on('data', (chunk: Buffer) => {
      if (tripped) return; // stalled (or cut, reset): the rest of the answer is dropped
      const start = received;
      received += chunk.length;
      if (fault && trigger === undefined) {
        prefix = Buffer.concat([prefix, chunk]);
        const at = prefix.indexOf(HEADER_END);
        if (at >= 0) trigger = at + HEADER_END.length + (fault.kind === 'cutAfterHeaders' ? 0 : fault.afterResponseBytes);
      }
      if (!fault || trigger === undefined || received < trigger) {
        send(chunk);
        return;
      }
      send(chunk.subarray(0, Math.max(0, trigger - start)));
      tripped = true;
      this.act(fault, client, engine);
    });
    engine.once('end', () => {
      if (!tripped) client.end();
    });
    // a client that leaves a stalled (or cut) connection gets its FIN back: nothing is left half-open
    client.once('end', () => {
      if (tripped) client.end();
    });
    engine.once('close', (hadError) => {
      if (tripped) return; // the fault decides what the client sees
      if (hadError) client.destroy();
      else client.end();
    });
  }

  private act(fault: Fault, client: net.Socket, engine: net.Socket): void {
    switch (fault.kind) {
      case 'stall':
        if (client.readableEnded) client.end(); // a client already gone gets its FIN back
        return; // both connections stay open; nothing more reaches the client
      case 'cut':
      case 'cutAfterHeaders':
        client.unpipe(engine);
        client.on('data', () => undefined); // whatever the client still sends is dropped
        client.resume();
        client.end();
        engine.end();
        return;
      case 'reset':
        client.unpipe(engine);
        engine.destroy();
        // let the bytes already written reach the client first, then RST
        setTimeout(() => {
          if (client.destroyed) return;
          if (typeof client.resetAndDestroy === 'function' && this.socketPath === undefined) client.resetAndDestroy();
          else client.destroy(); // a unix socket cannot be reset: closed instead
        }, 25);
        return;
    }
  }

  /** Destroys every connection, stops listening and removes the socket file. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }
}
