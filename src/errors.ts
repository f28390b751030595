/**
 * dockhand's errors. Branch on the class or on `code`, never on the message text.
 * Errors never carry request headers or bodies, so credentials cannot leak through them.
 */

export interface DockerErrorDetails {
  code?: string;
  statusCode?: number;
  operationId?: string;
  cause?: unknown;
}

export class DockerError extends Error {
  /** Stable machine-readable code, e.g. `NOT_FOUND`, `CONFLICT`, `CONNECTION`. */
  readonly code: string;
  /** HTTP status of the engine's answer, when there was one. */
  readonly statusCode: number | undefined;
  /** The operation that failed, e.g. `ContainerInspect`. */
  readonly operationId: string | undefined;

  constructor(message: string, details: DockerErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code ?? 'DOCKER_ERROR';
    this.statusCode = details.statusCode;
    this.operationId = details.operationId;
  }
}

type Details = Omit<DockerErrorDetails, 'code'>;

/** 400: the engine rejected the request. */
export class BadRequestError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, { ...details, code: 'BAD_REQUEST' });
  }
}
/** 401: missing or wrong credentials. */
export class UnauthorizedError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, { ...details, code: 'UNAUTHORIZED' });
  }
}
/** 403: not allowed. */
export class ForbiddenError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, { ...details, code: 'FORBIDDEN' });
  }
}
/** 404: no such container, image, network, ... */
export class NotFoundError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, { ...details, code: 'NOT_FOUND' });
  }
}
/** 409: the object's state forbids it (name in use, container running, ...). */
export class ConflictError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, { ...details, code: 'CONFLICT' });
  }
}
/** 5xx: the engine failed. */
export class ServerError extends DockerError {
  constructor(message: string, details: Details = {}) {
    super(message, { ...details, code: 'SERVER_ERROR' });
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
