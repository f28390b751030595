/** One mapping for errors that end a stream while it is read: abort, engine error, or I/O failure. */
import { AbortError, DockerError } from '../errors.js';

export function streamFailure(err: unknown, operationId: string, signal: AbortSignal | undefined): Error {
  if (err instanceof AbortError) return err;
  if (signal?.aborted && !(err instanceof DockerError && err.code === 'STREAM_ERROR')) {
    return new AbortError(`${operationId}: aborted`, { operationId, cause: err });
  }
  if (err instanceof DockerError) return err;
  return new DockerError(`${operationId}: the stream failed: ${(err as Error)?.message ?? String(err)}`, { code: 'STREAM_FAILED', operationId, cause: err });
}

export function alreadyConsumed(operationId: string): DockerError {
  return new DockerError(`${operationId}: this stream is already being consumed (iterate it once)`, { code: 'STREAM_CONSUMED', operationId });
}
