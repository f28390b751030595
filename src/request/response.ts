/** Reads the engine's answers: bodies, error messages (capped at 1 MiB), headers. */
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { DockerError, errorFromStatus } from '../errors.js';
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

/**
 * A JSON (or text) answer as text, at most `max` bytes: a larger one fails with BODY_TOO_LARGE
 * and its connection is closed. Read from the stream's events, whatever the transport: undici's
 * own `text()` costs more per call (measured: bench/README.md). As `text()` did, a leading UTF-8
 * BOM is skipped in undici's answers of known length.
 */
export async function readJsonText(body: Readable, headers: Record<string, string | string[] | undefined>, max: number, operationId: string): Promise<string> {
  const declared = headers['content-length'];
  const length = typeof declared === 'string' ? Number(declared) : NaN;
  if (length > max) {
    body.destroy();
    throw tooLarge(operationId, max, `${length} bytes announced`);
  }
  let over = false;
  const buf = await readBody(body, max + 1, () => (over = true));
  if (over) throw tooLarge(operationId, max, 'more was sent');
  const bom = length >= 0 && buf.length > 2 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf && typeof (body as Readable & { text?: unknown }).text === 'function';
  return buf.toString('utf8', bom ? 3 : 0);
}

function tooLarge(operationId: string, max: number, what: string): DockerError {
  return new DockerError(`${operationId}: the engine's answer is larger than maxJsonBody (${max} bytes; ${what})`, { code: 'BODY_TOO_LARGE', operationId });
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
  } catch {
    // the status says enough
  }
  if (statusCode >= 300 && statusCode < 400) {
    const location = headers.location ? ` to ${String(headers.location)}` : '';
    return errorFromStatus(statusCode, `${operationId}: the engine redirected${location}; dockhand never follows redirects (a malformed name or id?)`, operationId);
  }
  return errorFromStatus(statusCode, errorMessage(statusCode, text), operationId);
}
