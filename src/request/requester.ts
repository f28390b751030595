/**
 * The call pipeline shared by every operation: validate, settle the API version, gate by
 * version, encode, send, check the status, read the result by response kind.
 */
import { needsCredentials, withCredentials } from '../auth/apply.js';
import type { CredentialStore } from '../auth/credentials.js';
import { AbortError, ApiVersionError, DockerError, ValidationError } from '../errors.js';
import { connectionError, isConnectionFailure } from '../transport/connect-error.js';
import type { Transport, TransportRequest, TransportResponse, UpgradeResult } from '../transport/types.js';
import { negotiate, versionKey } from '../version.js';
import { encodeRequest } from './encode.js';
import type { PreparedOperation } from './prepare.js';
import { prepareOperation } from './prepare.js';
import { drain, errorFromResponse, normalizeHeaders, readText } from './response.js';
import type { CallOptions, HijackedConnection, ResponseStream } from './types.js';
import { checkRequired, validateParams } from './validate.js';
import { Duplex, type Readable } from 'node:stream';

const TIMEOUT = Symbol('dockhand.timeout');

export class Requester {
  private version: string | undefined;
  private negotiating: Promise<string> | undefined;

  constructor(
    readonly transport: Transport,
    pinnedVersion: string | undefined,
    private readonly defaultTimeout: number | undefined,
    private readonly credentials?: CredentialStore,
  ) {
    this.version = pinnedVersion;
  }

  /** The API version in use; negotiated once with the engine unless pinned. */
  apiVersion(options?: CallOptions): Promise<string> {
    if (this.version) return Promise.resolve(this.version);
    if (!this.negotiating) {
      this.negotiating = this.negotiate(options).then(
        (v) => (this.version = v),
        (err: unknown) => {
          this.negotiating = undefined; // a later call tries again
          throw err;
        },
      );
    }
    return this.negotiating;
  }

  private async negotiate(options?: CallOptions): Promise<string> {
    const res = await this.send('SystemPing', { method: 'GET', path: '/_ping', headers: {} }, options, false);
    const header = res.headers['api-version'];
    const engine = Array.isArray(header) ? header[0] : header;
    if (!engine && res.statusCode >= 400) throw await errorFromResponse(res.statusCode, res.headers, res.body, 'SystemPing');
    await drain(res.body).catch(() => undefined);
    return negotiate(engine);
  }

  async call(name: string, rawParams: unknown, options?: CallOptions): Promise<unknown> {
    const op = prepareOperation(name);
    if (needsCredentials(op.id) && typeof rawParams === 'object' && rawParams !== null) {
      rawParams = await withCredentials(op.id, rawParams as Record<string, unknown>, this.credentials);
    }
    const params = validateParams(op, rawParams);
    const version = this.version ?? (await this.apiVersion(options));
    this.gate(op, params, version);
    checkRequired(op, params, versionKey(version));
    const encoded = encodeRequest(op, version, params);
    if (options?.headers) addHeaders(op.id, encoded.headers, options.headers);
    const req: TransportRequest = { method: op.spec.method, path: encoded.path, headers: encoded.headers, body: encoded.body };
    const kind = op.spec.response;
    if (kind === 'hijack' || kind === 'websocket') {
      const detached = op.id === 'ExecStart' && (params.execStartConfig as { Detach?: boolean } | undefined)?.Detach === true;
      if (!detached) return this.hijack(op, req, options);
    }
    const streaming = kind === 'jsonStream' || kind === 'multiplexed' || kind === 'tar';
    const res = await this.send(op.id, req, options, !streaming);
    return this.result(op, res, req.signal);
  }

  /** Refuses an operation or parameter that the API version in use does not have. */
  private gate(op: PreparedOperation, params: Record<string, unknown>, version: string): void {
    const v = versionKey(version);
    if (v < op.since || v > op.until) {
      const required = v < op.since ? `>= ${op.spec.since}` : `<= ${op.spec.until}`;
      throw new ApiVersionError(`${op.id} requires API ${required}; the API version in use is ${version}`, { operationId: op.id, required, current: version });
    }
    if (op.versioned.size === 0) return;
    for (const name in params) {
      const range = op.versioned.get(name);
      if (!range || params[name] === undefined) continue;
      if (v < range.since || v > range.until) {
        const p = op.params.get(name)!;
        const required = v < range.since ? `>= ${p.since}` : `<= ${p.until}`;
        throw new ApiVersionError(`${op.id}: parameter "${name}" requires API ${required}; the API version in use is ${version}`, {
          operationId: op.id,
          parameter: name,
          required,
          current: version,
        });
      }
    }
  }

  /**
   * Sends one request with the caller's signal and timeout. The timeout covers the whole body
   * when `wholeBody` (JSON results), else only until the response starts (streams). Aborting
   * after the response started destroys its body with AbortError, whichever transport is used.
   */
  private async send(operationId: string, req: TransportRequest, options: CallOptions | undefined, wholeBody: boolean): Promise<TransportResponse> {
    const signal = options?.signal;
    const timeout = options?.timeout ?? this.defaultTimeout;
    if (signal?.aborted) throw abortError(operationId, signal.reason);
    const timed = timeout !== undefined && timeout > 0;
    if (!signal && !timed) return this.transport.request(req).catch((err: unknown) => Promise.reject(this.failure(operationId, err, undefined)));
    const controller = new AbortController();
    req.signal = controller.signal;
    let body: Readable | undefined;
    let timer: NodeJS.Timeout | undefined;
    const abort = (reason: unknown): void => {
      body?.destroy(abortError(operationId, reason));
      controller.abort(reason);
    };
    const onAbort = (): void => abort(signal!.reason);
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timed) timer = setTimeout(() => abort(TIMEOUT), timeout);
    try {
      const res = await this.transport.request(req);
      body = res.body;
      if (!wholeBody && timer) clearTimeout(timer);
      res.body.once('close', cleanup);
      return res;
    } catch (err) {
      cleanup();
      throw this.failure(operationId, err, controller.signal);
    }
  }

  private failure(operationId: string, err: unknown, signal: AbortSignal | undefined): Error {
    if (err instanceof DockerError) return err;
    if (signal?.aborted) return abortError(operationId, signal.reason, err);
    if (isConnectionFailure(err)) return connectionError(err, this.transport.address, operationId);
    return new DockerError(`${operationId}: ${(err as Error)?.message ?? String(err)}`, { code: 'REQUEST_FAILED', operationId, cause: err });
  }

  private async result(op: PreparedOperation, res: TransportResponse, signal: AbortSignal | undefined): Promise<unknown> {
    const status = res.statusCode;
    if (status >= 300 && status !== 304) throw await errorFromResponse(status, res.headers, res.body, op.id);
    const kind = op.spec.response;
    try {
      switch (kind) {
        case 'json': {
          if (status === 204 || status === 304) {
            await drain(res.body);
            return undefined;
          }
          const text = await readText(res.body);
          return text.length === 0 ? undefined : JSON.parse(text);
        }
        case 'text':
          return readText(res.body);
        case 'head':
          await drain(res.body);
          return normalizeHeaders(res.headers);
        case 'jsonStream':
        case 'multiplexed':
        case 'tar':
          return asResponseStream(res);
        default:
          await drain(res.body);
          return op.spec.statuses.includes(304) ? { notModified: status === 304 } : undefined;
      }
    } catch (err) {
      if (err instanceof SyntaxError) {
        throw new DockerError(`${op.id}: the engine's answer is not valid JSON (${err.message})`, { code: 'BAD_RESPONSE', operationId: op.id, statusCode: status, cause: err });
      }
      throw this.failure(op.id, err, signal);
    }
  }

  private async hijack(op: PreparedOperation, req: TransportRequest, options: CallOptions | undefined): Promise<HijackedConnection> {
    if (op.spec.response === 'websocket') {
      req.headers = { ...req.headers, upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64') };
    }
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(op.id, signal.reason);
    const timeout = options?.timeout ?? this.defaultTimeout;
    let timer: NodeJS.Timeout | undefined;
    let controller: AbortController | undefined;
    if (timeout !== undefined && timeout > 0) {
      controller = new AbortController();
      const c = controller;
      timer = setTimeout(() => c.abort(TIMEOUT), timeout);
    }
    // The timeout covers the handshake only; the caller's signal covers the connection's life.
    const handshake = controller ? (signal ? AbortSignal.any([signal, controller.signal]) : controller.signal) : signal;
    let result: UpgradeResult | TransportResponse;
    try {
      result = await this.transport.upgrade({ ...req, signal: handshake });
    } catch (err) {
      throw this.failure(op.id, err, handshake);
    } finally {
      if (timer) clearTimeout(timer);
    }
    if ('socket' in result) {
      if (signal) {
        const socket = result.socket;
        const onAbort = (): void => void socket.destroy(abortError(op.id, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      return Object.assign(result.socket, { statusCode: result.statusCode, headers: normalizeHeaders(result.headers) }) as unknown as HijackedConnection;
    }
    if (result.statusCode >= 300) throw await errorFromResponse(result.statusCode, result.headers, result.body, op.id);
    // An engine that answers 200 streams on the same connection: read the body, write the socket.
    const body = result.body as TransportResponse['body'] & { socket?: import('node:net').Socket };
    const duplex = Duplex.from({ readable: body, writable: body.socket! });
    return Object.assign(duplex, { statusCode: result.statusCode, headers: normalizeHeaders(result.headers) }) as HijackedConnection;
  }
}

function addHeaders(operationId: string, into: Record<string, string>, extra: Record<string, string>): void {
  for (const [name, value] of Object.entries(extra)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || typeof value !== 'string' || /[\r\n\0]/.test(value)) {
      throw new ValidationError(`${operationId}: header ${JSON.stringify(name)} has an invalid name or value (CR, LF and NUL are refused)`, { operationId, parameter: name });
    }
    into[name.toLowerCase()] = value;
  }
}

function abortError(operationId: string, reason: unknown, cause?: unknown): AbortError {
  if (reason === TIMEOUT) return new AbortError(`${operationId}: timed out`, { operationId, timedOut: true, cause });
  return new AbortError(`${operationId}: aborted`, { operationId, cause: cause ?? reason });
}

function asResponseStream(res: TransportResponse): ResponseStream {
  const headers = normalizeHeaders(res.headers);
  Object.defineProperty(res.body, 'statusCode', { value: res.statusCode, configurable: true, enumerable: false, writable: false });
  Object.defineProperty(res.body, 'headers', { value: headers, configurable: true, enumerable: false, writable: false });
  return res.body as ResponseStream;
}
