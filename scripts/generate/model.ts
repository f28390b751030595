/**
 * Reads every Engine API spec version and builds one model of all operations: for each operation
 * and each parameter, the first version that has it and, where one was dropped, the last.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bodyDefaults, jsonQueryParams, repeatedParams, responseKindOverrides, renamedOperations } from './names.js';
import type { Schema } from './schema-to-ts.js';
import { undocumentedOperations } from './undocumented.js';

export interface SpecFile {
  version: string;
  spec: Schema;
}

export interface ParamModel {
  name: string;
  in: 'path' | 'query' | 'header' | 'body';
  type: string; // string | integer | boolean | array | object (json body) | binary (byte body)
  format?: string;
  items?: string;
  collectionFormat?: string;
  required: boolean;
  enum?: Array<string | number | boolean>;
  default?: unknown;
  json?: boolean; // a query/header string the engine reads as JSON: objects are accepted and encoded
  repeated?: boolean; // a query string the engine also takes as repeated keys: one value or a list
  since: string;
  until?: string;
  /** The version that dropped it (the one after `until`). */
  removed?: string;
  schema?: Schema; // newest schema, for typing
}

export interface OperationModel {
  id: string;
  method: string;
  path: string;
  since: string;
  until?: string;
  /** The version that dropped it (the one after `until`). */
  removed?: string;
  response: string;
  resultSchema?: Schema;
  statuses: number[];
  contentType?: string;
  bodyDefault?: unknown;
  params: ParamModel[];
}

export function versionKey(v: string): number {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  if (!m) throw new Error(`bad version ${v}`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

export function loadSpecs(dir: string): SpecFile[] {
  return readdirSync(dir)
    .map((f) => /^v(\d+\.\d+)\.json$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: m[1]!, spec: JSON.parse(readFileSync(join(dir, m[0]), 'utf8')) as Schema }))
    .sort((a, b) => versionKey(a.version) - versionKey(b.version));
}

const METHODS = ['get', 'post', 'put', 'delete', 'head', 'patch'];

function operationsOf(spec: Schema): Array<{ method: string; path: string; op: Schema }> {
  const out: Array<{ method: string; path: string; op: Schema }> = [];
  for (const [path, item] of Object.entries<Schema>(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (op && typeof op === 'object' && op.operationId) out.push({ method: method.toUpperCase(), path, op });
    }
  }
  return out;
}

function isJsonEncoded(id: string, p: Schema): boolean {
  if (p.format === 'json') return true;
  if (p.in === 'header') return /^X-Registry-(Auth|Config)$/i.test(p.name);
  return p.in === 'query' && p.type === 'string' && (jsonQueryParams[id]?.includes(p.name) ?? false);
}

function paramModel(id: string, p: Schema, version: string): ParamModel {
  if (p.in === 'body') {
    const binary = p.schema?.type === 'string';
    return { name: p.name, in: 'body', type: binary ? 'binary' : 'object', required: p.required === true, since: version, schema: p.schema };
  }
  const m: ParamModel = { name: p.name, in: p.in, type: p.type, required: p.required === true || p.in === 'path', since: version };
  if (p.format) m.format = p.format;
  if (p.type === 'array') {
    m.items = p.items?.type ?? 'string';
    m.collectionFormat = p.collectionFormat ?? 'csv';
    if (p.items?.enum) m.enum = [...p.items.enum];
  }
  if (Array.isArray(p.enum)) m.enum = [...p.enum];
  if (p.default !== undefined) m.default = p.default;
  if (isJsonEncoded(id, p)) m.json = true;
  return m;
}

function responseKind(id: string, method: string, op: Schema): string {
  const forced = responseKindOverrides[id];
  if (forced) return forced;
  const produces: string[] = op.produces ?? [];
  if (produces.includes('application/x-tar') || produces.includes('application/octet-stream')) return 'tar';
  if (method === 'HEAD') return 'head';
  const ok = op.responses['200'] ?? op.responses['201'];
  if (ok?.schema) return 'json';
  return 'empty';
}

function bodyContentType(op: Schema, body: ParamModel | undefined): string | undefined {
  if (!body) return undefined;
  if (body.type === 'object') return 'application/json';
  const consumes: string[] = op.consumes ?? [];
  if (consumes.includes('application/x-tar')) return 'application/x-tar';
  return 'application/octet-stream';
}

export function buildModel(specs: SpecFile[]): OperationModel[] {
  const newest = specs[specs.length - 1]!.version;
  const ops = new Map<string, OperationModel>();
  const lastSeen = new Map<string, string>();
  const paramLastSeen = new Map<string, string>();

  for (const { version, spec } of specs) {
    for (const { method, path, op } of operationsOf(spec)) {
      const id: string = renamedOperations[op.operationId] ?? op.operationId;
      const statuses = Object.keys(op.responses).map(Number).filter((n) => !Number.isNaN(n)).sort((a, b) => a - b);
      const params: Schema[] = op.parameters ?? [];
      let model = ops.get(id);
      if (!model) {
        model = { id, method, path, since: version, response: '', statuses, params: [] };
        ops.set(id, model);
      }
      if (model.method !== method || model.path !== path) {
        throw new Error(`${id} moved from ${model.method} ${model.path} to ${method} ${path} in ${version}`);
      }
      // Newest facts win: each version overwrites what older versions said.
      model.statuses = statuses;
      model.response = responseKind(id, method, op);
      const ok = op.responses['200'] ?? op.responses['201'];
      model.resultSchema = ok?.schema;
      lastSeen.set(id, version);
      for (const raw of params) {
        const p = paramModel(id, raw, version);
        const key = `${id}\u0000${p.in}\u0000${p.name}`;
        const existing = model.params.find((q) => q.in === p.in && q.name === p.name);
        if (existing) {
          const enums = existing.enum && p.enum ? [...new Set([...existing.enum, ...p.enum])] : p.enum;
          Object.assign(existing, { ...p, since: existing.since });
          if (enums) existing.enum = enums;
          else delete existing.enum;
          if (p.json === undefined) delete existing.json;
          if (p.default === undefined) delete existing.default;
        } else {
          model.params.push(p);
        }
        paramLastSeen.set(key, version);
      }
      model.contentType = bodyContentType(op, model.params.find((q) => q.in === 'body'));
    }
  }

  const versions = specs.map((s) => s.version);
  const after = (v: string): string => versions[versions.indexOf(v) + 1]!;
  for (const model of ops.values()) {
    const last = lastSeen.get(model.id)!;
    if (last !== newest) {
      model.until = last;
      model.removed = after(last);
    }
    for (const p of model.params) {
      const lastP = paramLastSeen.get(`${model.id}\u0000${p.in}\u0000${p.name}`)!;
      if (lastP !== last) {
        p.until = lastP;
        p.removed = after(lastP);
      }
    }
  }
  for (const [id, u] of Object.entries(undocumentedOperations)) {
    if (ops.has(id) || [...ops.values()].some((o) => o.method === u.method && o.path === u.path)) {
      throw new Error(`undocumented operation ${id} (${u.method} ${u.path}) is in a spec now: drop it from scripts/generate/undocumented.ts`);
    }
    // from the first version with a spec that is not older than the engine's (none: specs too old)
    const since = versions.find((v) => versionKey(v) >= versionKey(u.since));
    if (since === undefined) continue;
    ops.set(id, {
      id,
      method: u.method,
      path: u.path,
      since,
      response: u.response,
      statuses: [...u.statuses],
      params: u.params.map((p) => ({ ...p, since })),
    });
  }
  for (const [id, names] of Object.entries(repeatedParams)) {
    for (const p of ops.get(id)?.params ?? []) if (names.includes(p.name)) p.repeated = true;
  }
  for (const [id, body] of Object.entries(bodyDefaults)) {
    const model = ops.get(id);
    if (model) model.bodyDefault = body;
  }
  return [...ops.values()];
}
