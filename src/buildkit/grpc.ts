/**
 * A minimal gRPC server over one HTTP/2 session (the engine is the HTTP/2 client on the hijacked
 * `/session` connection). Each call is one HTTP/2 stream: messages are a 1-byte compressed flag
 * (always 0 here), a 4-byte big-endian length and the protobuf bytes; the answer ends with
 * trailers `grpc-status` / `grpc-message`. Unknown methods answer UNIMPLEMENTED.
 */
import type { ServerHttp2Session, ServerHttp2Stream, IncomingHttpHeaders } from 'node:http2';

export const GRPC_OK = 0;
export const GRPC_CANCELLED = 1;
export const GRPC_UNKNOWN = 2;
export const GRPC_INVALID_ARGUMENT = 3;
export const GRPC_NOT_FOUND = 5;
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;

/** Largest message accepted from the engine (its own sends are far smaller). */
export const MAX_GRPC_MESSAGE = 16 * 1024 * 1024;

/** Bytes a call queues for the engine before `send()` waits for it to read. */
export const MAX_BUFFERED = 1024 * 1024;

/** A failure a handler reports to the engine as a gRPC status. */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GrpcError';
  }
}

/**
 * Splits a byte stream into gRPC messages, whatever the chunking. Memory is bounded by the
 * largest message (at most `max` bytes); a bigger one, or a compressed one, is an error.
 */
export class GrpcFrameDecoder {
  private parts: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly max = MAX_GRPC_MESSAGE) {}

  /** Messages completed by `chunk`, in order. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.parts.push(chunk);
      this.buffered += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < 5) return out;
      const head = this.peek(5);
      if (head[0] !== 0) throw new GrpcError(GRPC_UNIMPLEMENTED, 'compressed gRPC messages are not supported');
      const len = head.readUInt32BE(1);
      if (len > this.max) throw new GrpcError(GRPC_RESOURCE_EXHAUSTED, `gRPC message of ${len} bytes is larger than ${this.max}`);
      if (this.buffered < 5 + len) return out;
      const all = this.take(5 + len);
      out.push(all.subarray(5));
    }
  }

  /** Bytes of a message not yet complete (0 at a message boundary). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.parts[0]!.length >= n) return this.parts[0]!.subarray(0, n);
    const joined = Buffer.concat(this.parts);
    this.parts = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    let first = this.parts[0]!;
    if (first.length < n) {
      first = Buffer.concat(this.parts);
      this.parts = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.parts.shift();
    else this.parts[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/** One message as sent on the wire: flag, length, payload. */
export function grpcFrame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** One call, as a handler sees it. */
export interface GrpcCall {
  readonly path: string;
  /** Every value of a metadata key (lower case), as sent: repeated fields are not joined. */
  metadata(name: string): string[];
  /** The engine's messages, in order (iterate once). */
  messages(): AsyncGenerator<Buffer, void, undefined>;
  /** Sends one message; resolves when the stream can take more. Rejects once the call is gone. */
  send(message: Buffer): Promise<void>;
  /**
   * Sends one message already framed (see grpcFrame): saves a copy of big payloads. `written` is
   * called once the stream is done with `frame` (written out, or failed): then it may be reused.
   */
  sendFramed(frame: Buffer, written?: () => void): Promise<void>;
  /** Aborted when the engine cancels the call or the session closes. */
  readonly signal: AbortSignal;
}

export type GrpcHandler = (call: GrpcCall) => Promise<void>;

/** A unary method: one request in, one answer out. */
export function unary(fn: (request: Buffer, call: GrpcCall) => Promise<Buffer> | Buffer): GrpcHandler {
  return async (call) => {
    let request: Buffer | undefined;
    for await (const m of call.messages()) {
      if (request === undefined) request = m;
    }
    await call.send(await fn(request ?? Buffer.alloc(0), call));
  };
}

const ignore = (): void => undefined;

/** grpc-message is percent-encoded (anything outside printable ASCII, and `%`). */
function encodeMessage(message: string): string {
  return message.slice(0, 2048).replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c));
}

/** Multi-valued headers from the raw list (the headers object joins repeated fields with ", "). */
function rawValues(raw: readonly string[] | undefined, headers: IncomingHttpHeaders, name: string): string[] {
  if (raw) {
    const out: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
    return out;
  }
  const v = headers[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

class Call implements GrpcCall {
  readonly path: string;
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  private responded = false;
  private consumed = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly raw: readonly string[] | undefined,
  ) {
    this.path = String(headers[':path'] ?? '');
    stream.once('close', () => {
      this.controller.abort(new GrpcError(GRPC_CANCELLED, 'the call was closed'));
      for (const w of this.drainWaiters.splice(0)) w.reject(new GrpcError(GRPC_CANCELLED, 'the call was closed'));
    });
  }

  metadata(name: string): string[] {
    return rawValues(this.raw, this.headers, name.toLowerCase());
  }

  async *messages(): AsyncGenerator<Buffer, void, undefined> {
    if (this.consumed) throw new GrpcError(GRPC_INTERNAL, 'messages() iterated twice');
    this.consumed = true;
    const decoder = new GrpcFrameDecoder();
    for await (const chunk of this.stream as AsyncIterable<Buffer>) {
      for (const m of decoder.push(chunk)) yield m;
    }
    if (decoder.pending > 0) throw new GrpcError(GRPC_INTERNAL, 'the call ended inside a message');
  }

  private respond(): void {
    if (this.responded) return;
    this.responded = true;
    this.stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  }

  send(message: Buffer): Promise<void> {
    return this.sendFramed(grpcFrame(message));
  }

  async sendFramed(frame: Buffer, written?: () => void): Promise<void> {
    if (this.stream.destroyed || this.stream.closed || this.signal.aborted) {
      written?.();
      throw new GrpcError(GRPC_CANCELLED, 'the call was closed');
    }
    this.respond();
    // Node's HTTP/2 streams have a 16 KiB high-water mark: waiting for 'drain' at each 32 KiB
    // packet would stall on every write. Up to MAX_BUFFERED bytes are queued per call instead.
    if (written) this.stream.write(frame, () => written());
    else this.stream.write(frame);
    if (this.stream.writableLength <= MAX_BUFFERED) return;
    // one 'drain' listener per call, however many senders wait
    await new Promise<void>((resolve, reject) => {
      this.drainWaiters.push({ resolve, reject });
      if (this.drainWaiters.length === 1) this.stream.once('drain', this.onDrain);
    });
  }

  private readonly drainWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly onDrain = (): void => {
    for (const w of this.drainWaiters.splice(0)) w.resolve();
  };

  /** Ends the call with a status (trailers; trailers-only when nothing was sent). */
  finish(code: number, message: string): void {
    const s = this.stream;
    if (s.destroyed || s.closed) return;
    const trailers: Record<string, string> = { 'grpc-status': String(code) };
    if (message) trailers['grpc-message'] = encodeMessage(message);
    if (!this.responded) {
      if (s.headersSent) {
        s.close();
        return;
      }
      this.responded = true;
      s.respond({ ':status': 200, 'content-type': 'application/grpc', ...trailers }, { endStream: true });
      return;
    }
    s.once('wantTrailers', () => {
      try {
        s.sendTrailers(trailers);
      } catch {
        s.close();
      }
    });
    s.end();
  }
}

/**
 * Serves `handlers` (by `/package.Service/Method`) on `session`. A handler's GrpcError becomes
 * its status; any other failure is reported through `onError` and answered INTERNAL.
 */
export function serveGrpc(session: ServerHttp2Session, handlers: ReadonlyMap<string, GrpcHandler>, onError: (err: unknown, path: string) => void): void {
  const onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw?: readonly string[]): void => {
    stream.on('error', ignore);
    const call = new Call(stream, headers, raw);
    const handler = handlers.get(call.path);
    if (!handler) {
      stream.resume();
      call.finish(GRPC_UNIMPLEMENTED, `unknown method ${call.path}`);
      return;
    }
    void handler(call).then(
      () => call.finish(GRPC_OK, ''),
      (err: unknown) => {
        if (err instanceof GrpcError) {
          call.finish(err.code, err.message);
        } else {
          onError(err, call.path);
          call.finish(GRPC_INTERNAL, err instanceof Error ? err.message : String(err));
        }
      },
    );
  };
  session.on('stream', onStream as (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => void);
}
