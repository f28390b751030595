/**
 * The BuildKit session: `POST /session` hijacked with `Upgrade: h2c` (no request body), then an
 * HTTP/2 server on that connection serving gRPC to the engine (which is the HTTP/2 client).
 * The session lives until `close()`; the engine checks it with Health/Check all along.
 */
import { randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import { DockerError } from '../errors.js';
import type { OperationContext } from '../operations/context.js';
import { serveGrpc, unary, type GrpcHandler } from './grpc.js';
import { encodeHealthCheckResponse, HEALTH_SERVING } from './proto.js';

const OP = 'Session';
const ignore = (): void => undefined;

export const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

/** A session id: 25 base-36 characters, as buildkit's identity.NewID. */
export function newSessionId(): string {
  let out = '';
  for (const b of randomBytes(25)) out += (b % 36).toString(36);
  return out;
}

export interface SessionOptions {
  /** `X-Docker-Expose-Session-Name` (the CLI sends the context folder's base name). */
  name: string;
  /** `X-Docker-Expose-Session-Sharedkey`: a stable key per context makes transfers incremental. */
  sharedKey: string;
  /** Served methods by `/package.Service/Method` (health is added). */
  handlers: Map<string, GrpcHandler>;
  signal?: AbortSignal | undefined;
  /** Milliseconds until the engine must have taken the connection. */
  timeout?: number | undefined;
  /** A handler failed with something else than a gRPC status (reported, not thrown). */
  onError?: (err: unknown, path: string) => void;
}

export class BuildkitSession {
  private closing = false;
  /** Resolves when the connection closed (for whatever reason). */
  readonly closed: Promise<void>;

  constructor(
    readonly id: string,
    private readonly socket: Socket,
    private readonly h2: http2.ServerHttp2Session,
  ) {
    this.closed = new Promise((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
  }

  get isOpen(): boolean {
    return !this.closing && !this.socket.destroyed;
  }

  /** Ends the session: the engine sees the connection close. Waits at most 2 s for a clean close. */
  async close(): Promise<void> {
    if (this.closing) return this.closed;
    this.closing = true;
    const timer = setTimeout(() => {
      this.h2.destroy();
      this.socket.destroy();
    }, 2000);
    timer.unref();
    try {
      this.h2.close(() => this.socket.destroy());
    } catch {
      this.h2.destroy();
      this.socket.destroy();
    }
    await this.closed;
    clearTimeout(timer);
  }
}

/** Opens a session and starts serving it; resolves once the engine has taken the connection (101). */
export async function openSession(ctx: OperationContext, options: SessionOptions): Promise<BuildkitSession> {
  const id = newSessionId();
  const handlers = new Map(options.handlers);
  handlers.set(HEALTH_CHECK, unary(() => encodeHealthCheckResponse(HEALTH_SERVING)));
  const headers: Record<string, string> = {
    upgrade: 'h2c',
    'x-docker-expose-session-uuid': id,
    'x-docker-expose-session-name': options.name.replace(/[^\x20-\x7e]/g, '_') || 'dockhand',
    'x-docker-expose-session-sharedkey': options.sharedKey,
    // one header line per method: the transport splits this list (see transport/hijack.ts)
    'x-docker-expose-session-grpc-method': [...handlers.keys()].join(','),
  };
  const conn = await ctx.call('Session', {}, { headers, ...(options.signal ? { signal: options.signal } : {}), ...(options.timeout !== undefined ? { timeout: options.timeout } : {}) });
  const socket = conn as unknown as Socket;
  socket.on('error', ignore);
  if (conn.statusCode !== 101 || typeof (socket as Partial<Socket>).setNoDelay !== 'function') {
    conn.destroy();
    throw new DockerError(`${OP}: the engine did not switch the session connection to HTTP/2 (status ${conn.statusCode})`, { code: 'BUILDKIT_SESSION', operationId: OP, statusCode: conn.statusCode });
  }
  let h2: http2.ServerHttp2Session;
  try {
    h2 = http2.performServerHandshake(socket, { settings: { initialWindowSize: 1024 * 1024 }, maxSessionMemory: 64 });
  } catch (err) {
    socket.destroy();
    throw new DockerError(`${OP}: the HTTP/2 handshake on the session connection failed: ${(err as Error).message}`, { code: 'BUILDKIT_SESSION', operationId: OP, cause: err });
  }
  h2.on('error', ignore);
  h2.on('frameError', ignore);
  h2.once('close', () => socket.destroy());
  serveGrpc(h2, handlers, options.onError ?? ignore);
  return new BuildkitSession(id, socket, h2);
}
