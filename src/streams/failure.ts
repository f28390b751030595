/** One mapping for errors that end a stream while it is read: abort, idle, engine error, or I/O failure. */
import { AbortError, DockerError } from '../errors.js';
import { abortError, IdleTimeout } from '../request/abort.js';

/** What an I/O error in the middle of a body means, in words. */
export function whatHappened(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  const message = (err as Error)?.message ?? String(err);
  switch (code) {
    case 'ECONNRESET':
      return message === 'aborted' ? 'the connection was closed in the middle of the answer' : 'the connection was reset in the middle of the answer';
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return `the connection was closed in the middle of the answer (${message})`;
    default:
      return message;
  }
}

export function streamFailure(err: unknown, operationId: string, signal: AbortSignal | undefined): Error {
  if (err instanceof IdleTimeout) return abortError(operationId, err);
  if (err instanceof AbortError) return err;
  if ((err as { code?: unknown })?.code === 'UND_ERR_BODY_TIMEOUT') return new AbortError(`${operationId}: timed out: no data from the engine for idleTimeout ms`, { operationId, timedOut: true, cause: err });
  if (signal?.aborted && !(err instanceof DockerError && err.code === 'STREAM_ERROR')) {
    return abortError(operationId, signal.reason, err);
  }
  if (err instanceof DockerError) return err;
  return new DockerError(`${operationId}: the stream failed: ${whatHappened(err)}`, { code: 'STREAM_FAILED', operationId, cause: err });
}

export function alreadyConsumed(operationId: string): DockerError {
  return new DockerError(`${operationId}: this stream is already being consumed (iterate it once)`, { code: 'STREAM_CONSUMED', operationId });
}
