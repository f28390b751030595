import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';

export type RequestBody = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array>;

export interface TransportRequest {
  method: string;
  /** Path and query, e.g. `/v1.41/containers/json?all=1`. */
  path: string;
  headers: Record<string, string>;
  body?: RequestBody | undefined;
  signal?: AbortSignal | undefined;
  /**
   * A streamed answer (logs, events, pulls, archives) or a hijack: served by connections
   * counted apart from ordinary calls, so long-lived streams never starve them.
   */
  stream?: boolean;
  /** Milliseconds without a byte after which the answer fails with AbortError (code TIMEOUT). */
  idleTimeout?: number;
}

export interface TransportResponse {
  statusCode: number;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export interface UpgradeResult {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  /** The taken-over connection (101), or the socket an older engine streams on after a 200. */
  socket: Socket;
}

/** How much of an answer `requestWhole` keeps. */
export interface WholeLimits {
  /**
   * Bytes of a successful answer (status below 300, or 304): one announced or sent larger is not
   * kept (`over` is set, `body` is empty) and its connection is closed.
   */
  answer: number;
  /** Bytes of an error answer (300 and up, but 304): the first ones are kept, the rest discarded. */
  error: number;
}

/** An answer read whole (see Transport.requestWhole). */
export interface WholeResponse {
  statusCode: number;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** A successful answer was larger than `WholeLimits.answer`: `body` is empty. */
  over: boolean;
}

/**
 * What dockhand needs from a connection to the engine. Injectable (DockerOptions.transport), so
 * unit tests can script answers an engine cannot be made to give on demand.
 */
export interface Transport {
  /** Where requests go, for messages: `unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`. */
  readonly address: string;
  request(req: TransportRequest): Promise<TransportResponse>;
  /**
   * Optional: sends an ordinary request (not a stream) and reads its whole answer, without making
   * a stream of it: cheaper per call. Without it, dockhand reads `request()`'s body (wholeAnswer).
   */
  requestWhole?(req: TransportRequest, limits: WholeLimits): Promise<WholeResponse>;
  /** Sends a request asking the engine to take over the connection (attach, exec start). */
  upgrade(req: TransportRequest): Promise<UpgradeResult | TransportResponse>;
  /** Closes every connection, in use or idle: requests in flight fail. */
  close(): Promise<void>;
}

/** Connection limits of a transport. */
export interface ConnectionLimits {
  /** Connections for ordinary calls; more calls wait in a queue. */
  maxConnections: number;
  /** Connections for streams and hijacks (counted apart); more wait in a queue. */
  maxStreams: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = { maxConnections: 64, maxStreams: 1024 };
