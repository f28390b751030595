/**
 * The call pipeline shared by every operation: validate, settle the API version, gate by
 * version, encode, send, check the status, read the result by response kind.
 */
import { needsCredentials, withCredentials } from '../auth/apply.js';
import type { CredentialStore } from '../auth/credentials.js';
import { ApiVersionError, ConnectionError, DockerError, ValidationError } from '../errors.js';
import { connectionError, isConnectionFailure } from '../transport/connect-error.js';
import type { Transport, TransportRequest, TransportResponse, UpgradeResult, WholeLimits, WholeResponse } from '../transport/types.js';
import { CutAnswer, isErrorStatus, readWhole, wholeAnswer } from '../transport/whole.js';
import { negotiate, versionKey } from '../version.js';
import { encodeRequest } from './encode.js';
import type { PreparedOperation } from './prepare.js';
import { prepareOperation } from './prepare.js';
import { validateCallOptions } from '../config/options.js';
import { streamFailure, whatHappened } from '../streams/failure.js';
import { fromPodman } from '../streams/frames.js';
import { abortError, deadline, IdleTimeout, TIMEOUT } from './abort.js';
import { PODMAN_RESULTS, podmanParams, podmanResult } from './podman.js';
import { drain, errorFromAnswer, errorFromResponse, MAX_ERROR_BODY, normalizeHeaders } from './response.js';
import type { CallOptions, HijackedConnection, ResponseStream } from './types.js';
import { checkRequired, validateParams } from './validate.js';
import { validateBody } from './validate-body.js';
import { Duplex, Readable } from 'node:stream';

/** Parameters dockhand fills in after validation (from the credential store). */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['X-Registry-Auth', 'X-Registry-Config']);

/**
 * Internal call option (a symbol, so no user sees or sets it by accident): query parameters the
 * API description lacks, e.g. the BuildKit session and build id of `/build` (src/buildkit).
 */
export const EXTRA_QUERY: unique symbol = Symbol.for('dockhand.extraQuery');

/** Calls whose answer may take as long as a container runs. */
const LONG_POLLS: ReadonlySet<string> = new Set(['ContainerWait']);

/** Largest JSON answer read by default: 64 MiB. */
export const DEFAULT_MAX_JSON_BODY = 64 * 1024 * 1024;

const ignore = (): void => undefined;

/** A response whose body has its 'error' listener from birth. */
function listened(res: TransportResponse): TransportResponse {
  res.body.on('error', ignore);
  return res;
}

/**
 * Makes the error a stream is destroyed with (a reset or cut connection, undici's abort, an idle
 * timeout) a dockhand error with the original as `cause`, as the helpers' streams do: the caller of
 * a raw `docker.api.*` stream sees STREAM_FAILED, ABORTED or TIMEOUT, never a bare socket error.
 * Hooked into the stream's own `_destroy`, so the one 'error' event it emits carries it.
 */
function typedErrors(body: Readable, operationId: string, signal: AbortSignal | undefined): void {
  const stream = body as Readable & { _destroy(err: Error | null, cb: (err?: Error | null) => void): void };
  const destroy = stream._destroy;
  stream._destroy = function (this: Readable, err, cb) {
    destroy.call(this, err, (e) => cb(e ? streamFailure(e, operationId, signal) : e));
  };
}

/** Something `close()` ends: an open response stream or a hijacked connection. */
interface Closable {
  destroy(error?: Error): unknown;
  once(event: 'close', listener: () => void): unknown;
}

/** A request body stream, watched from birth so its failure is reported as the call's. */
interface Upload {
  readonly stream: Readable;
  error: unknown;
}

export interface RequesterOptions {
  defaultTimeout?: number | undefined;
  credentials?: CredentialStore | undefined;
  maxJsonBody?: number | undefined;
  /** `full` (default): parameters and JSON bodies, recursively; `params`: top-level parameters only. */
  validate?: 'full' | 'params' | undefined;
}

export class Requester {
  private version: string | undefined;
  private negotiating: Promise<string> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Known once a /_ping was answered. */
  private podman: boolean | undefined;
  /** Open response streams and hijacked connections: `close()` ends them. */
  private readonly open = new Set<Closable>();
  private readonly defaultTimeout: number | undefined;
  private readonly credentials: CredentialStore | undefined;
  private readonly maxJsonBody: number;
  /** What answers read whole keep: JSON results up to maxJsonBody, error messages up to 1 MiB. */
  private readonly limits: WholeLimits;
  private readonly fullValidation: boolean;

  constructor(
    readonly transport: Transport,
    pinnedVersion: string | undefined,
    options: RequesterOptions = {},
  ) {
    this.version = pinnedVersion;
    this.defaultTimeout = options.defaultTimeout;
    this.credentials = options.credentials;
    this.maxJsonBody = options.maxJsonBody ?? DEFAULT_MAX_JSON_BODY;
    this.limits = { answer: this.maxJsonBody, error: MAX_ERROR_BODY };
    this.fullValidation = options.validate !== 'params';
  }

  /**
   * Ends every open stream and hijacked connection with a DockerError `CLOSED`, fails calls in
   * flight the same way, and closes the transport's connections. Later calls fail with CLOSED.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    for (const s of [...this.open]) s.destroy(closedError(undefined));
    this.open.clear();
    this.closing = this.transport.close();
    return this.closing;
  }

  /** Tracks an open stream until it closes, so `close()` can end it. */
  private track(s: Closable): void {
    this.open.add(s);
    s.once('close', () => this.open.delete(s));
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

  /** Whether the engine is Podman: from the negotiation's /_ping, or one of its own. */
  async isPodman(options?: CallOptions): Promise<boolean> {
    if (this.podman !== undefined) return this.podman;
    const res = await this.send('SystemPing', { method: 'GET', path: '/_ping', headers: {} }, options, false);
    await drain(res.body).catch(ignore);
    return (this.podman = fromPodman(normalizeHeaders(res.headers)));
  }

  private async negotiate(options?: CallOptions): Promise<string> {
    const res = await this.send('SystemPing', { method: 'GET', path: '/_ping', headers: {} }, options, false);
    this.podman = fromPodman(normalizeHeaders(res.headers));
    const header = res.headers['api-version'];
    const engine = Array.isArray(header) ? header[0] : header;
    if (!engine && res.statusCode >= 400) {
      // Every engine since API 1.25 answers /_ping with an API-Version header, even in error.
      const status = res.statusCode;
      await drain(res.body).catch(ignore);
      throw new ConnectionError(
        `${this.transport.address} is not a Docker engine: GET /_ping answered ${status} without an API-Version header`,
        { address: this.transport.address, reason: 'NOT_DOCKER', operationId: 'SystemPing', statusCode: status },
      );
    }
    await drain(res.body).catch(ignore);
    return negotiate(engine);
  }

  async call(name: string, rawParams: unknown, options?: CallOptions): Promise<unknown> {
    if (this.closed) throw closedError(name);
    const op = prepareOperation(name);
    if (options !== undefined) options = validateCallOptions(op.id, options);
    const credentialed = needsCredentials(op.id);
    // Everything is checked before anything is touched: no config file read, no helper run.
    let params = validateParams(op, rawParams, credentialed ? CREDENTIAL_HEADERS : undefined);
    const version = this.version ?? (await this.apiVersion(options));
    const v = versionKey(version);
    this.gate(op, params, version);
    // The body against the version in use, now that it is known; still before anything is sent.
    if (this.fullValidation && op.body) validateBody(op, params, version, v);
    if (credentialed) params = await withCredentials(op.id, params, this.credentials);
    checkRequired(op, params, v);
    const adjusted = podmanParams(op.id, params);
    if (adjusted !== params && (await this.isPodman(options))) params = adjusted;
    const encoded = encodeRequest(op, version, params);
    if (options?.headers) addHeaders(op.id, encoded.headers, options.headers);
    const extraQuery = (options as { [EXTRA_QUERY]?: Record<string, string> } | undefined)?.[EXTRA_QUERY];
    if (extraQuery) encoded.path += (encoded.path.includes('?') ? '&' : '?') + new URLSearchParams(extraQuery).toString();
    const upload = watchUpload(encoded.body);
    const req: TransportRequest = { method: op.spec.method, path: encoded.path, headers: encoded.headers, body: upload ? upload.stream : encoded.body };
    const kind = op.spec.response;
    if (kind === 'hijack' || kind === 'websocket') {
      const detached = op.id === 'ExecStart' && (params.execStartConfig as { Detach?: boolean } | undefined)?.Detach === true;
      if (!detached) return this.hijack(op, req, options, upload);
    }
    const streaming = kind === 'jsonStream' || kind === 'multiplexed' || kind === 'tar';
    // Streams, uploads and long polls hold a connection for long: counted apart (see types.ts).
    if (streaming || upload || LONG_POLLS.has(op.id)) req.stream = true;
    if (streaming && options?.idleTimeout) req.idleTimeout = options.idleTimeout;
    if (kind === 'json' || kind === 'text') {
      const answer = upload ? await this.sendUpload(op.id, req, options, upload) : await this.sendWhole(op.id, req, options);
      return await this.fromAnswer(op, answer);
    }
    const res = await this.send(op.id, req, options, !streaming, upload);
    // `return await`: a promise returned as it is costs an async function more ticks
    return await this.result(op, res, req.signal);
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
   * when `wholeBody` (JSON results), else only until the response starts (streams). A stream's
   * `idleTimeout` covers the wait for the response too: an engine may send nothing, not even its
   * headers, until there is output (Podman's followed logs of a silent container). Aborting
   * after the response started destroys its body with AbortError, whichever transport is used.
   * Every body gets an 'error' listener at once: an unread body that fails never crashes the
   * process (readers still see the error).
   */
  private send(operationId: string, req: TransportRequest, options: CallOptions | undefined, wholeBody: boolean, upload?: Upload): Promise<TransportResponse> {
    // The common call (no signal, timeout or upload) is one promise chain, without an async
    // function around it.
    if (upload === undefined && req.idleTimeout === undefined && options?.signal === undefined) {
      const timeout = options?.timeout ?? this.defaultTimeout;
      if (timeout === undefined || !(timeout > 0)) {
        return this.transport.request(req).then(listened, (err: unknown) => Promise.reject(this.failure(operationId, err, undefined)));
      }
    }
    return this.sendWatched(operationId, req, options, wholeBody, upload);
  }

  private async sendWatched(operationId: string, req: TransportRequest, options: CallOptions | undefined, wholeBody: boolean, upload?: Upload): Promise<TransportResponse> {
    const signal = options?.signal;
    const timeout = options?.timeout ?? this.defaultTimeout;
    if (signal?.aborted) {
      upload?.stream.destroy();
      throw abortError(operationId, signal.reason);
    }
    if (upload?.error !== undefined) throw this.failure(operationId, upload.error, undefined, upload);
    const timed = timeout !== undefined && timeout > 0;
    const idle = req.idleTimeout;
    if (!signal && !timed && !idle) {
      return this.transport.request(req).then(listened, (err: unknown) => Promise.reject(this.failure(operationId, err, undefined, upload)));
    }
    const controller = new AbortController();
    req.signal = controller.signal;
    let body: Readable | undefined;
    let timer: NodeJS.Timeout | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    const abort = (reason: unknown): void => {
      body?.destroy(abortError(operationId, reason));
      controller.abort(reason);
    };
    const onAbort = (): void => abort(signal!.reason);
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      if (idleTimer) clearTimeout(idleTimer);
      signal?.removeEventListener('abort', onAbort);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timed) timer = setTimeout(() => abort(TIMEOUT), timeout);
    if (idle) idleTimer = setTimeout(() => abort(new IdleTimeout(idle)), idle);
    try {
      const res = await this.transport.request(req);
      if (idleTimer) clearTimeout(idleTimer);
      body = res.body;
      body.on('error', ignore);
      if (!wholeBody && timer) clearTimeout(timer);
      body.once('close', cleanup);
      return res;
    } catch (err) {
      cleanup();
      throw this.failure(operationId, err, controller.signal, upload);
    }
  }

  /**
   * Sends a call whose answer is read whole (JSON, text): through the transport's `requestWhole`
   * where it has one (no stream made), with the caller's signal and timeout over all of it.
   */
  private sendWhole(operationId: string, req: TransportRequest, options: CallOptions | undefined): Promise<WholeResponse> {
    const timeout = options?.timeout ?? this.defaultTimeout;
    if (options?.signal === undefined && !(timeout !== undefined && timeout > 0)) {
      return wholeAnswer(this.transport, req, this.limits).then(undefined, (err: unknown) => Promise.reject(this.failure(operationId, err, undefined)));
    }
    return this.sendWholeWatched(operationId, req, options);
  }

  private async sendWholeWatched(operationId: string, req: TransportRequest, options: CallOptions | undefined): Promise<WholeResponse> {
    if (options?.signal?.aborted) throw abortError(operationId, options.signal.reason);
    const watch = deadline(options, this.defaultTimeout);
    req.signal = watch.signal;
    try {
      return await wholeAnswer(this.transport, req, this.limits);
    } catch (err) {
      throw this.failure(operationId, err, watch.signal);
    } finally {
      watch.done();
    }
  }

  /** A call with a streamed body whose answer is read whole (its upload watched, see `send`). */
  private async sendUpload(operationId: string, req: TransportRequest, options: CallOptions | undefined, upload: Upload): Promise<WholeResponse> {
    const res = await this.send(operationId, req, options, true, upload);
    try {
      return await readWhole(res, this.limits);
    } catch (err) {
      throw this.failure(operationId, err, req.signal);
    }
  }

  /** The result of an answer read whole: the engine's error, the text, or the parsed JSON. */
  private async fromAnswer(op: PreparedOperation, answer: WholeResponse): Promise<unknown> {
    const status = answer.statusCode;
    if (isErrorStatus(status)) throw errorFromAnswer(status, answer.headers, answer.body.toString('utf8'), op.id);
    if (answer.over) {
      const declared = answer.headers['content-length'];
      const what = typeof declared === 'string' && Number(declared) > this.maxJsonBody ? `${declared} bytes announced` : 'more was sent';
      throw new DockerError(`${op.id}: the engine's answer is larger than maxJsonBody (${this.maxJsonBody} bytes; ${what})`, { code: 'BODY_TOO_LARGE', operationId: op.id });
    }
    const body = answer.body;
    // a leading UTF-8 byte order mark is no part of the text (as TextDecoder reads it)
    const text = body.toString('utf8', body.length > 2 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0);
    if (op.spec.response === 'text') return text;
    if (status === 204 || status === 304 || text.length === 0) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw badJson(op.id, status, err as SyntaxError);
    }
    if (PODMAN_RESULTS.has(op.id)) {
      const fixed = podmanResult(op.id, value);
      if (fixed !== value && (await this.isPodman())) return fixed;
    }
    return value;
  }

  private failure(operationId: string, err: unknown, signal: AbortSignal | undefined, upload?: Upload): Error {
    if (upload) {
      upload.stream.destroy();
      if (upload.error !== undefined) return uploadFailed(operationId, upload.error);
    }
    if (err instanceof DockerError) return err;
    const cut = err instanceof CutAnswer;
    if (cut) err = (err as CutAnswer).cause;
    if (signal?.aborted) return abortError(operationId, signal.reason, err);
    if (this.closed) return closedError(operationId, err);
    // the engine was reached: an answer cut short is no connection failure
    if (cut) return new DockerError(`${operationId}: the request failed: ${whatHappened(err)}`, { code: 'REQUEST_FAILED', operationId, cause: err });
    if (isConnectionFailure(err)) return connectionError(err, this.transport.address, operationId);
    return new DockerError(`${operationId}: ${(err as Error)?.message ?? String(err)}`, { code: 'REQUEST_FAILED', operationId, cause: err });
  }

  private async result(op: PreparedOperation, res: TransportResponse, signal: AbortSignal | undefined): Promise<unknown> {
    const status = res.statusCode;
    if (status >= 300 && status !== 304) throw await errorFromResponse(status, res.headers, res.body, op.id);
    const kind = op.spec.response;
    try {
      switch (kind) {
        case 'head':
          await drain(res.body);
          return normalizeHeaders(res.headers);
        case 'jsonStream':
        case 'multiplexed':
        case 'tar':
          this.track(res.body);
          return asResponseStream(res, op.id, signal);
        default:
          await drain(res.body);
          return op.spec.statuses.includes(304) ? { notModified: status === 304 } : undefined;
      }
    } catch (err) {
      throw this.failure(op.id, err, signal);
    }
  }

  private async hijack(op: PreparedOperation, req: TransportRequest, options: CallOptions | undefined, upload: Upload | undefined): Promise<HijackedConnection> {
    if (op.spec.response === 'websocket') {
      req.headers = { ...req.headers, upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64') };
    }
    const signal = options?.signal;
    if (signal?.aborted) {
      upload?.stream.destroy();
      throw abortError(op.id, signal.reason);
    }
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
      result = await this.transport.upgrade({ ...req, signal: handshake, stream: true, ...(options?.idleTimeout ? { idleTimeout: options.idleTimeout } : {}) });
    } catch (err) {
      throw this.failure(op.id, err, handshake, upload);
    } finally {
      if (timer) clearTimeout(timer);
    }
    if ('socket' in result) {
      const socket = result.socket;
      socket.on('error', ignore);
      this.track(socket);
      if (signal) {
        const onAbort = (): void => void socket.destroy(abortError(op.id, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      return Object.assign(socket, { statusCode: result.statusCode, headers: normalizeHeaders(result.headers) }) as unknown as HijackedConnection;
    }
    result.body.on('error', ignore);
    if (result.statusCode >= 300) throw await errorFromResponse(result.statusCode, result.headers, result.body, op.id);
    if (result.statusCode === 101 || !(result.body as { socket?: unknown }).socket) {
      // A 101 without `Upgrade: tcp` (or a body with no connection under it) is no hijack.
      result.body.destroy();
      throw new DockerError(`${op.id}: the engine answered ${result.statusCode} but did not take over the connection`, { code: 'BAD_RESPONSE', operationId: op.id, statusCode: result.statusCode });
    }
    // An engine that answers 200 streams on the same connection: read the body, write the socket.
    const body = result.body as TransportResponse['body'] & { socket: import('node:net').Socket };
    const duplex = Duplex.from({ readable: body, writable: body.socket });
    duplex.on('error', ignore);
    body.socket.on('error', ignore);
    this.track(duplex);
    if (signal) {
      const onAbort = (): void => void duplex.destroy(abortError(op.id, signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      duplex.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return Object.assign(duplex, { statusCode: result.statusCode, headers: normalizeHeaders(result.headers) }) as HijackedConnection;
  }
}

/** An answer that is not JSON. V8's message quotes the text, which may hold a token (SystemAuth): only where it broke is kept. */
function badJson(operationId: string, statusCode: number, err: SyntaxError): DockerError {
  const where = /position \d+|line \d+ column \d+|Unexpected end of JSON input/.exec(err.message)?.[0];
  const cause = new SyntaxError(`not valid JSON${where ? ` (${where})` : ''}`);
  return new DockerError(`${operationId}: the engine's answer is not valid JSON${where ? ` (${where})` : ''}`, { code: 'BAD_RESPONSE', operationId, statusCode, cause });
}

function addHeaders(operationId: string, into: Record<string, string>, extra: Record<string, string>): void {
  for (const [name, value] of Object.entries(extra)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || typeof value !== 'string' || /[\r\n\0]/.test(value)) {
      throw new ValidationError(`${operationId}: header ${JSON.stringify(name)} has an invalid name or value (CR, LF and NUL are refused)`, { operationId, parameter: name });
    }
    into[name.toLowerCase()] = value;
  }
}

/** The DockerError of calls and streams ended by `close()`. */
function closedError(operationId: string | undefined, cause?: unknown): DockerError {
  return new DockerError(`${operationId ? `${operationId}: ` : ''}the client was closed`, { code: 'CLOSED', ...(operationId ? { operationId } : {}), ...(cause !== undefined ? { cause } : {}) });
}

function uploadFailed(operationId: string, cause: unknown): DockerError {
  return new DockerError(`${operationId}: the upload failed: ${(cause as Error)?.message ?? String(cause)}`, { code: 'UPLOAD_FAILED', operationId, cause });
}

/**
 * A streamed request body (Readable or AsyncIterable) gets an 'error' listener from birth: its
 * failure rejects the call with UPLOAD_FAILED instead of crashing the process.
 */
function watchUpload(body: TransportRequest['body']): Upload | undefined {
  if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) return undefined;
  const stream = body instanceof Readable ? body : Readable.from(body, { objectMode: false });
  const upload: Upload = { stream, error: undefined };
  stream.on('error', (err: unknown) => {
    upload.error ??= err;
  });
  return upload;
}

function asResponseStream(res: TransportResponse, operationId: string, signal: AbortSignal | undefined): ResponseStream {
  typedErrors(res.body, operationId, signal);
  const headers = normalizeHeaders(res.headers);
  Object.defineProperty(res.body, 'statusCode', { value: res.statusCode, configurable: true, enumerable: false, writable: false });
  Object.defineProperty(res.body, 'headers', { value: headers, configurable: true, enumerable: false, writable: false });
  return res.body as ResponseStream;
}
