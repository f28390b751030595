/** Precomputes, once per operation, what every call to it needs: lookups, path pieces, versions. */
import { ValidationError } from '../errors.js';
import { OPERATIONS, OPERATION_ALIASES, type OperationAlias, type OperationId } from '../generated/operations.js';
import { versionKey } from '../version.js';
import type { OperationSpec, ParamSpec } from './operation.js';

export interface PreparedOperation {
  readonly id: OperationId;
  readonly spec: OperationSpec;
  readonly since: number;
  readonly until: number;
  readonly params: ReadonlyMap<string, ParamSpec>;
  readonly required: readonly ParamSpec[];
  /** Static path pieces around the path parameters: pieces[0] + p0 + pieces[1] + ... */
  readonly pathPieces: readonly string[];
  readonly pathNames: readonly string[];
  readonly body: ParamSpec | undefined;
  /** Parameters that not every API version has: checked against the version in use. */
  readonly versioned: ReadonlyMap<string, { since: number; until: number }>;
}

const prepared = new Map<string, PreparedOperation>();

export function isOperationId(id: string): id is OperationId | OperationAlias {
  return Object.prototype.hasOwnProperty.call(OPERATIONS, id) || Object.prototype.hasOwnProperty.call(OPERATION_ALIASES, id);
}

export function prepareOperation(name: string): PreparedOperation {
  let op = prepared.get(name);
  if (op) return op;
  if (!isOperationId(name)) throw new ValidationError(`unknown operation "${name}"`, { parameter: 'operationId' });
  const id: OperationId = (OPERATION_ALIASES as Record<string, OperationId>)[name] ?? (name as OperationId);
  const spec = OPERATIONS[id];
  const pathPieces: string[] = [];
  const pathNames: string[] = [];
  let rest = spec.path;
  for (let m = /\{([^}]+)\}/.exec(rest); m; m = /\{([^}]+)\}/.exec(rest)) {
    pathPieces.push(rest.slice(0, m.index));
    pathNames.push(m[1]!);
    rest = rest.slice(m.index + m[0].length);
  }
  pathPieces.push(rest);
  const versioned = new Map<string, { since: number; until: number }>();
  for (const p of spec.params) {
    if (p.since !== '1.25' || p.until) versioned.set(p.name, { since: versionKey(p.since), until: p.until ? versionKey(p.until) : Infinity });
  }
  op = {
    id,
    spec,
    since: versionKey(spec.since),
    until: spec.until ? versionKey(spec.until) : Infinity,
    params: new Map(spec.params.map((p) => [p.name, p])),
    required: spec.params.filter((p) => p.required),
    pathPieces,
    pathNames,
    body: spec.params.find((p) => p.in === 'body'),
    versioned,
  };
  prepared.set(name, op);
  return op;
}
