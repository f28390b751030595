/**
 * Long-running JSON-message operations (pull, import, push, load, build, plugin pull/upgrade/push)
 * as one object that is both an async iterable of typed messages and awaitable: it resolves when
 * the work is done and rejects with StreamError when the engine reports an error in the stream.
 * Messages are not kept: memory stays bounded whatever the stream's length.
 */
import type { Readable } from 'node:stream';
import { AbortError } from '../errors.js';
import { alreadyConsumed, streamFailure } from './failure.js';
import type { ErrorDetail, ProgressDetail } from '../generated/types.js';
import { StreamError } from './demux.js';
import { jsonMessages } from './json-stream.js';

/** What every message of these streams may carry. */
export interface ProgressMessage {
  id?: string;
  status?: string;
  progress?: string;
  progressDetail?: ProgressDetail;
  stream?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: ErrorDetail;
}

export interface LayerProgress {
  status: string;
  current: number;
  total: number;
}

/** Per-layer and overall byte counts, for those who draw progress bars. */
export class ProgressModel {
  readonly layers = new Map<string, LayerProgress>();

  update(message: ProgressMessage): void {
    if (!message.id || message.status === undefined) return;
    const layer = this.layers.get(message.id) ?? { status: '', current: 0, total: 0 };
    layer.status = message.status;
    const detail = message.progressDetail;
    if (detail && typeof detail.current === 'number') layer.current = detail.current;
    if (detail && typeof detail.total === 'number' && detail.total > 0) layer.total = detail.total;
    if (/^(Pull complete|Already exists|Download complete|Pushed|Layer already exists|Mounted from)/.test(message.status) && layer.total > 0) {
      layer.current = layer.total;
    }
    this.layers.set(message.id, layer);
  }

  /** Bytes done and known total over every layer that reported a size. */
  get overall(): { current: number; total: number; fraction: number } {
    let current = 0;
    let total = 0;
    for (const l of this.layers.values()) {
      if (l.total > 0) {
        current += Math.min(l.current, l.total);
        total += l.total;
      }
    }
    return { current, total, fraction: total > 0 ? current / total : 0 };
  }
}

export interface ProgressResult<T> {
  /** How many messages the engine sent. */
  messages: number;
  /** The last message (e.g. "Status: Downloaded newer image for ..."). */
  last: T | undefined;
  /** Every `aux` payload (build: the image ID; push: tag, digest, size): a few per operation. */
  aux: unknown[];
}

export interface ProgressOptions {
  signal?: AbortSignal | undefined;
  /** Called with each message after the progress model was updated. */
  onProgress?: ((message: ProgressMessage, model: ProgressModel) => void) | undefined;
}

/** The engine's in-stream error as a StreamError, or undefined. */
export function streamErrorOf(message: ProgressMessage, operationId: string): StreamError | undefined {
  if (message.error === undefined && message.errorDetail === undefined) return undefined;
  const text = message.errorDetail?.message ?? message.error ?? 'the engine reported an error';
  const code = message.errorDetail?.code;
  return new StreamError(text, { operationId, ...(typeof code === 'number' ? { errorCode: code } : {}) });
}

export class ProgressStream<T extends ProgressMessage = ProgressMessage, R extends ProgressResult<T> = ProgressResult<T>> implements AsyncIterable<T>, PromiseLike<R> {
  /** Live per-layer progress, updated as messages arrive. */
  readonly progress = new ProgressModel();
  private readonly result: ProgressResult<T> = { messages: 0, last: undefined, aux: [] };
  private readonly done: Promise<R>;
  private settle!: { resolve: (r: R) => void; reject: (e: unknown) => void };
  private consumed = false;

  constructor(
    private readonly response: Promise<Readable>,
    readonly operationId: string,
    private readonly options: ProgressOptions = {},
    /** What the stream resolves to, made from the result (builds add their image id). */
    private readonly finish: (result: ProgressResult<T>) => R = (result) => result as R,
  ) {
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // Failures reach the caller through iteration or await, never as unhandled rejections.
    this.done.catch(() => undefined);
    response.catch(() => undefined);
  }

  /** Iterate once: each message in order. Breaking out cancels the operation. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.iterate()[Symbol.asyncIterator]();
  }

  /** Resolves when the work is done; rejects with StreamError when the engine reports an error. */
  wait(): Promise<R> {
    if (!this.consumed) {
      void (async () => {
        for await (const message of this.iterate()) void message;
      })().catch(() => undefined);
    }
    return this.done;
  }

  then<R1 = R, R2 = never>(
    onFulfilled?: ((value: R) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.wait().then(onFulfilled, onRejected);
  }

  private async *iterate(): AsyncGenerator<T, void, undefined> {
    if (this.consumed) throw alreadyConsumed(this.operationId);
    this.consumed = true;
    let finished = false;
    let body: Readable | undefined;
    try {
      body = await this.response;
      for await (const message of jsonMessages<T>(body)) {
        const failure = streamErrorOf(message, this.operationId);
        if (failure) throw failure;
        this.progress.update(message);
        this.result.messages++;
        this.result.last = message;
        if (message.aux !== undefined) this.result.aux.push(message.aux);
        this.options.onProgress?.(message, this.progress);
        yield message;
      }
      finished = true;
      this.settle.resolve(this.finish(this.result));
    } catch (err) {
      const error = streamFailure(err, this.operationId, this.options.signal);
      finished = true;
      this.settle.reject(error);
      throw error;
    } finally {
      body?.destroy();
      if (!finished) this.settle.reject(new AbortError(`${this.operationId}: stopped before the end`, { operationId: this.operationId }));
    }
  }
}
