/** Checks a call's parameters against the operation table before anything is sent. */
import { Readable } from 'node:stream';
import { describeValue, isSecretName, ValidationError } from '../errors.js';
import type { ParamSpec } from './operation.js';
import type { PreparedOperation } from './prepare.js';

const UNSAFE_HEADER = /[\r\n\0]/;

/** Operations whose whole body is a credential (login, secrets, the swarm's unlock key). */
export const SECRET_BODIES: ReadonlySet<string> = new Set(['SystemAuth', 'SecretCreate', 'SecretUpdate', 'SwarmUnlock']);

/** True when `name`'s value in `op` must never appear in an error (see describeValue). */
function isSecret(op: PreparedOperation, p: ParamSpec | undefined, name: string): boolean {
  return isSecretName(name) || (p?.in === 'body' && SECRET_BODIES.has(op.id));
}

function isUpload(value: unknown): boolean {
  return (
    typeof value === 'string' ||
    value instanceof Uint8Array ||
    value instanceof Readable ||
    (typeof value === 'object' && value !== null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function typeProblem(p: ParamSpec, value: unknown, secret: boolean): string | undefined {
  if (p.in === 'body') {
    if (p.type === 'binary') return isUpload(value) ? undefined : `must be a Buffer, string, Readable or AsyncIterable, not ${describeValue(value, secret)}`;
    return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !(value instanceof Readable)
      ? undefined
      : `must be an object (sent as JSON), not ${describeValue(value, secret)}`;
  }
  switch (p.type) {
    case 'string':
      if (typeof value === 'string') {
        if (p.in === 'path' && (value === '' || value === '.' || value === '..')) return `must be a name or id, not ${JSON.stringify(value)}`;
        if (p.in === 'header' && UNSAFE_HEADER.test(value)) return 'must not contain CR, LF or NUL (header injection)';
        return undefined;
      }
      if (p.json && typeof value === 'object' && value !== null) return undefined;
      if (p.repeated && Array.isArray(value) && value.every((v) => typeof v === 'string')) return undefined;
      return `must be a string${p.json ? ' or an object (sent as JSON)' : p.repeated ? ' or a list of strings' : ''}, not ${describeValue(value, secret)}`;
    case 'integer':
      return Number.isSafeInteger(value) ? undefined : `must be an integer, not ${describeValue(value, secret)}`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : `must be a number, not ${describeValue(value, secret)}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be a boolean, not ${describeValue(value, secret)}`;
    case 'array': {
      if (!Array.isArray(value)) return `must be an array, not ${describeValue(value, secret)}`;
      const want = p.items === 'integer' ? 'number' : p.items ?? 'string';
      const bad = value.find((v) => typeof v !== want);
      return bad === undefined ? undefined : `must hold only ${want}s, not ${describeValue(bad, secret)}`;
    }
    default:
      return undefined;
  }
}

function enumProblem(p: ParamSpec, value: unknown, secret: boolean): string | undefined {
  if (!p.enum) return undefined;
  const values = Array.isArray(value) ? value : [value];
  const bad = values.find((v) => !p.enum!.includes(v as string));
  return bad === undefined ? undefined : `must be one of ${p.enum.map((e) => JSON.stringify(e)).join(', ')}, not ${describeValue(bad, secret)}`;
}

/** Secrets' and configs' `Data` is base64 text: anything else is refused here, its value never shown. */
function bodyFieldProblem(op: PreparedOperation, p: ParamSpec, value: unknown): string | undefined {
  if (p.in !== 'body' || (op.id !== 'SecretCreate' && op.id !== 'ConfigCreate') || !isPlainObject(value)) return undefined;
  const data = value.Data;
  if (data === undefined || typeof data === 'string') return undefined;
  return `field "Data" must be a base64 string (e.g. Buffer.from(text).toString('base64')), not ${describeValue(data, op.id === 'SecretCreate')}`;
}

/**
 * Checks types, names and enums of a call's parameters. `filledLater` names parameters that may
 * be missing now because dockhand adds them after validation (registry credentials).
 */
export function validateParams(op: PreparedOperation, params: unknown, filledLater?: ReadonlySet<string>): Record<string, unknown> {
  if (params === undefined || params === null) params = {};
  if (!isPlainObject(params)) {
    throw new ValidationError(`${op.id}: parameters must be an object, not ${describeValue(params, SECRET_BODIES.has(op.id))}`, { operationId: op.id });
  }
  for (const name of Object.keys(params)) {
    const value = params[name];
    if (value === undefined) continue;
    const p = op.params.get(name);
    if (!p) {
      const known = [...op.params.keys()].join(', ') || 'none';
      throw new ValidationError(`${op.id}: unknown parameter "${name}" (known: ${known})`, { operationId: op.id, parameter: name });
    }
    // Whether the value may be shown matters only for the message: asked once something is wrong.
    if (typeProblem(p, value, true) ?? enumProblem(p, value, true) ?? bodyFieldProblem(op, p, value)) {
      const secret = isSecret(op, p, name);
      const problem = typeProblem(p, value, secret) ?? enumProblem(p, value, secret) ?? bodyFieldProblem(op, p, value);
      throw new ValidationError(`${op.id}: parameter "${name}" ${problem}`, { operationId: op.id, parameter: name });
    }
  }
  for (const p of op.required) {
    // A parameter that not every version has is checked once the version is known.
    if (params[p.name] === undefined && !op.versioned.has(p.name) && !filledLater?.has(p.name)) throw missing(op, p.name);
  }
  return params;
}

/** Parameters required in the API version in use (a required one may exist only in some versions). */
export function checkRequired(op: PreparedOperation, params: Record<string, unknown>, version: number): void {
  for (const p of op.required) {
    const range = op.versioned.get(p.name);
    if (!range || params[p.name] !== undefined) continue;
    if (version >= range.since && version <= range.until) throw missing(op, p.name);
  }
}

function missing(op: PreparedOperation, name: string): ValidationError {
  return new ValidationError(`${op.id}: missing required parameter "${name}"`, { operationId: op.id, parameter: name });
}
