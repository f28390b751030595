/**
 * Checks a JSON body, recursively, against the spec of the API version in use: types, required
 * fields, enums, arrays, maps, and fields (or enum values) that the version lacks. Runs once the
 * version is settled, before anything is sent.
 *
 * The walk allocates nothing while the body is right: a problem is built where it is found and its
 * path is added to on the way back up; the message (and whether a value may be shown) is made only
 * then.
 *
 * `null` is accepted for every field. The engine decodes bodies with Go's encoding/json, for which
 * null is "absent" everywhere: a pointer, slice, map or interface becomes nil, and a non-pointer
 * string, number or bool is left at its zero value without error. So null is never what the
 * engine refuses, whatever `x-nullable` says, and engines send it back themselves (an inspected
 * container's `HostConfig.Devices: null`). `undefined` is left out by JSON.stringify: not checked.
 */
import { closestName } from '../closest-name.js';
import { ApiVersionError, describeValue, isSecretName, ValidationError, type DockerError } from '../errors.js';
import { BODY_ROOTS } from '../generated/schemas.js';
import { Kind, parseShape, type BodyType, type Range, type Shape } from './body-shape.js';
import type { PreparedOperation } from './prepare.js';
import { SECRET_BODIES } from './validate.js';
import { versionKey } from '../version.js';

type Problem =
  | { path: string[]; kind: 'type'; expected: string; value: unknown }
  | { path: string[]; kind: 'unknown'; type: BodyType; version: number }
  | { path: string[]; kind: 'missing'; type: BodyType }
  | { path: string[]; kind: 'enum'; values: ReadonlyMap<string, Range>; version: number; value: string }
  | { path: string[]; kind: 'version'; range: Range; value?: string };

interface Root {
  readonly param: string;
  readonly shape: Shape;
}

const roots = new Map<string, Root | null>();

function rootOf(id: string): Root | null {
  let root = roots.get(id);
  if (root === undefined) {
    const entry = (BODY_ROOTS as Record<string, readonly [string, string] | undefined>)[id];
    root = entry ? { param: entry[0], shape: parseShape(entry[1]) } : null;
    roots.set(id, root);
  }
  return root;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Whether `for...in` over `value` gives only its own keys, so that the check of each key can be
 * left out (it was 40% of the walk): a plain object's, while nothing has made an enumerable
 * property on Object.prototype (asked again for every body), or a null-prototype one.
 */
function ownKeysOnly(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === null || (proto === Object.prototype && plainPrototype);
}

/** No enumerable property on Object.prototype: set by validateBody for each body. */
let plainPrototype = true;
const EMPTY = {};

function objectPrototypeIsPlain(): boolean {
  for (const _ in EMPTY) return false;
  return true;
}
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function fieldSegment(key: string): string {
  return IDENT.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function outOf(range: Range, v: number): boolean {
  return v < range.since || v > range.until;
}

function walk(shape: Shape, value: unknown, v: number): Problem | undefined {
  if (value === null || value === undefined) return undefined;
  switch (shape.kind) {
    case Kind.String:
      return typeof value === 'string' ? undefined : { path: [], kind: 'type', expected: 'a string', value };
    case Kind.Integer:
      // Any integer: int64 and uint64 fields hold more than 2^53, and JSON carries them as written.
      return typeof value === 'number' && Number.isInteger(value) ? undefined : { path: [], kind: 'type', expected: 'an integer', value };
    case Kind.Number:
      return typeof value === 'number' && Number.isFinite(value) ? undefined : { path: [], kind: 'type', expected: 'a number', value };
    case Kind.Boolean:
      return typeof value === 'boolean' ? undefined : { path: [], kind: 'type', expected: 'a boolean', value };
    case Kind.Any:
      return undefined;
    case Kind.Object:
      return isObject(value) ? undefined : { path: [], kind: 'type', expected: 'an object', value };
    case Kind.Enum: {
      if (typeof value !== 'string') return { path: [], kind: 'type', expected: 'a string', value };
      const values = shape.values!;
      const range = values.get(value);
      if (!range) return { path: [], kind: 'enum', values, version: v, value };
      return outOf(range, v) ? { path: [], kind: 'version', range, value } : undefined;
    }
    case Kind.Array: {
      if (!Array.isArray(value)) return { path: [], kind: 'type', expected: 'an array', value };
      const of = shape.of!;
      for (let i = 0; i < value.length; i++) {
        const p = walk(of, value[i], v);
        if (p) {
          p.path.push(`[${i}]`);
          return p;
        }
      }
      return undefined;
    }
    case Kind.Map: {
      if (!isObject(value)) return { path: [], kind: 'type', expected: 'an object (a map)', value };
      const of = shape.of!;
      const own = ownKeysOnly(value);
      for (const key in value) {
        if (!own && !hasOwn.call(value, key)) continue;
        const p = walk(of, value[key], v);
        if (p) {
          p.path.push(fieldSegment(key));
          return p;
        }
      }
      return undefined;
    }
    case Kind.Type:
      return walkType(shape.type!, value, v);
  }
}

function walkType(type: BodyType, value: unknown, v: number): Problem | undefined {
  if (!isObject(value)) return { path: [], kind: 'type', expected: `an object (${type.name})`, value };
  const fields = type.fields;
  const own = ownKeysOnly(value);
  for (const key in value) {
    if (!own && !hasOwn.call(value, key)) continue;
    const item = value[key];
    if (item === undefined) continue;
    const field = fields.get(key);
    let p: Problem | undefined;
    if (field) {
      if (!field.always && outOf(field, v)) p = { path: [], kind: 'version', range: field };
      else if (item === null) continue;
      else {
        // Most fields are strings, integers and booleans: those that are right need no call.
        const shape = field.shape;
        const kind = shape.kind;
        if (kind === Kind.String ? typeof item === 'string' : kind === Kind.Boolean ? typeof item === 'boolean' : kind === Kind.Integer && typeof item === 'number' && Number.isInteger(item)) continue;
        p = walk(shape, item, v);
      }
    } else p = type.rest ? walk(type.rest, item, v) : { path: [], kind: 'unknown', type, version: v };
    if (p) {
      p.path.push(fieldSegment(key));
      return p;
    }
  }
  const required = type.required;
  for (let i = 0; i < required.length; i++) {
    const name = required[i]!;
    const field = fields.get(name)!;
    if (v >= field.requiredFrom && !outOf(field, v) && (value[name] === undefined || value[name] === null)) {
      return { path: [fieldSegment(name)], kind: 'missing', type };
    }
  }
  return undefined;
}

function requirement(range: Range, v: number): string {
  return v < range.since ? `>= ${range.sinceText}` : `<= ${range.untilText}`;
}

function toError(op: PreparedOperation, param: string, p: Problem, version: string): DockerError {
  const segments = p.path.reverse();
  const where = param + segments.join('');
  const last = segments[segments.length - 1] ?? param;
  const ids = { operationId: op.id, parameter: where };
  // A credential's value is never shown: the whole body of a secret, or any field named like one.
  const secret = SECRET_BODIES.has(op.id) || isSecretName(param) || segments.some((s) => isSecretName(s));
  const v = p.kind === 'enum' || p.kind === 'unknown' ? p.version : 0;
  switch (p.kind) {
    case 'type':
      return new ValidationError(`${op.id}: ${where} must be ${p.expected}, not ${describeValue(p.value, secret)}`, ids);
    case 'unknown': {
      const name = last.startsWith('.') ? last.slice(1) : (JSON.parse(last.slice(1, -1)) as string);
      const inVersion = [...p.type.fields].filter(([, f]) => !outOf(f, v)).map(([k]) => k);
      const near = closestName(name, inVersion) ?? closestName(name, p.type.fields.keys());
      return new ValidationError(`${op.id}: ${where} is not a field of ${p.type.name}${near ? ` (did you mean ${near}?)` : ''}`, ids);
    }
    case 'missing':
      return new ValidationError(`${op.id}: ${where} is missing; ${p.type.name} requires it`, ids);
    case 'enum': {
      const allowed = [...p.values].filter(([, r]) => !outOf(r, v)).map(([k]) => k);
      const near = secret ? undefined : closestName(p.value, allowed);
      return new ValidationError(
        `${op.id}: ${where} must be one of ${allowed.map((e) => JSON.stringify(e)).join(', ')}, not ${describeValue(p.value, secret)}${near !== undefined ? ` (did you mean ${JSON.stringify(near)}?)` : ''}`,
        ids,
      );
    }
    case 'version': {
      const required = requirement(p.range, versionKey(version));
      const what = p.value === undefined ? where : `${where} ${JSON.stringify(p.value)}`;
      return new ApiVersionError(`${op.id}: ${what} requires API ${required}; the API version in use is ${version}`, { ...ids, required, current: version });
    }
  }
}

/**
 * Checks the JSON body of `params` (if the operation takes one and the call gives it) against the
 * API version in use (`version`, and `v`, its versionKey). Throws ValidationError for a wrong
 * body, ApiVersionError for a field or enum value the version lacks.
 */
export function validateBody(op: PreparedOperation, params: Record<string, unknown>, version: string, v: number): void {
  const root = rootOf(op.id);
  if (!root) return;
  plainPrototype = objectPrototypeIsPlain();
  const p = walk(root.shape, params[root.param], v);
  if (p) throw toError(op, root.param, p, version);
}
