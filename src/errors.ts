/**
 * dockhand's errors. Branch on the class or on `code`, never on the message text.
 * Errors never carry request headers or bodies, so credentials cannot leak through them.
 */

/**
 * Every `code` a DockerError can have, one list (README.md's error table lists each). Codes of
 * other statuses than the mapped ones are `HTTP_<status>`, e.g. `HTTP_418`.
 */
export const DOCKER_ERROR_CODES = [
  'DOCKER_ERROR',
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'SERVER_ERROR',
  'UNEXPECTED_REDIRECT',
  'CONNECTION',
  'API_VERSION',
  'VALIDATION',
  'ABORTED',
  'TIMEOUT',
  'CLOSED',
  'REQUEST_FAILED',
  'UPLOAD_FAILED',
  'BAD_RESPONSE',
  'BODY_TOO_LARGE',
  'STREAM_ERROR',
  'STREAM_FORMAT',
  'STREAM_FAILED',
  'STREAM_TRUNCATED',
  'STREAM_CONSUMED',
  'BUILD_CONTEXT',
  'FILE_CHANGED',
  'UNSAFE_ARCHIVE',
  'COPY_CONFLICT',
  'CREDENTIAL_HELPER',
  'CREDENTIALS_NOT_FOUND',
  'WAIT_TIMEOUT',
  'CONTAINER_EXITED',
  'NO_HEALTHCHECK',
  'LOCAL_IO',
  'BUILDKIT_UNAVAILABLE',
  'BUILDKIT_SESSION',
  'SERVICE_NOT_CONVERGED',
] as const;

/** A DockerError's `code`: one of DOCKER_ERROR_CODES, or `HTTP_<status>` for an unmapped status. */
export type DockerErrorCode = (typeof DOCKER_ERROR_CODES)[number] | `HTTP_${number}`;

/** Longest `message` kept; the rest is cut (an engine may send a 1 MiB error message). */
export const MAX_ERROR_MESSAGE = 4096;

/** The message, cut to MAX_ERROR_MESSAGE characters (never inside a surrogate pair) with a note of what was cut. */
function capMessage(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE) return message;
  let keep = MAX_ERROR_MESSAGE;
  const last = message.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep--;
  return `${message.slice(0, keep)}… (${message.length - keep} more characters)`;
}

/**
 * Names of parameters and options whose values are credentials (passwords, tokens, auth headers,
 * secrets): an error names them but never shows their value.
 */
const SECRET_NAME = /pass(?:word|phrase)?|auth(?!or)|token|secret|credential|x-registry|unlock.?key|private.?key/i;

/** True for a parameter or option name whose value must never appear in an error. */
export function isSecretName(name: string | undefined): boolean {
  return name !== undefined && SECRET_NAME.test(name);
}

const SHOWN_STRING = 64;

/**
 * A value as error messages show it: the one way errors echo a value. Objects and arrays by their
 * kind only; short primitives with their value, unless `secret`, when only the type is said.
 */
export function describeValue(value: unknown, secret = false): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'a Buffer';
  const type = typeof value;
  if (type === 'object') return 'an object';
  if (type === 'function') return 'a function';
  if (type === 'symbol') return 'a symbol';
  if (secret && type !== 'boolean') return `a ${type} (value not shown)`;
  if (type === 'string') {
    const s = value as string;
    return `string ${JSON.stringify(s.length > SHOWN_STRING ? `${s.slice(0, SHOWN_STRING)}…` : s)}`;
  }
  return `${type} ${String(value)}`;
}

/** A URL as errors show it: a password in its user info (`user:password@`) becomes `***`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/]*@/i, '$1:***@');
}

export interface DockerErrorDetails {
  code?: DockerErrorCode;
  statusCode?: number;
  operationId?: string;
  cause?: unknown;
}

export class DockerError extends Error {
  // `declare`: set once in the constructor, not defined first as undefined by a field initializer
  // (errors are made on every refused call: half the properties to write is measurably cheaper).
  // Own properties and their order are as they were: code, statusCode, operationId, name.
  /** Stable machine-readable code, e.g. `NOT_FOUND`, `CONFLICT`, `CONNECTION` (see DOCKER_ERROR_CODES). */
  declare readonly code: DockerErrorCode;
  /** HTTP status of the engine's answer, when there was one. */
  declare readonly statusCode: number | undefined;
  /** The operation that failed, e.g. `ContainerInspect`. */
  declare readonly operationId: string | undefined;

  /** A message longer than MAX_ERROR_MESSAGE characters is cut, with a note of how much was. */
  constructor(message: string, details: DockerErrorDetails = {}) {
    super(capMessage(typeof message === 'string' ? message : String(message)), details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code ?? 'DOCKER_ERROR';
    this.statusCode = details.statusCode;
    this.operationId = details.operationId;
    this.name = new.target.name;
  }
}

type Details = Omit<DockerErrorDetails, 'code'>;

/** `details` with `code`: what a subclass passes up (a fixed-shape object, cheaper than a spread). */
function coded(details: Details, code: DockerErrorCode): DockerErrorDetails {
  return { code, statusCode: details.statusCode, operationId: details.operationId, cause: details.cause };
}

/** 400: the engine rejected the request. */
export class BadRequestError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, coded(details, 'BAD_REQUEST'));
  }
}
/** 401: missing or wrong credentials. */
export class UnauthorizedError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, coded(details, 'UNAUTHORIZED'));
  }
}
/** 403: not allowed. */
export class ForbiddenError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, coded(details, 'FORBIDDEN'));
  }
}
/** 404: no such container, image, network, ... */
export class NotFoundError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, coded(details, 'NOT_FOUND'));
  }
}
/** 409: the object's state forbids it (name in use, container running, ...). */
export class ConflictError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, coded(details, 'CONFLICT'));
  }
}
/** 5xx: the engine failed. */
export class ServerError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, coded(details, 'SERVER_ERROR'));
  }
}

/** One place tried while looking for the engine, and what happened there. */
export interface ConnectionAttempt {
  address: string;
  /** Why it was tried: `default socket`, `rootless socket`, ... */
  source: string;
  error: string;
}

/** The engine could not be reached: no such socket, connection refused, TLS failure, ... */
export class ConnectionError extends DockerError {
  /** The address that was tried (the first one, when several were). */
  readonly address: string;
  /** The system's error code (ENOENT, ECONNREFUSED, ...), when there was one. */
  readonly reason: string | undefined;
  /** Every place tried, when dockhand looked for the engine in the usual places. */
  readonly attempts: readonly ConnectionAttempt[];
  constructor(message: string, details: Details & { address: string; reason?: string; attempts?: ConnectionAttempt[] }) {
    super(message, { ...details, code: 'CONNECTION' });
    this.address = details.address;
    this.reason = details.reason;
    this.attempts = details.attempts ?? [];
  }
}

/** The operation or parameter does not exist in the API version in use (or the engine's). */
export class ApiVersionError extends DockerError {
  /** The version the operation or parameter needs, e.g. `>= 1.30`. */
  readonly required: string | undefined;
  /** The API version in use. */
  readonly current: string | undefined;
  /** The parameter concerned, when it is a parameter and not the whole operation. */
  readonly parameter: string | undefined;
  constructor(message: string, details: Details & { required?: string; current?: string; parameter?: string } = {}) {
    super(message, { ...details, code: 'API_VERSION' });
    this.required = details.required;
    this.current = details.current;
    this.parameter = details.parameter;
  }
}

/** The call's input is wrong; nothing was sent. */
export class ValidationError extends DockerError {
  /** The parameter at fault (or the option, for client options). */
  readonly parameter: string | undefined;
  constructor(message: string, details: Details & { parameter?: string } = {}) {
    super(message, { ...details, code: 'VALIDATION' });
    this.parameter = details.parameter;
  }
}

/** The call was cancelled by its AbortSignal or ran out of time (`timedOut`). */
export class AbortError extends DockerError {
  readonly timedOut: boolean;
  constructor(message: string, details: Details & { timedOut?: boolean } = {}) {
    super(message, { ...details, code: details.timedOut ? 'TIMEOUT' : 'ABORTED' });
    this.timedOut = details.timedOut ?? false;
  }
}

const byStatus: Record<number, new (message: string, details?: Details) => DockerError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
};

const TOO_OLD = /client version (\S+) is too old\. Minimum supported API version is (\S+?)[,.]?(?:\s|$)/i;
const TOO_NEW = /client version (\S+) is too new\. Maximum supported API version is (\S+?)[,.]?(?:\s|$)/i;

/** Maps an engine error answer to its error class. */
export function errorFromStatus(statusCode: number, message: string, operationId?: string): DockerError {
  const details = { statusCode, operationId };
  const old = TOO_OLD.exec(message);
  if (old) return new ApiVersionError(message, { ...details, current: old[1], required: `>= ${old[2]}` });
  const young = TOO_NEW.exec(message);
  if (young) return new ApiVersionError(message, { ...details, current: young[1], required: `<= ${young[2]}` });
  const Cls = byStatus[statusCode];
  if (Cls) return new Cls(message, details);
  if (statusCode >= 500) return new ServerError(message, details);
  if (statusCode >= 300 && statusCode < 400) return new DockerError(message, { ...details, code: 'UNEXPECTED_REDIRECT' });
  return new DockerError(message, { ...details, code: `HTTP_${statusCode}` });
}
