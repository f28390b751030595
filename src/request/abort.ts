/**
 * Cancellation in one place: the reason a timeout aborts with, the AbortError every cancelled
 * call or stream ends with, and deadlines that cover a whole helper (exec, copyFrom, copyTo),
 * not just one request of it.
 */
import { AbortError } from '../errors.js';
import type { CallOptions } from './types.js';

/** The abort reason of dockhand's own timers: turned into `AbortError { timedOut: true }`. */
export const TIMEOUT = Symbol('dockhand.timeout');

/**
 * What an idle stream is ended with (no byte for `idleTimeout` ms): an AbortError with code
 * TIMEOUT, also where no operation is known to name it (a transport's own idle watch on a raw
 * `docker.api.*` stream); where one is, abortError names it.
 */
export class IdleTimeout extends AbortError {
  constructor(readonly ms: number) {
    super(`timed out: no data from the engine for ${ms} ms`, { timedOut: true });
  }
}

export function abortError(operationId: string, reason: unknown, cause?: unknown): AbortError {
  if (reason === TIMEOUT) return new AbortError(`${operationId}: timed out`, { operationId, timedOut: true, cause });
  if (reason instanceof IdleTimeout) return new AbortError(`${operationId}: ${reason.message}`, { operationId, timedOut: true, cause: reason });
  return new AbortError(`${operationId}: aborted`, { operationId, cause: cause ?? reason });
}

export interface Deadline {
  /** The options to pass to each request of the helper: the signal ends them all. */
  readonly options: CallOptions;
  /** The signal (aborted by the caller's signal or by the timeout). */
  readonly signal: AbortSignal | undefined;
  /** Stops the timer; call when the helper is done. */
  done(): void;
}

/**
 * Turns `{ signal, timeout }` into one signal that covers a whole multi-request helper: aborted
 * with TIMEOUT when the time is up, or with the caller's reason.
 */
export function deadline(options: CallOptions | undefined, defaultTimeout?: number): Deadline {
  const timeout = options?.timeout ?? defaultTimeout;
  const outer = options?.signal;
  if (!(timeout !== undefined && timeout > 0)) {
    return { options: options ?? {}, signal: outer, done: () => undefined };
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(TIMEOUT), timeout);
  const onAbort = (): void => controller.abort(outer!.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onAbort, { once: true });
  const { timeout: _whole, ...rest } = options ?? {};
  return {
    options: { ...rest, signal: controller.signal },
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/** Rejects with the signal's AbortError as soon as it aborts; for waits that take no signal. */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal | undefined, operationId: string): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortError(operationId, signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(operationId, signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
