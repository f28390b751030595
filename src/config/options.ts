/**
 * Checks the client's options (`new Docker(options)`) and each call's options: an unknown name, a
 * wrong type or a value out of range is a ValidationError naming the option, before anything runs.
 */
import type { DockerOptions } from '../client.js';
import { closestName } from '../closest-name.js';
import { describeValue, isSecretName, ValidationError } from '../errors.js';
import type { CallOptions } from '../request/types.js';

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days): a longer one would fire at once. */
export const MAX_TIMEOUT = 2_147_483_647;

type Fail = (problem: string) => never;
type Check = (value: unknown, fail: Fail) => void;

/** An object literal (or process.env): not null, an array, a Buffer, a Map, a Date, ... */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.prototype.toString.call(value) === '[object Object]';
}

function shown(name: string, value: unknown): string {
  return describeValue(value, isSecretName(name));
}

function nonEmptyString(name: string): Check {
  return (v, fail) => {
    if (typeof v !== 'string' || v === '') fail(`must be a non-empty string, not ${shown(name, v)}`);
  };
}

function milliseconds(name: string): Check {
  return (v, fail) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_TIMEOUT) {
      fail(`must be a number of milliseconds from 0 to ${MAX_TIMEOUT} (the longest delay setTimeout takes, about 24.8 days), not ${shown(name, v)}`);
    }
  };
}

function count(name: string, infinite = false): Check {
  return (v, fail) => {
    if (infinite && v === Infinity) return;
    if (!Number.isSafeInteger(v) || (v as number) < 1) fail(`must be an integer >= 1${infinite ? ' (or Infinity)' : ''}, not ${shown(name, v)}`);
  };
}

function objectOfStrings(name: string, what: string): Check {
  return (v, fail) => {
    if (!isPlainObject(v)) return fail(`must be an object of ${what}, not ${shown(name, v)}`);
    for (const [key, item] of Object.entries(v)) {
      // Values are never shown: environments and headers hold tokens.
      if (typeof item !== 'string' && !(item === undefined && name === 'env')) fail(`must be an object of ${what}: ${JSON.stringify(key)} is ${describeValue(item, typeof item !== 'boolean')}`);
    }
  };
}

const TRANSPORT_KINDS = ['auto', 'node', 'undici'];
const TRANSPORT_METHODS = ['request', 'upgrade', 'close'] as const;

const isPem = (v: unknown): boolean => typeof v === 'string' || v instanceof Uint8Array;
const TLS_FIELDS: Record<string, [(v: unknown) => boolean, string]> = {
  ca: [(v) => isPem(v) || (Array.isArray(v) && v.every(isPem)), 'a PEM string, a Buffer or an array of them'],
  cert: [isPem, 'a PEM string or a Buffer'],
  key: [isPem, 'a PEM string or a Buffer'],
  rejectUnauthorized: [(v) => typeof v === 'boolean', 'a boolean'],
  servername: [(v) => typeof v === 'string', 'a string'],
};

/** One check per option: the compiler asks for a check when DockerOptions gains an option. */
const DOCKER_CHECKS: { [K in keyof Required<DockerOptions>]: Check } = {
  host: nonEmptyString('host'),
  context: nonEmptyString('context'),
  apiVersion: nonEmptyString('apiVersion'),
  tls: (v, fail) => {
    if (!isPlainObject(v)) return fail(`must be an object ({ ca, cert, key, rejectUnauthorized, servername }), not ${shown('tls', v)}`);
    for (const [field, [ok, what]] of Object.entries(TLS_FIELDS)) {
      // PEM material (a private key) is never shown.
      if (v[field] !== undefined && !ok(v[field])) fail(`field "${field}" must be ${what}, not ${describeValue(v[field], true)}`);
    }
  },
  timeout: milliseconds('timeout'),
  connectTimeout: milliseconds('connectTimeout'),
  transport: (v, fail) => {
    if (typeof v === 'string' && TRANSPORT_KINDS.includes(v)) return;
    if (typeof v === 'object' && v !== null && TRANSPORT_METHODS.every((m) => typeof (v as Record<string, unknown>)[m] === 'function')) return;
    const lacks = typeof v === 'object' && v !== null ? ` (this object lacks ${TRANSPORT_METHODS.filter((m) => typeof (v as Record<string, unknown>)[m] !== 'function').join(', ')})` : '';
    fail(`must be 'auto', 'node', 'undici' or a Transport (an object with request, upgrade and close methods), not ${shown('transport', v)}${lacks}`);
  },
  credentials: (v, fail) => {
    if (v !== false) fail(`can only be false (do not read registry credentials from config.json); leave it out to read them, not ${shown('credentials', v)}`);
  },
  maxConnections: count('maxConnections'),
  maxStreams: count('maxStreams', true),
  maxJsonBody: count('maxJsonBody'),
  env: objectOfStrings('env', 'strings (or undefined), like process.env'),
  validate: (v, fail) => {
    if (v !== 'full' && v !== 'params') fail(`must be 'full' (parameters and JSON bodies) or 'params' (top-level parameters only), not ${shown('validate', v)}`);
  },
  builder: (v, fail) => {
    if (v !== 'classic' && v !== 'buildkit' && v !== 'auto') fail(`must be 'classic', 'buildkit' or 'auto', not ${shown('builder', v)}`);
  },
};

const CALL_CHECKS: { [K in keyof Required<CallOptions>]: Check } = {
  signal: (v, fail) => {
    if (v instanceof AbortSignal) return;
    const s = v as { aborted?: unknown; addEventListener?: unknown } | null;
    if (typeof s === 'object' && s !== null && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function') return;
    fail(`must be an AbortSignal, not ${shown('signal', v)}`);
  },
  timeout: milliseconds('timeout'),
  idleTimeout: milliseconds('idleTimeout'),
  headers: objectOfStrings('headers', 'strings'),
};

export { closestName };

function check(options: unknown, checks: Record<string, Check>, prefix: string, what: string, operationId: string | undefined): Record<string, unknown> {
  const ids = operationId === undefined ? {} : { operationId };
  if (!isPlainObject(options)) {
    throw new ValidationError(`${prefix}${what} must be an object, not ${describeValue(options)}`, { ...ids, parameter: 'options' });
  }
  const known = Object.keys(checks);
  for (const name of Object.keys(options)) {
    const value = options[name];
    const run = Object.hasOwn(checks, name) ? checks[name] : undefined;
    if (!run) {
      const near = closestName(name, known);
      const hint = near ? `did you mean ${near}?` : `known: ${known.join(', ')}`;
      throw new ValidationError(`${prefix}unknown option ${JSON.stringify(name)} (${hint})`, { ...ids, parameter: name });
    }
    if (value === undefined) continue;
    run(value, (problem) => {
      throw new ValidationError(`${prefix}option "${name}" ${problem}`, { ...ids, parameter: name });
    });
  }
  return options;
}

/** The client's options, checked (`undefined` means none). Throws ValidationError naming the option at fault. */
export function validateDockerOptions(options: unknown): DockerOptions {
  if (options === undefined) return {};
  return check(options, DOCKER_CHECKS, '', 'the client options', undefined) as DockerOptions;
}

/** A call's options, checked (`undefined` stays undefined). Throws ValidationError naming the operation and the option. */
export function validateCallOptions(operationId: string, options: unknown): CallOptions | undefined {
  if (options === undefined) return undefined;
  return check(options, CALL_CHECKS, `${operationId}: `, 'call options', operationId) as CallOptions;
}
