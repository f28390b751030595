/**
 * Output of logs, attach and exec as frames `{ stream: 'stdout' | 'stderr', data }`: demultiplexed
 * unless the container has a TTY, read with backpressure, closed when the loop stops early.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { demux, rawFrames, type Frame } from './demux.js';
import { alreadyConsumed, streamFailure } from './failure.js';
import { frameLines, type Line, type LinesOptions } from './lines.js';

/** The engine's Content-Types (API 1.42+) say whether a stream is multiplexed. */
export const MULTIPLEXED = 'application/vnd.docker.multiplexed-stream';
export const RAW = 'application/vnd.docker.raw-stream';

/**
 * Whether output is raw (TTY): from the Content-Type on API 1.42+ (the engine says which), else
 * from what the caller knows of the container or exec (its Tty setting), never from a guess.
 * Podman labels multiplexed output `raw-stream` when the version asked for is above the one it
 * advertises: from Podman (`podman()`), a Content-Type is not trusted.
 */
export async function isRawStream(
  contentType: string | undefined,
  apiVersion: string,
  knownTty: () => Promise<boolean>,
  podman: () => Promise<boolean> = () => Promise.resolve(false),
): Promise<boolean> {
  const [major, minor] = apiVersion.split('.').map(Number) as [number, number];
  const typed = major > 1 || minor >= 42;
  if (typed && contentType) {
    const ct = contentType.split(';')[0]!.trim().toLowerCase();
    if ((ct === MULTIPLEXED || ct === RAW) && !(await podman())) return ct === RAW;
  }
  return knownTty();
}

/** Podman's compat API names itself in every answer but its hijacks. */
export function fromPodman(headers: Record<string, string>): boolean {
  return headers['libpod-api-version'] !== undefined || /^libpod\//i.test(headers.server ?? '');
}

export interface FrameSource {
  body: Readable;
  tty: boolean;
}

export interface CollectedOutput {
  stdout: string;
  stderr: string;
}

export class FrameStream implements AsyncIterable<Frame> {
  private consumed = false;
  private closedByCaller = false;

  constructor(
    private readonly source: Promise<FrameSource>,
    readonly operationId: string,
    private readonly signal?: AbortSignal,
    /**
     * Runs when the bytes end without an error: rejects (STREAM_TRUNCATED) when the end was a
     * cut connection rather than the engine ending the output (the process still runs).
     */
    private readonly verifyEnd?: () => Promise<void>,
  ) {
    source.catch(() => undefined); // reported through iteration, never unhandled
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Frame> {
    if (this.consumed) throw alreadyConsumed(this.operationId);
    this.consumed = true;
    const { body, tty } = await this.source;
    try {
      yield* tty ? rawFrames(body) : demux(body);
      if (this.verifyEnd && !this.closedByCaller) await this.verifyEnd();
    } catch (err) {
      if (this.closedByCaller) return; // close() ends the output, it does not fail it
      throw streamFailure(err, this.operationId, this.signal);
    } finally {
      body.destroy();
    }
  }

  /** Marks the end as deliberate: the loop then ends quietly when the connection is closed. */
  markClosed(): void {
    this.closedByCaller = true;
  }

  /**
   * Writes stdout and stderr frames to two writables (with backpressure) and, unless `end` is
   * false, ends them when the output ends. The process's own stdout and stderr are never ended,
   * as Node's `pipe` does.
   */
  async pipe(stdout: Writable, stderr: Writable = stdout, { end = true }: { end?: boolean } = {}): Promise<void> {
    try {
      for await (const frame of this) {
        const target = frame.stream === 'stderr' ? stderr : stdout;
        if (!target.write(frame.data)) await once(target, 'drain');
      }
    } finally {
      if (end) {
        for (const w of stdout === stderr ? [stdout] : [stdout, stderr]) {
          if (w !== process.stdout && w !== process.stderr) w.end();
        }
      }
    }
  }

  /**
   * The output as lines `{ stream, line }` (see streams/lines.ts): split per stream across
   * frames, `\r\n` and `\n` endings dropped, the last unterminated line of each stream delivered
   * at the end, lines longer than `maxLineLength` (1 MiB) in `partial` pieces. Consumes the stream.
   */
  lines(options?: LinesOptions): AsyncIterable<Line> {
    return frameLines(this, options);
  }

  /** Collects the output as text (for bounded output: a finished container's logs, a command's result). */
  async text(): Promise<CollectedOutput> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for await (const frame of this) (frame.stream === 'stderr' ? err : out).push(frame.data);
    return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }
}
