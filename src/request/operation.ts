/** The shape of one row of the generated operation table (src/generated/operations.ts). */

export type ParamLocation = 'path' | 'query' | 'header' | 'body';

/**
 * How the engine answers an operation:
 * - `json`: one JSON document; `empty`: no body; `text`: plain text; `head`: headers only;
 * - `jsonStream`: a stream of JSON messages; `multiplexed`: raw or 8-byte-header framed bytes;
 * - `tar`: an archive; `hijack`: the connection is taken over; `websocket`: a WebSocket upgrade.
 */
export type ResponseKind = 'json' | 'empty' | 'text' | 'head' | 'jsonStream' | 'multiplexed' | 'tar' | 'hijack' | 'websocket';

export interface ParamSpec {
  readonly name: string;
  readonly in: ParamLocation;
  /** string | integer | boolean | array; for body parameters: object (JSON) or binary (bytes). */
  readonly type: string;
  readonly required?: boolean;
  readonly items?: string;
  readonly collectionFormat?: string;
  readonly format?: string;
  readonly enum?: readonly (string | number | boolean)[];
  readonly default?: unknown;
  /** A query or header string the engine reads as JSON: objects are accepted and encoded. */
  readonly json?: boolean;
  /** A string the engine also reads as repeated keys: one value or a list of them. */
  readonly repeated?: boolean;
  /** First API version with this parameter. */
  readonly since: string;
  /** Last API version with this parameter, where a later version dropped it. */
  readonly until?: string;
}

export interface OperationSpec {
  readonly method: string;
  readonly path: string;
  readonly since: string;
  readonly until?: string;
  readonly response: ResponseKind;
  readonly statuses: readonly number[];
  /** Content-Type of the request body, when the operation takes one. */
  readonly contentType?: string;
  /** JSON body to send when the caller gives none (the engine fails on an empty one). */
  readonly bodyDefault?: unknown;
  readonly params: readonly ParamSpec[];
}
