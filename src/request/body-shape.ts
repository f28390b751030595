/**
 * Reads the compiled JSON-body table (src/generated/schemas.ts) into shapes the validator walks.
 * Each object type is read once, on first use, and kept: a call walks its body, never the table.
 *
 * Grammar (written by scripts/generate/body-schema.ts): a shape is `s` string, `i` integer,
 * `n` number, `b` boolean, `o` any object, `*` anything, `=a|b` one of these strings (a value may
 * carry `+since` / `-until`), `[X` an array of X, `{X` a map of X, `@Name` an object type. A field
 * is its shape, then ` +since`, ` -until`, ` !` (required) or ` !since` (required from since).
 */
import { BODY_TYPES } from '../generated/schemas.js';
import { versionKey } from '../version.js';

/** First and last API version (versionKey numbers, and as written for errors) that have something. */
export interface Range {
  readonly since: number;
  readonly until: number;
  readonly sinceText?: string | undefined;
  readonly untilText?: string | undefined;
}

/** What a shape is, as a small number: the validator switches on it for every value it checks. */
export const enum Kind {
  String,
  Integer,
  Number,
  Boolean,
  Object,
  Any,
  Enum,
  Array,
  Map,
  Type,
}

/**
 * One shape. Every shape has all four slots (unused ones undefined), made by `shape()` in one
 * order, so that the validator reads them from objects of one layout.
 */
export interface Shape {
  readonly kind: Kind;
  /** Enum: each value and the versions that have it. */
  readonly values: ReadonlyMap<string, Range> | undefined;
  /** Array and map: the shape of the items. */
  readonly of: Shape | undefined;
  /** Object type. */
  readonly type: BodyType | undefined;
}

function shape(kind: Kind, values?: ReadonlyMap<string, Range>, of?: Shape, type?: BodyType): Shape {
  return { kind, values, of, type };
}

export interface Field extends Range {
  readonly shape: Shape;
  /** First version in which the field is required (Infinity: never). */
  readonly requiredFrom: number;
  /** In every version (no since, no until): no version check needed. */
  readonly always: boolean;
}

export interface BodyType {
  readonly name: string;
  readonly fields: ReadonlyMap<string, Field>;
  /** Fields that some version requires. */
  readonly required: readonly string[];
  /** The shape of fields not listed (additionalProperties), where the type allows them. */
  readonly rest: Shape | undefined;
}

/** Where the table lists what is not a field but the type's additionalProperties. */
const REST_FIELD = '*';

const ALWAYS: Range = { since: 0, until: Infinity };
const PRIMITIVES: Record<string, Shape> = {
  s: shape(Kind.String),
  i: shape(Kind.Integer),
  n: shape(Kind.Number),
  b: shape(Kind.Boolean),
  o: shape(Kind.Object),
  '*': shape(Kind.Any),
};

const types = new Map<string, BodyType>();

/** The object type `name` of the table, read on first use. */
export function bodyType(name: string): BodyType {
  let type = types.get(name);
  if (type) return type;
  const table = BODY_TYPES[name];
  if (!table) throw new Error(`dockhand: no body type ${name} in src/generated/schemas.ts`);
  const fields = new Map<string, Field>();
  const required: string[] = [];
  const made = { name, fields, required, rest: undefined as Shape | undefined };
  types.set(name, made); // before reading the fields: a type may reach itself
  for (const [field, text] of Object.entries(table)) {
    if (field === REST_FIELD) {
      made.rest = parseShape(text);
      continue;
    }
    const [shapeText, ...marks] = text.split(' ');
    let sinceText: string | undefined;
    let untilText: string | undefined;
    let requiredFrom = Infinity;
    for (const mark of marks) {
      if (mark[0] === '+') sinceText = mark.slice(1);
      else if (mark[0] === '-') untilText = mark.slice(1);
      else if (mark[0] === '!') requiredFrom = mark.length > 1 ? versionKey(mark.slice(1)) : 0;
    }
    fields.set(field, {
      shape: parseShape(shapeText!),
      since: sinceText ? versionKey(sinceText) : 0,
      until: untilText ? versionKey(untilText) : Infinity,
      sinceText,
      untilText,
      requiredFrom,
      always: !sinceText && !untilText,
    });
    if (requiredFrom !== Infinity) required.push(field);
  }
  return made;
}

const ENUM_VALUE = /^(.*?)(?:\+(\d+\.\d+))?(?:-(\d+\.\d+))?$/;

export function parseShape(text: string): Shape {
  const primitive = PRIMITIVES[text];
  if (primitive) return primitive;
  switch (text[0]) {
    case '[':
      return shape(Kind.Array, undefined, parseShape(text.slice(1)));
    case '{':
      return shape(Kind.Map, undefined, parseShape(text.slice(1)));
    case '@':
      return shape(Kind.Type, undefined, undefined, bodyType(text.slice(1)));
    case '=': {
      const values = new Map<string, Range>();
      for (const item of text.slice(1).split('|')) {
        const m = ENUM_VALUE.exec(item)!;
        if (!m[2] && !m[3]) {
          values.set(m[1]!, ALWAYS);
          continue;
        }
        values.set(m[1]!, { since: m[2] ? versionKey(m[2]) : 0, until: m[3] ? versionKey(m[3]) : Infinity, sinceText: m[2], untilText: m[3] });
      }
      return shape(Kind.Enum, values);
    }
    default:
      throw new Error(`dockhand: bad shape ${JSON.stringify(text)} in src/generated/schemas.ts`);
  }
}
