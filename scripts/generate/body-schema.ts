/**
 * Compiles the JSON bodies of every spec version into one table: per object type, per field, its
 * shape and the versions that have it (first and last, by diffing the specs, as for parameters).
 *
 * Object types are named by their definition (`HostConfig`) or, inline, by where they sit
 * (`HostConfig.LogConfig`, `ContainerCreateBody`). Versions are walked newest first, and a field
 * whose newest version points at a type keeps pointing at it in older versions, whatever the older
 * spec called it (1.25's `Config` is 1.55's `ContainerConfig`), so each type is stored once for all
 * versions. `allOf` parts are merged into one type.
 *
 * A shape is a short string, read by src/request/body-shape.ts:
 *   s string, i integer, n number, b boolean, o any object, * anything,
 *   =a|b|c one of these strings, [X an array of X, {X a map of X, @Name an object type.
 * A field is `[!]shape[ +since][ -until]`: `!` required; since/until where the versions that have
 * the field differ from those of its type.
 */
import { renamedOperations } from './names.js';
import type { SpecFile } from './model.js';
import { refName, type Schema } from './schema-to-ts.js';

/** One field of one type, across versions. */
export interface FieldHistory {
  /** version -> shape in that version. */
  shapes: Map<string, string>;
  /** versions in which the field is required. */
  required: Set<string>;
}

export interface TypeHistory {
  versions: Set<string>;
  fields: Map<string, FieldHistory>;
  /** version -> shape of fields not listed (additionalProperties), where the spec allows them. */
  rest: Map<string, string>;
}

export interface BodyModel {
  types: Map<string, TypeHistory>;
  /** operationId -> version -> [body parameter name, root shape]. */
  roots: Map<string, Map<string, [string, string]>>;
}

/** Characters the shape grammar uses: a name or enum value holding one cannot be written. */
const RESERVED = /[|\s[{@=!+'"\\]/;

/** A schema stored as an object type (else inline: a map, a free-form object, a primitive). */
function isObjectType(s: Schema): boolean {
  return Boolean(s.properties) || Array.isArray(s.allOf);
}

class Compiler {
  readonly model: BodyModel = { types: new Map(), roots: new Map() };
  private readonly walked = new Set<string>();
  private defs: Record<string, Schema> = {};
  private version = '';

  run(specs: SpecFile[]): BodyModel {
    for (const { version, spec } of [...specs].reverse()) {
      this.version = version;
      this.defs = spec.definitions ?? {};
      for (const item of Object.values<Schema>(spec.paths)) {
        for (const op of Object.values<Schema>(item)) {
          if (!op || typeof op !== 'object' || !op.operationId) continue;
          const id: string = renamedOperations[op.operationId] ?? op.operationId;
          for (const p of (op.parameters ?? []) as Schema[]) {
            if (p.in !== 'body' || !p.schema || p.schema.type === 'string') continue;
            let byVersion = this.model.roots.get(id);
            if (!byVersion) this.model.roots.set(id, (byVersion = new Map()));
            const newer = targetOf([...byVersion.values()][0]?.[1]);
            byVersion.set(version, [p.name, this.shape(p.schema, newer, p.schema.title ?? `${id}Body`)]);
          }
        }
      }
    }
    return this.model;
  }

  private resolve(s: Schema): Schema {
    const seen = new Set<string>();
    while (s.$ref) {
      const name = refName(s.$ref);
      if (seen.has(name)) throw new Error(`circular $ref ${name}`);
      seen.add(name);
      const def = this.defs[name];
      if (!def) throw new Error(`${this.version}: no definition ${name}`);
      s = def;
    }
    return s;
  }

  /** The properties, required names and additionalProperties of an object schema, allOf parts merged. */
  private flatten(s: Schema, into: { props: Record<string, Schema>; required: Set<string>; rest?: Schema | boolean }): void {
    s = this.resolve(s);
    for (const part of (s.allOf ?? []) as Schema[]) this.flatten(part, into);
    Object.assign(into.props, s.properties ?? {});
    for (const r of (s.required ?? []) as string[]) into.required.add(r);
    if (s.additionalProperties !== undefined && s.additionalProperties !== false) into.rest = s.additionalProperties;
  }

  /**
   * The shape of `s`. An object type is named `forced` (the name a newer version gave the same
   * place), else by its definition, else `inline` (where it sits).
   */
  shape(s: Schema, forced: string | undefined, inline: string): string {
    if (s.$ref) {
      const def = this.resolve(s);
      if (!isObjectType(def)) return this.shape(def, forced, inline);
      return this.object(def, forced ?? refName(s.$ref));
    }
    if (Array.isArray(s.allOf)) {
      // allOf [X, {type: object}] (ServiceCreate's body) is X.
      const real = (s.allOf as Schema[]).filter((p) => p.$ref || p.properties || p.allOf || p.additionalProperties !== undefined);
      if (real.length === 1 && real[0]!.$ref && !s.properties) return this.shape(real[0]!, forced, inline);
      return this.object(s, forced ?? inline);
    }
    if (Array.isArray(s.enum) && s.enum.length > 0) {
      if (s.type !== 'string' && s.type !== undefined) return primitive(s.type);
      for (const e of s.enum) if (typeof e !== 'string' || RESERVED.test(e)) throw new Error(`enum value ${JSON.stringify(e)} cannot be written in a shape`);
      return `=${(s.enum as string[]).join('|')}`;
    }
    switch (s.type) {
      case 'array':
        return `[${s.items ? this.shape(s.items, forced, inline) : '*'}`;
      case 'object':
      case undefined:
        if (s.properties) return this.object(s, forced ?? inline);
        if (s.additionalProperties === undefined || s.additionalProperties === false) return s.type === 'object' ? 'o' : '*';
        return `{${s.additionalProperties === true || Object.keys(s.additionalProperties).length === 0 ? '*' : this.shape(s.additionalProperties, forced, inline)}`;
      default:
        return primitive(s.type);
    }
  }

  private object(s: Schema, name: string): string {
    if (RESERVED.test(name)) throw new Error(`type name ${name} cannot be written in a shape`);
    const key = `${name}\u0000${this.version}`;
    if (this.walked.has(key)) return `@${name}`;
    this.walked.add(key);
    let type = this.model.types.get(name);
    if (!type) this.model.types.set(name, (type = { versions: new Set(), fields: new Map(), rest: new Map() }));
    type.versions.add(this.version);
    const flat: { props: Record<string, Schema>; required: Set<string>; rest?: Schema | boolean } = { props: {}, required: new Set() };
    this.flatten(s, flat);
    for (const [field, fs] of Object.entries(flat.props)) {
      if (RESERVED.test(field)) throw new Error(`field name ${name}.${field} cannot be written in a shape`);
      let f = type.fields.get(field);
      if (!f) type.fields.set(field, (f = { shapes: new Map(), required: new Set() }));
      f.shapes.set(this.version, this.shape(fs, targetOf([...f.shapes.values()][0]), `${name}.${field}`));
      if (flat.required.has(field)) f.required.add(this.version);
    }
    if (flat.rest !== undefined) {
      const rest = flat.rest === true || Object.keys(flat.rest).length === 0 ? '*' : this.shape(flat.rest as Schema, targetOf([...type.rest.values()][0]), `${name}.*`);
      type.rest.set(this.version, rest);
    }
    return `@${name}`;
  }
}

function primitive(type: string | undefined): string {
  switch (type) {
    case 'string':
      return 's';
    case 'integer':
      return 'i';
    case 'number':
      return 'n';
    case 'boolean':
      return 'b';
    default:
      return '*';
  }
}

/** The object type a shape ends in (`[@Mount` -> Mount), if any. */
export function targetOf(shape: string | undefined): string | undefined {
  return shape ? /@(.+)$/.exec(shape)?.[1] : undefined;
}

export function buildBodyModel(specs: SpecFile[]): BodyModel {
  return new Compiler().run(specs);
}


/** The table src/generated/schemas.ts holds: type -> field -> field string; operationId -> [body parameter, shape]. */
export interface BodyTable {
  types: Record<string, Record<string, string>>;
  roots: Record<string, readonly [string, string]>;
}

/** Field names holding this are the additionalProperties of a type that also lists fields. */
export const REST_FIELD = '*';

/**
 * Versions `have` spans within `all` (oldest first): first and last. A version between two that
 * have it but lacking it is a gap in that spec (1.27 lacks HostConfig.NanoCpus, which 1.26 and
 * 1.28 have): the engine never dropped and re-added a field, so the span is taken whole.
 */
function span(all: readonly string[], have: (v: string) => boolean): [string, string] {
  const vs = all.filter(have);
  return [vs[0]!, vs[vs.length - 1]!];
}

/** ` +since` / ` -until` where the field's span is narrower than its type's. */
function gates(field: [string, string], type: [string, string]): string {
  return (field[0] !== type[0] ? ` +${field[0]}` : '') + (field[1] !== type[1] ? ` -${field[1]}` : '');
}

/**
 * One shape per field for all versions. The newest shape wins: where older specs describe a
 * field otherwise (1.25's `Cmd` as a string or list, 1.34's `PortBindings` values as one object,
 * 1.30's secret `Data` as a list), the engine's Go type did not change and the older text was
 * wrong. Enums are the exception: their values do change (Mount.Type `image` from 1.48), so every
 * value not in all the field's versions carries its own `+since` / `-until`.
 */
function mergeShape(all: readonly string[], shapes: Map<string, string>): string {
  const newest = shapes.values().next().value!;
  const m = /^([[{]*)=(.*)$/.exec(newest);
  if (!m) return newest;
  const prefix = m[1]!;
  const have = new Map<string, Set<string>>();
  const versions = all.filter((v) => shapes.has(v));
  for (const v of [...versions].reverse()) {
    const e = new RegExp(`^${prefix.replace(/[[{]/g, '\\$&')}=(.*)$`).exec(shapes.get(v)!);
    if (!e) continue; // an older spec without the enum: its values are the newest ones
    for (const value of e[1]!.split('|')) {
      if (!have.has(value)) have.set(value, new Set());
      have.get(value)!.add(v);
    }
  }
  const fieldSpan: [string, string] = [versions[0]!, versions[versions.length - 1]!];
  const values = [...have.keys()].map((value) => value + gates(span(versions, (v) => have.get(value)!.has(v)), fieldSpan).replace(/ /g, ''));
  return `${prefix}=${values.join('|')}`;
}

export function bodyTable(model: BodyModel, all: readonly string[], undocumented: Record<string, Record<string, string>>): BodyTable {
  const types: Record<string, Record<string, string>> = {};
  const roots: Record<string, readonly [string, string]> = {};
  const reached = new Set<string>();
  const reach = (shape: string): void => {
    const t = targetOf(shape);
    if (!t || reached.has(t)) return;
    const type = model.types.get(t);
    if (!type) throw new Error(`body type ${t} was never walked`);
    reached.add(t);
    const typeSpan = span(all, (v) => type.versions.has(v));
    const fields: Record<string, string> = {};
    for (const [name, f] of [...type.fields].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (name === REST_FIELD) throw new Error(`${t} has a field named ${REST_FIELD}`);
      const shape = mergeShape(all, f.shapes);
      const fieldSpan = span(all, (v) => f.shapes.has(v));
      let text = shape + gates(fieldSpan, typeSpan);
      if (f.required.size) {
        const req = span(all, (v) => f.required.has(v));
        text += req[0] === fieldSpan[0] ? ' !' : ` !${req[0]}`;
      }
      fields[name] = text;
      reach(shape);
    }
    if (type.rest.size) {
      const rest = type.rest.values().next().value!;
      fields[REST_FIELD] = rest;
      reach(rest);
    }
    for (const [name, text] of Object.entries(undocumented[t] ?? {})) {
      const known = fields[name];
      if (known === undefined) {
        fields[name] = text;
        reach(text.split(' ')[0]!);
        continue;
      }
      // More values for an enum the specs have.
      const [shape, ...marks] = known.split(' ');
      if (!shape!.startsWith('=') || !text.startsWith('=')) throw new Error(`undocumented field ${t}.${name} is in the specs now: remove it from scripts/generate/undocumented.ts`);
      const values = shape!.slice(1).split('|');
      const more = text.slice(1).split('|').filter((v) => !values.includes(v));
      if (more.length === 0) throw new Error(`undocumented values of ${t}.${name} are in the specs now: remove them from scripts/generate/undocumented.ts`);
      fields[name] = [`=${[...values, ...more].join('|')}`, ...marks].join(' ');
    }
    types[t] = fields;
  };
  for (const [id, byVersion] of [...model.roots].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [param, shape] = byVersion.values().next().value!;
    for (const [v, [p]] of byVersion) if (p !== param) throw new Error(`${id}'s body is "${p}" in ${v} but "${param}" later`);
    roots[id] = [param, shape];
    reach(shape);
  }
  for (const t of Object.keys(undocumented)) if (!reached.has(t)) throw new Error(`undocumented fields for ${t}, which no body uses`);
  const sorted: Record<string, Record<string, string>> = {};
  for (const t of Object.keys(types).sort()) sorted[t] = types[t]!;
  return { types: sorted, roots };
}
