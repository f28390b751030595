import type { Duplex, Readable } from 'node:stream';

/** Per-call options, accepted by every method. */
export interface CallOptions {
  /** Cancels the call; for streams, also closes the stream and its connection. */
  signal?: AbortSignal;
  /**
   * Milliseconds until the call gives up with an AbortError. For JSON results this covers the
   * whole response; for streams and hijacked connections, only until the response starts, so a
   * followed log or an attach is never cut by it.
   */
  timeout?: number;
  /**
   * For streams and hijacked connections: milliseconds without a byte from the engine after which
   * the stream fails with an AbortError (`code: 'TIMEOUT'`). Off by default (a followed log or an
   * attach may be quiet for hours).
   */
  idleTimeout?: number;
  /** Extra request headers (names are sent in lower case; values with CR or LF are refused). */
  headers?: Record<string, string>;
}

/** `filters` as the engine reads them: a value, a list of values, or a map of value -> true. */
export type Filters = Record<string, string | readonly string[] | Record<string, boolean>>;

/** Response headers, names in lower case. */
export type ResponseHeaders = Record<string, string>;

/** A streamed response body whose HTTP status was already checked. */
export interface ResponseStream extends Readable {
  readonly statusCode: number;
  readonly headers: ResponseHeaders;
}

/** A connection the engine took over (attach, exec start, session): write stdin, read output. */
export interface HijackedConnection extends Duplex {
  readonly statusCode: number;
  readonly headers: ResponseHeaders;
}

/** Result of operations the engine may answer with 304 (start an already started container, ...). */
export interface StateChange {
  /** True when the engine answered 304: the object was already in the requested state. */
  readonly notModified: boolean;
}

/** A request body for uploads (tar archives, image imports). */
export type UploadBody = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array>;

/**
 * Registry credentials as the engine reads them (X-Registry-Auth, SystemAuth): the spec's
 * AuthConfig plus the token fields the engine also accepts.
 */
export interface RegistryAuth {
  username?: string;
  password?: string;
  serveraddress?: string;
  /** A refresh token from an earlier login (SystemAuth's IdentityToken). */
  identitytoken?: string;
  /** A bearer token for the registry. */
  registrytoken?: string;
  email?: string;
}
