/**
 * One set of TypeScript types for every API version: the newest spec's definitions, results and
 * bodies, with the fields older versions had and later ones dropped added back, and each field
 * marked with the versions that have it (`x-dockhand-since`, `x-dockhand-removed`), for the JSDoc
 * tags schema-to-ts writes (`@since API 1.41`, `@deprecated Removed in API 1.44`).
 *
 * Older versions are matched to the newest by position, from each operation's result and body
 * down, never by definition name: 1.25's `Config` is a container's configuration where 1.55's
 * `Config` is a swarm config. A field of an older version that no later version has keeps its older
 * schema; the definitions it names are copied in when the newest spec has none of that name.
 * Enum values older versions had are kept too, so an older engine's answer still fits its type.
 * Fields required in the newest spec but absent from some older version become optional.
 */
import { renamedOperations } from './names.js';
import type { OperationModel, SpecFile } from './model.js';
import { refName, type Schema } from './schema-to-ts.js';

export const SINCE = 'x-dockhand-since';
export const REMOVED = 'x-dockhand-removed';

interface Seen {
  /** Versions that have this object type. */
  versions: Set<string>;
  /** Field -> versions that have it. */
  fields: Map<string, Set<string>>;
}

type Defs = Record<string, Schema>;

class Merger {
  readonly defs: Defs;
  private readonly seen = new Map<Schema, Seen>();
  private readonly visited = new Set<string>();
  private version = '';
  private oldDefs: Defs = {};

  constructor(newest: SpecFile) {
    this.defs = structuredClone(newest.spec.definitions ?? {}) as Defs;
  }

  /** Merges one version's schema `old` into the merged `node` (in place). */
  merge(node: Schema | undefined, old: Schema | undefined, version: string, oldDefs: Defs): void {
    this.version = version;
    this.oldDefs = oldDefs;
    this.walk(node, old);
  }

  /** A deep copy of `s` (from `defs`), its `$ref`s brought into the merged definitions. */
  adopt(s: Schema, defs: Defs): Schema {
    const copy = structuredClone(s) as Schema;
    this.importRefs(copy, defs);
    return copy;
  }

  private importRefs(s: unknown, defs: Defs): void {
    if (!s || typeof s !== 'object') return;
    if (Array.isArray(s)) {
      for (const x of s) this.importRefs(x, defs);
      return;
    }
    for (const [k, v] of Object.entries(s as Schema)) {
      if (k === '$ref' && typeof v === 'string') {
        const name = refName(v);
        if (!(name in this.defs) && defs[name]) {
          this.defs[name] = structuredClone(defs[name]) as Schema;
          this.importRefs(this.defs[name], defs);
        }
      } else this.importRefs(v, defs);
    }
  }

  private resolveNew(s: Schema): { s: Schema; name?: string } {
    let name: string | undefined;
    for (let i = 0; s.$ref && i < 16; i++) {
      name = refName(s.$ref);
      const def = this.defs[name];
      if (!def) throw new Error(`merged types: no definition ${name}`);
      s = def;
    }
    return name === undefined ? { s } : { s, name };
  }

  private resolveOld(s: Schema): { s: Schema; name?: string } {
    let name: string | undefined;
    for (let i = 0; s.$ref && i < 16; i++) {
      name = refName(s.$ref);
      const def = this.oldDefs[name];
      if (!def) throw new Error(`${this.version}: no definition ${name}`);
      s = def;
    }
    return name === undefined ? { s } : { s, name };
  }

  private walk(nodeIn: Schema | undefined, oldIn: Schema | undefined): void {
    if (!nodeIn || !oldIn || typeof nodeIn !== 'object' || typeof oldIn !== 'object') return;
    const n = this.resolveNew(nodeIn);
    const o = this.resolveOld(oldIn);
    if (n.name !== undefined) {
      const key = `${n.name}\u0000${this.version}\u0000${o.name ?? ''}`;
      if (this.visited.has(key)) return;
      this.visited.add(key);
    }
    const node = n.s;
    const old = o.s;
    if (isObject(node) || isObject(old)) {
      if (isObject(node)) this.object(node, old, o.name);
      return;
    }
    if (node.type === 'array' || node.items) {
      if (old.type === 'array' || old.items) this.walk(node.items, old.items);
      return;
    }
    if (Array.isArray(node.enum) && Array.isArray(old.enum)) {
      for (const v of old.enum) if (!node.enum.includes(v)) node.enum.push(v);
    }
  }

  /** The parts of an object type that hold fields: itself and its `allOf` parts, resolved and named. */
  private parts(s: Schema, name?: string): Array<{ s: Schema; name?: string }> {
    const out: Array<{ s: Schema; name?: string }> = [name === undefined ? { s } : { s, name }];
    for (const p of (s.allOf ?? []) as Schema[]) {
      const r = this.resolveNew(p);
      out.push(...this.parts(r.s, r.name));
    }
    return out;
  }

  /** An older object's fields, each with the definition it comes from (through `allOf`). */
  private oldFields(s: Schema, into: Map<string, { s: Schema; from?: string }>, from?: string): Map<string, { s: Schema; from?: string }> {
    for (const p of (s.allOf ?? []) as Schema[]) {
      const r = this.resolveOld(p);
      this.oldFields(r.s, into, r.name ?? from);
    }
    for (const [k, v] of Object.entries<Schema>(s.properties ?? {})) if (!into.has(k)) into.set(k, from === undefined ? { s: v } : { s: v, from });
    return into;
  }

  private object(node: Schema, old: Schema, oldName: string | undefined): void {
    const parts = this.parts(node);
    for (const p of parts) this.track(p.s).versions.add(this.version);
    for (const [field, { s: schema, from }] of this.oldFields(old, new Map(), oldName)) {
      const owner = parts.find((p) => p.s.properties && field in p.s.properties)?.s;
      if (owner) {
        const fields = this.track(owner).fields;
        const versions = fields.get(field);
        if (versions) versions.add(this.version);
        else fields.set(field, new Set([this.version]));
        this.walk(owner.properties[field], schema);
        continue;
      }
      // A field this version has and no newer one: added back, with this version's schema, to the
      // part of the same name it came from (Resources.KernelMemory), else to the object itself.
      const home = parts.find((p) => from !== undefined && p.name === from)?.s ?? node;
      home.properties ??= {};
      home.properties[field] = this.adopt(schema, this.oldDefs);
      this.track(home).fields.set(field, new Set([this.version]));
    }
    const ap = node.additionalProperties;
    if (ap && typeof ap === 'object' && old.additionalProperties && typeof old.additionalProperties === 'object') {
      this.walk(ap, old.additionalProperties);
    }
  }

  private track(s: Schema): Seen {
    let t = this.seen.get(s);
    if (!t) this.seen.set(s, (t = { versions: new Set(), fields: new Map() }));
    return t;
  }

  /** Writes the since/removed marks, from what every version had. */
  mark(all: readonly string[]): void {
    const span = (have: Set<string>): [number, number] => {
      const idx = all.map((v, i) => (have.has(v) ? i : -1)).filter((i) => i >= 0);
      return [idx[0]!, idx[idx.length - 1]!];
    };
    for (const [owner, t] of this.seen) {
      const [first, last] = span(t.versions);
      for (const [field, versions] of t.fields) {
        const schema: Schema | undefined = owner.properties?.[field];
        if (!schema) continue;
        const [from, to] = span(versions);
        if (from > first) {
          schema[SINCE] = all[from];
          if (Array.isArray(owner.required)) owner.required = owner.required.filter((r: string) => r !== field);
        }
        if (to < last) {
          schema[REMOVED] = all[to + 1];
          if (Array.isArray(owner.required)) owner.required = owner.required.filter((r: string) => r !== field);
        }
      }
    }
  }
}

function isObject(s: Schema): boolean {
  return Boolean(s.properties) || Array.isArray(s.allOf);
}

function operationsById(spec: Schema): Map<string, Schema> {
  const out = new Map<string, Schema>();
  for (const item of Object.values<Schema>(spec.paths ?? {})) {
    for (const op of Object.values<Schema>(item)) {
      if (op && typeof op === 'object' && op.operationId) out.set(renamedOperations[op.operationId] ?? op.operationId, op);
    }
  }
  return out;
}

function resultOf(op: Schema | undefined): Schema | undefined {
  return (op?.responses?.['200'] ?? op?.responses?.['201'])?.schema;
}

function bodyOf(op: Schema | undefined): Schema | undefined {
  return ((op?.parameters ?? []) as Schema[]).find((p) => p.in === 'body')?.schema;
}

/**
 * The merged definitions; replaces each operation's result and body schema with its merged copy.
 * `specs` oldest first; nothing in them is changed.
 */
export function mergeTypes(specs: SpecFile[], ops: OperationModel[]): Defs {
  const newest = specs[specs.length - 1]!;
  const merger = new Merger(newest);
  const byVersion = specs.map((s) => ({ ...s, ops: operationsById(s.spec) }));
  // Each operation's schemas come from the newest version that has it.
  for (const o of ops) {
    const home = [...byVersion].reverse().find((s) => s.ops.has(o.id));
    if (!home) continue; // an undocumented operation (undocumented.ts): no schemas to adopt
    const defs = (home.spec.definitions ?? {}) as Defs;
    if (o.resultSchema) o.resultSchema = merger.adopt(o.resultSchema, defs);
    for (const p of o.params) if (p.in === 'body' && p.schema) p.schema = merger.adopt(p.schema, defs);
  }
  // Results first: a field dropped from a definition (ContainerConfig.MacAddress) is then added
  // back to that definition, where a body that composes it (ContainerCreate's allOf) finds it.
  for (const schemaOf of [resultOf, bodyOf]) {
    for (const s of [...byVersion].reverse()) {
      const defs = (s.spec.definitions ?? {}) as Defs;
      for (const o of ops) {
        const op = s.ops.get(o.id);
        const target = schemaOf === resultOf ? o.resultSchema : o.params.find((p) => p.in === 'body')?.schema;
        if (op && target) merger.merge(target, schemaOf(op), s.version, defs);
      }
    }
  }
  merger.mark(specs.map((s) => s.version));
  return merger.defs;
}
