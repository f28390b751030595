/**
 * A hijacked attach or exec connection: `stdin` to write (ending it half-closes the connection, so
 * the process sees EOF), and the output as frames. Breaking out of the loop, `close()` or the
 * signal closes the connection.
 */
import { Writable } from 'node:stream';
import type { HijackedConnection } from '../request/types.js';
import type { Frame } from './demux.js';
import { FrameStream, type CollectedOutput } from './frames.js';
import type { Line, LinesOptions } from './lines.js';

export interface TerminalSize {
  /** Rows. */
  h: number;
  /** Columns. */
  w: number;
}

export class HijackSession implements AsyncIterable<Frame> {
  /** The process's stdin. `end()` half-closes the connection: the process sees EOF. */
  readonly stdin: Writable;
  /** The process's output: stdout and stderr frames (only stdout with a TTY). */
  readonly output: FrameStream;
  /** Whether anything was written to stdin (detach keys may have ended the session). */
  stdinWritten = false;

  constructor(
    private readonly connection: HijackedConnection,
    /** True when the output is raw TTY bytes. */
    readonly tty: boolean,
    operationId: string,
    private readonly resizer: (size: TerminalSize) => Promise<unknown>,
    signal?: AbortSignal,
    verifyEnd?: (session: HijackSession) => Promise<void>,
  ) {
    this.output = new FrameStream(Promise.resolve({ body: connection, tty }), operationId, signal, verifyEnd && (() => verifyEnd(this)));
    this.stdin = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.stdinWritten = true;
        if (connection.destroyed || connection.writableEnded) return callback();
        connection.write(chunk, (err) => callback(err ?? null));
      },
      final: (callback) => {
        if (!connection.destroyed && !connection.writableEnded) connection.end();
        callback();
      },
    });
    // A closed connection makes stdin writes no-ops instead of errors: output tells what happened.
    this.stdin.on('error', () => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<Frame> {
    return this.output[Symbol.asyncIterator]();
  }

  /** Writes stdout and stderr to two writables and ends them (never process.stdout/stderr) when the output ends. */
  pipe(stdout: Writable, stderr: Writable = stdout, options?: { end?: boolean }): Promise<void> {
    return this.output.pipe(stdout, stderr, options);
  }

  /** The output as lines `{ stream, line }`, as `FrameStream.lines()`. */
  lines(options?: LinesOptions): AsyncIterable<Line> {
    return this.output.lines(options);
  }

  /** Collects the whole output as text. */
  text(): Promise<CollectedOutput> {
    return this.output.text();
  }

  /** Resizes the TTY (rows and columns). */
  async resize(size: TerminalSize): Promise<void> {
    await this.resizer(size);
  }

  /** Closes the connection; a loop over the output then ends (without an error). */
  close(): void {
    this.output.markClosed();
    this.connection.destroy();
  }
}
