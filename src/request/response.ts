/** Reads the engine's answers: bodies, error messages (capped at 1 MiB), headers. */
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { AbortError, DockerError, errorFromStatus } from '../errors.js';
import type { ResponseHeaders } from './types.js';

/** Error bodies are read up to this many bytes; the rest is discarded. */
export const MAX_ERROR_BODY = 1024 * 1024;

/**
 * Reads a whole body; with `limit`, stops (and closes the stream) once that many bytes came:
 * keeps the first `limit` bytes, or with `onLimit` calls it and keeps nothing.
 */
export function readBody(body: Readable, limit = Infinity, onLimit?: () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > limit) {
        if (onLimit) {
          // the caller wants no part of an answer over the limit: free it now
          chunks.length = 0;
          size = 0;
          onLimit();
        } else {
          chunks.push(chunk.subarray(0, limit - size));
          size = limit;
        }
        finish();
        body.destroy();
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    };
    const onError = (err: Error): void => {
      if (done) return;
      done = true;
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      body.off('data', onData);
      body.off('end', finish);
      body.off('error', onError);
    };
    body.on('data', onData);
    body.once('end', finish);
    body.once('error', onError);
  });
}

/** Discards a body so its connection can be reused. */
export function drain(body: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    body.once('end', resolve);
    body.once('error', reject);
    body.resume();
  });
}

export function normalizeHeaders(headers: Record<string, string | string[] | undefined>): ResponseHeaders {
  const out: ResponseHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** The engine's `{"message": ...}`, else the body's text, else the status line. */
export function errorMessage(statusCode: number, text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as { message?: unknown };
      if (typeof parsed.message === 'string' && parsed.message) return parsed.message;
    } catch {
      // not JSON after all: use the text
    }
  }
  return trimmed || `${statusCode} ${STATUS_CODES[statusCode] ?? 'error'}`;
}

/** Reads an error answer (at most MAX_ERROR_BODY bytes) into the right DockerError. */
export async function errorFromResponse(
  statusCode: number,
  headers: Record<string, string | string[] | undefined>,
  body: Readable,
  operationId: string,
): Promise<DockerError> {
  let text = '';
  try {
    text = (await readBody(body, MAX_ERROR_BODY)).toString('utf8');
  } catch (err) {
    // the call's timeout or signal (the body is destroyed with its AbortError) ends it as elsewhere
    if (err instanceof AbortError) throw err;
    // else the status says enough
  }
  return errorFromAnswer(statusCode, headers, text, operationId);
}

/** The right DockerError for an error answer whose body (at most MAX_ERROR_BODY bytes) is `text`. */
export function errorFromAnswer(statusCode: number, headers: Record<string, string | string[] | undefined>, text: string, operationId: string): DockerError {
  if (statusCode >= 300 && statusCode < 400) {
    const location = headers.location ? ` to ${String(headers.location)}` : '';
    return errorFromStatus(statusCode, `${operationId}: the engine redirected${location}; dockhand never follows redirects (a malformed name or id?)`, operationId);
  }
  return errorFromStatus(statusCode, errorMessage(statusCode, text), operationId);
}
