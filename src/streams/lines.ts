/**
 * Output frames (logs, attach, exec) as lines `{ stream, line }`: the bytes of each stream are
 * split at `\n`, whatever the frames' boundaries, and decoded as UTF-8 line by line (so a
 * character cut in two by a frame boundary is whole in its line).
 *
 * - A line's ending (`\n`, or `\r\n`: the `\r` is dropped too) is not part of `line`. A lone `\r`
 *   (a progress bar redrawing its line) is kept.
 * - stdout and stderr are split separately: a partial stdout line waits for its end while stderr
 *   lines go by. With a TTY everything is stdout.
 * - When the output ends, what is left of each stream without a final newline is delivered as a
 *   last line (stdout's first, then stderr's).
 * - Bounded: a line longer than `maxLineLength` bytes (1 MiB by default) is delivered in pieces of
 *   at most that many bytes (cut between UTF-8 characters), every piece but the last with
 *   `partial: true`. Memory per stream never exceeds one piece plus the frame being read.
 */
import type { Frame, StreamName } from './demux.js';
import { ValidationError } from '../errors.js';

export interface Line {
  readonly stream: StreamName;
  /** The line's text, without its `\n` or `\r\n`. */
  readonly line: string;
  /**
   * True for a piece of a line longer than `maxLineLength`: more of the same line follows, in the
   * next line of the same stream. Absent on whole lines and on the last piece of a long one.
   */
  readonly partial?: true;
}

export interface LinesOptions {
  /** Longest line kept in memory, in bytes (default 1 MiB); longer lines come in pieces (`partial`). */
  maxLineLength?: number;
}

export const DEFAULT_MAX_LINE_LENGTH = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** The bytes of one stream's unfinished line. */
class Pending {
  private parts: Buffer[] = [];
  size = 0;
  add(part: Buffer): void {
    if (part.length === 0) return;
    // A view of the caller's chunk would pin it (and its whole allocation): keep a copy.
    this.parts.push(Buffer.from(part));
    this.size += part.length;
  }
  take(): Buffer {
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return all;
  }
}

/** Where to cut `buf` at most `max` bytes in, without splitting a UTF-8 character. */
function utf8Cut(buf: Buffer, max: number): number {
  let cut = max;
  // Back off over continuation bytes (10xxxxxx) to the start of the character at `cut`.
  while (cut > 0 && cut < buf.length && (buf[cut]! & 0xc0) === 0x80 && max - cut < 3) cut--;
  return cut > 0 ? cut : max;
}

/** Splits the bytes of several streams into lines; push frames in order, then call `end()`. */
export class LineSplitter {
  private readonly pending: Record<StreamName, Pending> = { stdout: new Pending(), stderr: new Pending() };
  readonly maxLineLength: number;

  constructor(options: LinesOptions = {}) {
    const max = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    if (!Number.isSafeInteger(max) || max < 4) {
      throw new ValidationError(`lines: maxLineLength must be an integer number of bytes >= 4, not ${String(max)}`, { parameter: 'maxLineLength' });
    }
    this.maxLineLength = max;
  }

  /** The lines that `data` completes on `stream` (and pieces of overlong ones). */
  push(stream: StreamName, data: Buffer): Line[] {
    const out: Line[] = [];
    const pending = this.pending[stream];
    let pos = 0;
    while (pos < data.length) {
      const nl = data.indexOf(LF, pos);
      const end = nl < 0 ? data.length : nl;
      if (pending.size + (end - pos) > this.maxLineLength) {
        // Too long to keep: deliver a piece of maxLineLength bytes and go on with the rest.
        pending.add(data.subarray(pos, end));
        pos = end;
        this.pieces(stream, pending, out);
        if (nl < 0) break;
      } else {
        pending.add(data.subarray(pos, end));
        pos = end;
        if (nl < 0) break;
      }
      // At a newline: the line is complete.
      const bytes = pending.take();
      const trimmed = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.subarray(0, bytes.length - 1) : bytes;
      out.push({ stream, line: trimmed.toString('utf8') });
      pos = nl + 1;
    }
    return out;
  }

  /** The unterminated last line of each stream (stdout first), when the output has ended. */
  end(): Line[] {
    const out: Line[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const pending = this.pending[stream];
      if (pending.size > 0) out.push({ stream, line: pending.take().toString('utf8') });
    }
    return out;
  }

  /** Delivers pieces of an overlong line while more than maxLineLength bytes are pending. */
  private pieces(stream: StreamName, pending: Pending, out: Line[]): void {
    while (pending.size > this.maxLineLength) {
      const bytes = pending.take();
      const cut = utf8Cut(bytes, this.maxLineLength);
      out.push({ stream, line: bytes.subarray(0, cut).toString('utf8'), partial: true });
      pending.add(bytes.subarray(cut));
    }
  }
}

/**
 * Lines of a frame source. Breaking out of the loop ends the source's iteration (which closes its
 * connection); errors of the source pass through, after the lines completed before them. A bad
 * `maxLineLength` throws at once, before anything is read.
 */
export function frameLines(frames: AsyncIterable<Frame>, options?: LinesOptions): AsyncGenerator<Line, void, undefined> {
  return splitFrames(frames, new LineSplitter(options));
}

async function* splitFrames(frames: AsyncIterable<Frame>, splitter: LineSplitter): AsyncGenerator<Line, void, undefined> {
  for await (const frame of frames) {
    const lines = splitter.push(frame.stream, frame.data);
    for (let i = 0; i < lines.length; i++) yield lines[i]!;
  }
  yield* splitter.end();
}
