/**
 * Makes spec/: a facts-only copy of the Engine API specs, the copy the generator reads.
 *
 * Reads every `v1.NN.json` (swagger 2.0 as JSON) from an upstream folder and writes `spec/v1.NN.json`
 * with the structure, names, types, formats, enums, defaults, required lists, limits and the `x-`
 * extensions that state facts, in upstream key order. Prose is dropped: every `description`,
 * `summary`, `example`, `examples` and `externalDocs` in a keyword position (a property, definition,
 * header or response named `description` is a name and stays), `info.x-logo`. The walk follows the
 * swagger 2.0 grammar, and a key it does not know stops it: a new keyword upstream is classified
 * here (kept or dropped) before the copy can be remade.
 *
 *   tsx scripts/spec-facts.ts [UPSTREAM_DIR] [--out DIR] [--check]
 *
 * UPSTREAM_DIR defaults to ../shared/specs/json beside the repository. `--check` builds in memory and
 * fails (exit 1) if spec/ differs; a missing upstream folder is an error (exit 2), never a skip.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

/** Keys dropped wherever they are keywords: documentation, not facts. */
export const PROSE_KEYS = ['description', 'summary', 'example', 'examples', 'externalDocs'] as const;

/**
 * `x-` extensions kept, with why: each states a fact about the wire format or the upstream Go type.
 * - x-nullable: the value may be null (the generator types it `| null`).
 * - x-omitempty: the engine omits the field when empty (or, when false, always sends it).
 * - x-go-name, x-go-type, x-go-package: the Go type or field the engine (de)serialises with; names,
 *   not prose, and what a body validator would map a schema to.
 * - x-displayName (tags only): the tag's display name, a one-word label.
 * Dropped: x-logo (info only, a documentation site's logo URL).
 */
const DROPPED_EXTENSIONS = ['x-logo'];

const SCHEMA_FACTS = new Set([
  '$ref', 'type', 'format', 'title', 'default', 'enum', 'required', 'readOnly', 'discriminator', 'xml',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf',
  'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties',
  'x-nullable', 'x-omitempty', 'x-go-name', 'x-go-type', 'x-go-package',
]);
// Parameters, parameter items and response headers: the simple (non-body) swagger 2.0 types.
const SIMPLE_FACTS = new Set([
  'name', 'in', 'required', 'type', 'format', 'collectionFormat', 'default', 'enum', 'allowEmptyValue',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf',
  'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'uniqueItems',
  'x-nullable', 'x-omitempty',
]);
const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch']);

function isObj(v: Json | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknown(where: string, key: string): never {
  throw new Error(`spec-facts: unknown key ${JSON.stringify(key)} at ${where}: classify it in scripts/spec-facts.ts (keep a fact, drop prose)`);
}

function isProse(key: string): boolean {
  return (PROSE_KEYS as readonly string[]).includes(key) || DROPPED_EXTENSIONS.includes(key);
}

/** Copies a value that is data (enum members, defaults, x-go-type): verbatim, but refuses numbers JSON.parse rounded. */
function data(v: Json, where: string): Json {
  if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) throw new Error(`spec-facts: ${where} holds ${v}, beyond what JSON.parse reads exactly`);
  if (Array.isArray(v)) return v.map((x, i) => data(x, `${where}[${i}]`));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, data(x, `${where}.${k}`)]));
  return v;
}

function map(v: Json, where: string, each: (x: Json, where: string) => Json): Obj {
  if (!isObj(v)) throw new Error(`spec-facts: ${where} is not an object`);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, each(x, `${where}/${k}`)]));
}

function list(v: Json, where: string, each: (x: Json, where: string) => Json): Json[] {
  if (!Array.isArray(v)) throw new Error(`spec-facts: ${where} is not a list`);
  return v.map((x, i) => each(x, `${where}[${i}]`));
}

function schema(s: Json, where: string): Json {
  if (!isObj(s)) return data(s, where);
  const out: Obj = {};
  for (const [k, v] of Object.entries(s)) {
    if (isProse(k)) continue;
    if (k === 'properties') out[k] = map(v, `${where}.properties`, schema);
    else if (k === 'items') out[k] = Array.isArray(v) ? list(v, `${where}.items`, schema) : schema(v, `${where}.items`);
    else if (k === 'additionalProperties') out[k] = schema(v, `${where}.additionalProperties`);
    else if (k === 'allOf' || k === 'anyOf' || k === 'oneOf') out[k] = list(v, `${where}.${k}`, schema);
    else if (k === 'not') out[k] = schema(v, `${where}.not`);
    else if (SCHEMA_FACTS.has(k)) out[k] = data(v, `${where}.${k}`);
    else unknown(where, k);
  }
  return out;
}

function simple(p: Json, where: string, extra: readonly string[] = []): Obj {
  if (!isObj(p)) throw new Error(`spec-facts: ${where} is not an object`);
  const out: Obj = {};
  for (const [k, v] of Object.entries(p)) {
    if (isProse(k)) continue;
    if (k === 'items') out[k] = simple(v, `${where}.items`);
    else if (k === 'schema' && extra.includes('schema')) out[k] = schema(v, `${where}.schema`);
    else if (SIMPLE_FACTS.has(k) || extra.includes(k)) out[k] = data(v, `${where}.${k}`);
    else unknown(where, k);
  }
  return out;
}

const parameter = (p: Json, where: string): Json => (isObj(p) && '$ref' in p ? data(p, where) : simple(p, where, ['schema']));

function response(r: Json, where: string): Json {
  if (!isObj(r)) throw new Error(`spec-facts: ${where} is not an object`);
  const out: Obj = {};
  for (const [k, v] of Object.entries(r)) {
    if (isProse(k)) continue;
    if (k === 'schema') out[k] = schema(v, `${where}.schema`);
    else if (k === 'headers') out[k] = map(v, `${where}.headers`, (h, w) => simple(h, w));
    else if (k === '$ref') out[k] = data(v, where);
    else unknown(where, k);
  }
  return out;
}

function operation(o: Json, where: string): Json {
  if (!isObj(o)) throw new Error(`spec-facts: ${where} is not an object`);
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) {
    if (isProse(k)) continue;
    if (k === 'parameters') out[k] = list(v, `${where}.parameters`, parameter);
    else if (k === 'responses') out[k] = map(v, `${where}.responses`, response);
    else if (['operationId', 'tags', 'consumes', 'produces', 'schemes', 'deprecated', 'security'].includes(k)) out[k] = data(v, `${where}.${k}`);
    else unknown(where, k);
  }
  return out;
}

function pathItem(item: Json, where: string): Json {
  if (!isObj(item)) throw new Error(`spec-facts: ${where} is not an object`);
  const out: Obj = {};
  for (const [k, v] of Object.entries(item)) {
    if (METHODS.has(k)) out[k] = operation(v, `${where}.${k}`);
    else if (k === 'parameters') out[k] = list(v, `${where}.parameters`, parameter);
    else if (k === '$ref') out[k] = data(v, where);
    else unknown(where, k);
  }
  return out;
}

function keepOnly(v: Json, where: string, keys: readonly string[]): Obj {
  if (!isObj(v)) throw new Error(`spec-facts: ${where} is not an object`);
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (isProse(k)) continue;
    if (keys.includes(k)) out[k] = data(x, `${where}.${k}`);
    else unknown(where, k);
  }
  return out;
}

/** The facts of one swagger 2.0 document, keys in upstream order. */
export function specFacts(spec: Json): Obj {
  if (!isObj(spec) || spec.swagger !== '2.0') throw new Error('spec-facts: not a swagger 2.0 document');
  const out: Obj = {};
  for (const [k, v] of Object.entries(spec)) {
    if (isProse(k)) continue;
    if (k === 'info') out[k] = keepOnly(v, 'info', ['title', 'version']);
    else if (k === 'tags') out[k] = list(v, 'tags', (t, w) => keepOnly(t, w, ['name', 'x-displayName']));
    else if (k === 'paths') out[k] = map(v, 'paths', pathItem);
    else if (k === 'definitions') out[k] = map(v, 'definitions', schema);
    else if (k === 'parameters') out[k] = map(v, 'parameters', parameter);
    else if (k === 'responses') out[k] = map(v, 'responses', response);
    else if (k === 'securityDefinitions') out[k] = map(v, 'securityDefinitions', (d, w) => keepOnly(d, w, ['type', 'name', 'in', 'flow', 'authorizationUrl', 'tokenUrl', 'scopes']));
    else if (['swagger', 'host', 'basePath', 'schemes', 'consumes', 'produces', 'security'].includes(k)) out[k] = data(v, k);
    else unknown('(root)', k);
  }
  return out;
}

/**
 * Two-space JSON, except that an object or list whose compact form fits on its line (100 columns)
 * stays on one line: a change to a field is one line of a diff, and the 31 files take 4.4 MB
 * (compact JSON: 3.1 MB on 31 unreviewable lines; fully indented: 6.8 MB).
 */
export function formatJson(value: Json, indent = '', lead = 0): string {
  const flat = JSON.stringify(value);
  // The line is indent + key + value + a comma.
  if (typeof value !== 'object' || value === null || indent.length + lead + flat.length + 1 <= 100) return flat;
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{\n${entries
    .map(([k, v]) => {
      const key = `${JSON.stringify(k)}: `;
      return inner + key + formatJson(v, inner, key.length);
    })
    .join(',\n')}\n${indent}}`;
}

const SPEC_FILE = /^v\d+\.\d+\.json$/;

/** file name -> facts-only text, for every v1.NN.json in the upstream folder. */
export function buildFacts(upstreamDir: string): Map<string, string> {
  const names = readdirSync(upstreamDir).filter((f) => SPEC_FILE.test(f)).sort();
  if (names.length === 0) throw new Error(`spec-facts: no v*.json spec files in ${upstreamDir}`);
  const out = new Map<string, string>();
  for (const name of names) {
    const spec = JSON.parse(readFileSync(join(upstreamDir, name), 'utf8')) as Json;
    try {
      out.set(name, formatJson(specFacts(spec)) + '\n');
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
  return out;
}

function main(): void {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const outDir = resolve(outAt >= 0 ? args[outAt + 1]! : join(root, 'spec'));
  const check = args.includes('--check');
  const positional = args.filter((a, i) => !a.startsWith('--') && !(outAt >= 0 && i === outAt + 1));
  const upstreamDir = resolve(positional[0] ?? join(root, '../shared/specs/json'));

  if (!existsSync(upstreamDir)) {
    console.error(`spec-facts: no upstream spec folder at ${upstreamDir} (pass it as the first argument: a folder of v1.NN.json files)`);
    process.exit(2);
  }
  const started = Date.now();
  let files: Map<string, string>;
  try {
    files = buildFacts(upstreamDir);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
  const shown = relative(root, outDir) || outDir;
  const present = existsSync(outDir) ? readdirSync(outDir).filter((f) => SPEC_FILE.test(f)) : [];
  if (check) {
    const stale: string[] = [];
    for (const [name, text] of files) {
      const current = existsSync(join(outDir, name)) ? readFileSync(join(outDir, name), 'utf8') : null;
      if (current !== text) stale.push(current === null ? `${name} (missing)` : name);
    }
    for (const name of present) if (!files.has(name)) stale.push(`${name} (not in ${upstreamDir})`);
    if (stale.length) {
      console.error(`spec:check: ${shown}/ is stale against ${upstreamDir}: ${stale.join(', ')}. Run npm run spec.`);
      process.exit(1);
    }
    console.log(`spec:check: ${shown}/ is fresh (${files.size} specs from ${upstreamDir}, ${Date.now() - started} ms)`);
    return;
  }
  mkdirSync(outDir, { recursive: true });
  for (const name of present) if (!files.has(name)) unlinkSync(join(outDir, name));
  let bytes = 0;
  for (const [name, text] of files) {
    writeFileSync(join(outDir, name), text);
    bytes += Buffer.byteLength(text);
  }
  console.log(`spec: wrote ${files.size} facts-only specs to ${outDir} (${bytes} bytes) from ${upstreamDir}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
