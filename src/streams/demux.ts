/**
 * The engine's multiplexed stream format (logs, attach and exec without a TTY): frames of an
 * 8-byte header (stream type 0 stdin, 1 stdout, 2 stderr, 3 the engine's error; three zero bytes;
 * big-endian uint32 length) then the payload. With a TTY the bytes come raw.
 */
import { DockerError, MAX_ERROR_MESSAGE } from '../errors.js';

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
 * Largest payload assembled in memory: a frame split across chunks up to this size is copied once
 * into its own buffer; a larger one is passed on in pieces as its bytes arrive. Also the most
 * kept of an engine error frame (type 3).
 */
export const MAX_FRAME_BUFFER = 64 * 1024;

/**
 * Splits multiplexed bytes into frames. Payloads that sit inside one chunk are returned as views
 * of it (no copy). A frame split across chunks is copied once into its own buffer when its
 * payload is at most MAX_FRAME_BUFFER bytes; a larger one is returned in pieces (frames of the
 * same stream, views of the chunks) as its bytes arrive, so memory stays bounded whatever a
 * header claims. Consumers treat frames as chunks of their stream, never as messages.
 */
export class FrameParser {
  /** An engine error frame or a format error, reported after the frames that came before it. */
  error: DockerError | undefined;
  private readonly head = Buffer.alloc(HEADER);
  /** Bytes of a header split across chunks gathered so far (0: not inside a header). */
  private headFill = 0;
  /** The current frame: type, payload size claimed by its header, payload bytes still to come. */
  private type = 0;
  private size = 0;
  private remaining = 0;
  /** The payload being assembled (a small split frame, or the kept head of an error frame). */
  private body: Buffer | undefined;
  private bodyFill = 0;
  /** Bytes pushed so far (the absolute offset of the next chunk), and where the current frame starts. */
  private consumed = 0;
  private frameStart = 0;

  /** Frames completed by `chunk`, in order. After an error, `error` is set and nothing more is parsed. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    if (this.error) return frames;
    const base = this.consumed;
    const end = chunk.length;
    this.consumed += end;
    let pos = 0;
    while (pos < end) {
      if (this.remaining > 0) {
        pos = this.payload(frames, chunk, pos, end);
        if (pos < 0) break;
        continue;
      }
      let size: number;
      if (this.headFill === 0 && end - pos >= HEADER) {
        this.frameStart = base + pos;
        size = this.header(chunk, pos);
        pos += HEADER;
      } else {
        if (this.headFill === 0) this.frameStart = base + pos;
        const n = Math.min(HEADER - this.headFill, end - pos);
        chunk.copy(this.head, this.headFill, pos, pos + n);
        this.headFill += n;
        pos += n;
        if (this.headFill < HEADER) break;
        this.headFill = 0;
        size = this.header(this.head, 0);
      }
      if (size < 0) break;
      pos = this.begin(frames, chunk, pos, end, size);
      if (pos < 0) break;
    }
    return frames;
  }

  /** Call at the end of the stream: a partial frame left over is an error, not silence. */
  end(): void {
    if (this.error) return;
    if (this.headFill > 0) {
      this.error = new StreamFormatError(
        `multiplexed stream ended inside a frame: ${this.headFill} of its ${HEADER} header bytes came (frame at byte ${this.frameStart})`,
        this.frameStart,
      );
    } else if (this.remaining > 0) {
      this.error = new StreamFormatError(
        `multiplexed stream ended inside a frame: ${this.size - this.remaining} of its ${this.size} payload bytes came (frame at byte ${this.frameStart})`,
        this.frameStart,
      );
    }
  }

  /** Reads a header at `at` (of the frame at frameStart): the payload size, or -1 after recording a format error. */
  private header(buf: Buffer, at: number): number {
    const type = buf[at]!;
    if (type > 3 || buf[at + 1] !== 0 || buf[at + 2] !== 0 || buf[at + 3] !== 0) {
      this.error = new StreamFormatError(`not a multiplexed stream: bad frame header at byte ${this.frameStart}`, this.frameStart);
      return -1;
    }
    this.type = type;
    return buf.readUInt32BE(at + 4);
  }

  /** Starts a payload of `size` bytes at `pos`: the position after what was used, or -1 after an error. */
  private begin(frames: Frame[], chunk: Buffer, pos: number, end: number, size: number): number {
    if (end - pos >= size && (this.type !== 3 || size <= MAX_FRAME_BUFFER)) {
      // The whole payload is in this chunk: a view of it.
      return this.emit(frames, chunk.subarray(pos, pos + size)) ? pos + size : -1;
    }
    this.size = size;
    this.remaining = size;
    this.bodyFill = 0;
    this.body = size <= MAX_FRAME_BUFFER || this.type === 3 ? Buffer.allocUnsafe(Math.min(size, MAX_FRAME_BUFFER)) : undefined;
    return pos;
  }

  /** Takes what `chunk` holds of the current payload: the position after it, or -1 after an error. */
  private payload(frames: Frame[], chunk: Buffer, pos: number, end: number): number {
    const n = Math.min(this.remaining, end - pos);
    const body = this.body;
    if (!body) {
      // A large frame: passed on as it comes, never buffered.
      this.remaining -= n;
      return this.emit(frames, chunk.subarray(pos, pos + n)) ? pos + n : -1;
    }
    const take = Math.min(n, body.length - this.bodyFill);
    chunk.copy(body, this.bodyFill, pos, pos + take);
    this.bodyFill += take;
    this.remaining -= take;
    if (this.bodyFill < body.length) return pos + take;
    this.body = undefined;
    if (this.remaining > 0) {
      // An engine error frame larger than what is kept: report its head now, the rest is never read.
      this.error = engineError(body, this.size);
      return -1;
    }
    return this.emit(frames, body) ? pos + take : -1;
  }

  /** Adds a frame, or records the engine's error frame (type 3) and returns false. */
  private emit(frames: Frame[], data: Buffer): boolean {
    if (this.type === 3) {
      this.error = engineError(data, data.length);
      return false;
    }
    // Type 0 (stdin echoed back) goes to stdout, as the engine's own demultiplexer does.
    frames.push({ stream: this.type === 2 ? 'stderr' : 'stdout', data });
    return true;
  }
}

/** The engine's error frame as a StreamError; `size` is the payload size its header claimed. */
function engineError(kept: Buffer, size: number): StreamError {
  const text = kept.toString('utf8').trim() || 'the engine reported an error in the stream';
  if (size <= kept.length) return new StreamError(text);
  const note = ` … (the engine's error message was cut: ${kept.length} of its ${size} bytes kept)`;
  return new StreamError(`${text.slice(0, MAX_ERROR_MESSAGE - note.length)}${note}`);
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
