/** Encodes parameters the way the engine reads them: path, query string, headers, body. */
import { Readable } from 'node:stream';
import type { RequestBody } from '../transport/types.js';
import type { ParamSpec } from './operation.js';
import type { PreparedOperation } from './prepare.js';

/** Percent-encodes a path parameter, `/` included: `../images/json` stays inside its segment. */
export function encodePathSegment(value: string): string {
  // Ids and plain names need no encoding: skip the work on the hot path.
  return SAFE_SEGMENT.test(value) ? value : encodeURIComponent(value);
}

const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/** Filters: a single value becomes a one-item list, as the engine wants `map[string][]string`. */
export function normalizeFilters(filters: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(filters)) {
    if (v === undefined) continue;
    out[k] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? [String(v)] : v;
  }
  return out;
}

function jsonValue(p: ParamSpec, value: object): string {
  return JSON.stringify(p.name === 'filters' && !Array.isArray(value) ? normalizeFilters(value as Record<string, unknown>) : value);
}

function queryValue(p: ParamSpec, value: unknown): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'object' && value !== null) return jsonValue(p, value);
  return String(value);
}

/** The auth header value: base64url with padding (the engine's decoder requires it). */
export function encodeAuthHeader(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export interface EncodedRequest {
  path: string;
  headers: Record<string, string>;
  body: RequestBody | undefined;
}

export function encodeRequest(op: PreparedOperation, version: string, params: Record<string, unknown>): EncodedRequest {
  const pieces = op.pathPieces;
  let path = `/v${version}${pieces[0]}`;
  for (let i = 0; i < op.pathNames.length; i++) {
    path += encodePathSegment(params[op.pathNames[i]!] as string) + pieces[i + 1];
  }
  let query = '';
  const headers: Record<string, string> = {};
  let body: RequestBody | undefined;
  for (const name in params) {
    const value = params[name];
    if (value === undefined) continue;
    const p = op.params.get(name);
    // Every own key was validated: one that is no parameter is inherited (Object.prototype polluted).
    if (p === undefined) continue;
    switch (p.in) {
      case 'query': {
        const key = encodeURIComponent(name);
        // The engine reads every list parameter as repeated keys (r.Form[name]).
        if (Array.isArray(value) && (p.type === 'array' || p.repeated)) {
          for (const v of value) query += `${query ? '&' : '?'}${key}=${encodeURIComponent(String(v))}`;
        } else {
          query += `${query ? '&' : '?'}${key}=${encodeURIComponent(queryValue(p, value))}`;
        }
        break;
      }
      case 'header':
        headers[name.toLowerCase()] = typeof value === 'string' ? value : encodeAuthHeader(value as object);
        break;
      case 'body':
        if (p.type === 'binary') {
          body = value as RequestBody;
        } else {
          body = JSON.stringify(value);
        }
        break;
      default:
        break;
    }
  }
  if (body === undefined && op.spec.bodyDefault !== undefined) body = JSON.stringify(op.spec.bodyDefault);
  if (body !== undefined && op.spec.contentType && headers['content-type'] === undefined) {
    headers['content-type'] = op.spec.contentType;
  }
  return { path: path + query, headers, body };
}

export function isStreamBody(body: unknown): boolean {
  return body instanceof Readable || (typeof body === 'object' && body !== null && !(body instanceof Uint8Array) && Symbol.asyncIterator in body);
}
