/**
 * One split-safe reader for the engine's streams of JSON messages: newline-delimited (jsonl,
 * ndjson), concatenated (`{...}{...}`) and json-seq (RFC 7464, each message after 0x1E).
 * Messages split across chunks, many messages in one chunk, and a bad message (a typed error
 * with its byte offset) are all handled; memory is bounded by the largest single message.
 */
import { StreamFormatError } from './demux.js';

/** A single message larger than this is refused (the engine's are a few KiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const RS = 0x1e;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09 || b === RS;
}

export class JsonMessageParser {
  private parts: Buffer[] = [];
  private partsSize = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Absolute offset of the message being assembled (or of the next byte). */
  private messageStart = 0;
  private consumed = 0;

  /** A bad message: reported after the messages that came before it; nothing more is parsed. */
  error: StreamFormatError | undefined;

  /** Messages completed by `chunk`, in order; on a bad message, those before it and `error` set. */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    if (this.error) return out;
    try {
      this.scan(chunk, out);
    } catch (err) {
      if (!(err instanceof StreamFormatError)) throw err;
      this.error = err;
    }
    return out;
  }

  private scan(chunk: Buffer, out: unknown[]): void {
    let start = this.depth > 0 ? 0 : -1; // start of the current message within chunk
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.depth === 0) {
        if (isSpace(b)) continue;
        if (b !== OPEN_BRACE && b !== OPEN_BRACKET) this.bad(chunk, i);
        start = i;
        this.messageStart = this.consumed + i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
        continue;
      }
      if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        if (--this.depth === 0) {
          const piece = chunk.subarray(start, i + 1);
          const text = this.partsSize > 0 ? Buffer.concat([...this.parts, piece]).toString('utf8') : piece.toString('utf8');
          this.parts = [];
          this.partsSize = 0;
          out.push(this.parse(text));
          start = -1;
        }
      }
    }
    if (this.depth > 0 && start >= 0) {
      const rest = chunk.subarray(start);
      this.partsSize += rest.length;
      if (this.partsSize > MAX_MESSAGE_BYTES) {
        throw new StreamFormatError(`JSON message at byte ${this.messageStart} is larger than ${MAX_MESSAGE_BYTES} bytes`, this.messageStart);
      }
      this.parts.push(Buffer.from(rest)); // copy: the chunk's memory may be reused
    }
    this.consumed += chunk.length;
  }

  /** Call at the end: a message cut off is an error. */
  end(): void {
    if (!this.error && this.depth > 0) {
      this.error = new StreamFormatError(`JSON stream ended inside a message starting at byte ${this.messageStart}`, this.messageStart);
    }
  }

  private parse(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new StreamFormatError(`bad JSON message at byte ${this.messageStart}: ${(err as Error).message}`, this.messageStart);
    }
  }

  private bad(chunk: Buffer, i: number): never {
    const offset = this.consumed + i;
    const nl = chunk.indexOf(0x0a, i);
    const sample = chunk.subarray(i, Math.min(nl < 0 ? chunk.length : nl, i + 60)).toString('utf8');
    throw new StreamFormatError(`bad JSON message at byte ${offset}: ${JSON.stringify(sample)}`, offset);
  }
}

/** Parses a byte stream of JSON messages, one at a time, with backpressure. */
export async function* jsonMessages<T = unknown>(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<T, void, undefined> {
  const parser = new JsonMessageParser();
  for await (const chunk of source) {
    const messages = parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    for (let i = 0; i < messages.length; i++) yield messages[i] as T;
    if (parser.error) throw parser.error;
  }
  parser.end();
  if (parser.error) throw parser.error;
}
