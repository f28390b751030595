/** A stream of typed JSON messages (stats, events) as an async iterable, closed when the loop stops. */
import type { Readable } from 'node:stream';
import { alreadyConsumed, streamFailure } from './failure.js';
import { jsonMessages } from './json-stream.js';

export class JsonStream<T> implements AsyncIterable<T> {
  private consumed = false;
  /**
   * Resolves once the engine has answered (status checked, headers received): for events, the
   * subscription is live, so what happens after it is seen. Rejects with the error iterating would
   * throw; it never causes an unhandled rejection when nobody awaits it.
   */
  readonly ready: Promise<void>;

  constructor(
    private readonly source: Promise<Readable>,
    readonly operationId: string,
    private readonly signal?: AbortSignal,
    /** Adjusts each message before it is yielded (engine quirks), given the response's headers. */
    private readonly adjust?: (headers: Record<string, string>) => ((message: T) => T) | undefined,
  ) {
    source.catch(() => undefined); // reported through iteration, never unhandled
    this.ready = source.then(() => undefined);
    this.ready.catch(() => undefined); // the same: awaiting it is optional
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw alreadyConsumed(this.operationId);
    this.consumed = true;
    const body = await this.source;
    try {
      const fix = this.adjust?.((body as { headers?: Record<string, string> }).headers ?? {});
      if (fix) for await (const m of jsonMessages<T>(body)) yield fix(m);
      else yield* jsonMessages<T>(body);
    } catch (err) {
      throw streamFailure(err, this.operationId, this.signal);
    } finally {
      body.destroy();
    }
  }

  /** Reads every message into an array (for bounded streams: events with `until`, one-shot stats). */
  async toArray(): Promise<T[]> {
    const all: T[] = [];
    for await (const m of this) all.push(m);
    return all;
  }
}
