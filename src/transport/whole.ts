/**
 * Answers read whole (JSON results, error messages): through the transport's own `requestWhole`
 * where it has one (undici: no stream is made), else by reading `request()`'s body.
 */
import { readBody } from '../request/response.js';
import type { Transport, TransportRequest, TransportResponse, WholeLimits, WholeResponse } from './types.js';

const EMPTY = Buffer.alloc(0);
const ignore = (): void => undefined;

/**
 * What reading an answer fails with once its status and headers came: the engine was reached, and
 * its answer was cut (`cause`: the socket's error), which is not "cannot reach the engine".
 */
export class CutAnswer extends Error {
  constructor(cause: unknown) {
    super('the connection failed in the middle of the answer', { cause });
    this.name = 'CutAnswer';
  }
}

/** Whether `limits` refuses a successful answer that announces `declared` bytes. */
export function announcedOver(declared: string | string[] | undefined, limits: WholeLimits): boolean {
  return typeof declared === 'string' && Number(declared) > limits.answer;
}

/** Whether a status is an error answer (its body is a message, kept up to `limits.error`). */
export function isErrorStatus(statusCode: number): boolean {
  return statusCode >= 300 && statusCode !== 304;
}

/**
 * Reads a response's body whole, within `limits` (see WholeLimits). `signal` (the request's)
 * ends the read too: the body is destroyed and the read rejects.
 */
export async function readWhole(res: TransportResponse, limits: WholeLimits, signal?: AbortSignal): Promise<WholeResponse> {
  const { statusCode, headers, body } = res;
  body.on('error', ignore);
  if (signal) {
    const onAbort = (): void => void body.destroy(new Error('the request was aborted'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    body.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  if (isErrorStatus(statusCode)) {
    // an error answer cut short still has its status (keep what came), unless the call was aborted
    const text = await readBody(body, limits.error).catch((err: unknown) => {
      if (signal?.aborted) throw err;
      return EMPTY;
    });
    return { statusCode, headers, body: text, over: false };
  }
  if (announcedOver(headers['content-length'], limits)) {
    body.destroy();
    return { statusCode, headers, body: EMPTY, over: true };
  }
  let over = false;
  let data: Buffer;
  try {
    data = await readBody(body, limits.answer, () => (over = true));
  } catch (err) {
    throw new CutAnswer(err);
  }
  return { statusCode, headers, body: data, over };
}

/** Sends `req` and reads its answer whole. */
export function wholeAnswer(transport: Transport, req: TransportRequest, limits: WholeLimits): Promise<WholeResponse> {
  return transport.requestWhole ? transport.requestWhole(req, limits) : transport.request(req).then((res) => readWhole(res, limits, req.signal));
}
