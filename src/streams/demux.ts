/**
 * The engine's multiplexed stream format (logs, attach and exec without a TTY): frames of an
 * 8-byte header (stream type 0 stdin, 1 stdout, 2 stderr, 3 the engine's error; three zero bytes;
 * big-endian uint32 length) then the payload. With a TTY the bytes come raw.
 */
import { DockerError } from '../errors.js';

export type StreamName = 'stdout' | 'stderr';

export interface Frame {
  readonly stream: StreamName;
  readonly data: Buffer;
}

/** The engine reported an error inside a stream (a type-3 frame, or `errorDetail` in JSON). */
export class StreamError extends DockerError {
  /** The engine's numeric code from `errorDetail`, when it gave one. */
  readonly errorCode: number | undefined;
  constructor(message: string, details: { operationId?: string; errorCode?: number; cause?: unknown } = {}) {
    super(message, { code: 'STREAM_ERROR', ...details });
    this.errorCode = details.errorCode;
  }
}

/** The bytes broke the stream's format: a bad header, a truncated frame, a bad JSON message. */
export class StreamFormatError extends DockerError {
  /** Byte offset in the stream where the problem starts. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message, { code: 'STREAM_FORMAT' });
    this.offset = offset;
  }
}

const HEADER = 8;

/**
 * Splits multiplexed bytes into frames. Payloads that sit inside one chunk are returned as views
 * of it (no copy); only a frame split across chunks is copied, once, into its own buffer.
 */
export class FrameParser {
  /** An engine error frame or a format error, reported after the frames that came before it. */
  error: DockerError | undefined;
  private readonly head = Buffer.alloc(HEADER);
  private headFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;
  private type = 0;
  /** Absolute offset of the start of `chunk` in push(), and of the frame being assembled. */
  private consumed = 0;
  private frameStart = 0;

  /** Frames completed by `chunk`, in order. After an error, `error` is set and nothing more is parsed. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    if (this.error) return frames;
    const end = chunk.length;
    let pos = 0;
    if (this.headFill > 0) {
      if (this.headFill < HEADER) {
        const n = Math.min(HEADER - this.headFill, end);
        chunk.copy(this.head, this.headFill, 0, n);
        this.headFill += n;
        pos = n;
        if (this.headFill < HEADER) return this.done(frames, end);
        const size = this.header(this.head, 0, this.frameStart);
        if (size < 0) return this.done(frames, end);
        if (end - pos >= size) {
          if (!this.emit(frames, chunk.subarray(pos, pos + size))) return this.done(frames, end);
          pos += size;
          this.headFill = 0;
        } else {
          this.body = Buffer.allocUnsafe(size);
          this.bodyFill = 0;
        }
      }
      if (this.body) {
        const n = Math.min(this.body.length - this.bodyFill, end - pos);
        chunk.copy(this.body, this.bodyFill, pos, pos + n);
        this.bodyFill += n;
        pos += n;
        if (this.bodyFill < this.body.length) return this.done(frames, end);
        const body = this.body;
        this.body = undefined;
        this.headFill = 0;
        if (!this.emit(frames, body)) return this.done(frames, end);
      }
    }
    while (end - pos >= HEADER) {
      const size = this.header(chunk, pos, this.consumed + pos);
      if (size < 0) return this.done(frames, end);
      if (end - pos - HEADER >= size) {
        if (!this.emit(frames, chunk.subarray(pos + HEADER, pos + HEADER + size))) return this.done(frames, end);
        pos += HEADER + size;
      } else {
        chunk.copy(this.head, 0, pos, pos + HEADER);
        this.headFill = HEADER;
        this.frameStart = this.consumed + pos;
        this.body = Buffer.allocUnsafe(size);
        this.bodyFill = end - pos - HEADER;
        chunk.copy(this.body, 0, pos + HEADER, end);
        pos = end;
      }
    }
    if (pos < end) {
      chunk.copy(this.head, 0, pos, end);
      this.headFill = end - pos;
      this.frameStart = this.consumed + pos;
    }
    return this.done(frames, end);
  }

  /** Call at the end of the stream: a partial frame left over is an error, not silence. */
  end(): void {
    if (this.error) return;
    if (this.headFill > 0) {
      const have = this.headFill + this.bodyFill;
      this.error = new StreamFormatError(
        `multiplexed stream ended inside a frame (${have} byte(s) of an incomplete frame at byte ${this.frameStart})`,
        this.frameStart,
      );
    }
  }

  private done(frames: Frame[], length: number): Frame[] {
    this.consumed += length;
    return frames;
  }

  /** Reads a header: the payload size, or -1 after recording a format error. */
  private header(buf: Buffer, at: number, offset: number): number {
    const type = buf[at]!;
    if (type > 3 || buf[at + 1] !== 0 || buf[at + 2] !== 0 || buf[at + 3] !== 0) {
      this.error = new StreamFormatError(`not a multiplexed stream: bad frame header at byte ${offset}`, offset);
      return -1;
    }
    this.type = type;
    return buf.readUInt32BE(at + 4);
  }

  /** Adds a frame, or records the engine's error frame (type 3) and returns false. */
  private emit(frames: Frame[], data: Buffer): boolean {
    if (this.type === 3) {
      this.error = new StreamError(data.toString('utf8').trim() || 'the engine reported an error in the stream');
      return false;
    }
    // Type 0 (stdin echoed back) goes to stdout, as the engine's own demultiplexer does.
    frames.push({ stream: this.type === 2 ? 'stderr' : 'stdout', data });
    return true;
  }
}

/** Demultiplexes a byte stream into frames: backpressured (one chunk read at a time). */
export async function* demux(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Frame, void, undefined> {
  const parser = new FrameParser();
  for await (const chunk of source) {
    const frames = parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    for (let i = 0; i < frames.length; i++) yield frames[i]!;
    if (parser.error) throw parser.error;
  }
  parser.end();
  if (parser.error) throw parser.error;
}

/** TTY output: the bytes as they come, each chunk a stdout frame. */
export async function* rawFrames(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Frame, void, undefined> {
  for await (const chunk of source) {
    yield { stream: 'stdout', data: Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk) };
  }
}
