/** Turns a swagger 2.0 schema into a TypeScript type expression. Facts only: no description text. */
export type Schema = Record<string, any>;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function propKey(name: string): string {
  return IDENT.test(name) ? name : JSON.stringify(name);
}

export function refName(ref: string): string {
  const m = /^#\/definitions\/(.+)$/.exec(ref);
  if (!m) throw new Error(`unsupported $ref ${ref}`);
  return m[1]!;
}

function literal(v: unknown): string {
  return JSON.stringify(v);
}

function nullable(t: string, s: Schema): string {
  return s['x-nullable'] === true ? `${wrap(t)} | null` : t;
}

function wrap(t: string): string {
  return /[|&]/.test(t) && !/^[{(]/.test(t) ? `(${t})` : t;
}

export function schemaToTs(s: Schema | undefined, indent = ''): string {
  if (!s || typeof s !== 'object') return 'unknown';
  if (s.$ref) return nullable(refName(s.$ref), s);
  if (Array.isArray(s.allOf)) {
    const parts = s.allOf.map((p: Schema) => wrap(schemaToTs(p, indent)));
    const own = s.properties ? [objectType(s, indent)] : [];
    return nullable([...parts, ...own].join(' & '), s);
  }
  if (Array.isArray(s.enum) && s.enum.length > 0) {
    return nullable(s.enum.map(literal).join(' | '), s);
  }
  switch (s.type) {
    case 'string':
      return nullable(s.format === 'binary' ? 'Uint8Array' : 'string', s);
    case 'integer':
    case 'number':
      return nullable('number', s);
    case 'boolean':
      return nullable('boolean', s);
    case 'array':
      return nullable(`Array<${schemaToTs(s.items, indent)}>`, s);
    case 'object':
    case undefined:
      if (s.properties || s.additionalProperties !== undefined) return nullable(objectType(s, indent), s);
      return nullable(s.type === 'object' ? 'Record<string, unknown>' : 'unknown', s);
    default:
      return 'unknown';
  }
}

/** The JSDoc line saying when a field came and went, from the marks of merge-types.ts. */
function versionTags(s: Schema, indent: string): string {
  const tags: string[] = [];
  if (typeof s['x-dockhand-since'] === 'string') tags.push(`@since API ${s['x-dockhand-since']}`);
  if (typeof s['x-dockhand-removed'] === 'string') tags.push(`@deprecated Removed in API ${s['x-dockhand-removed']}`);
  return tags.length ? `${indent}/** ${tags.join(' ')} */\n` : '';
}

function objectType(s: Schema, indent: string): string {
  const props: Record<string, Schema> = s.properties ?? {};
  const required = new Set<string>(Array.isArray(s.required) ? s.required : []);
  const inner = indent + '  ';
  const lines = Object.keys(props).map(
    (k) => `${versionTags(props[k]!, inner)}${inner}${propKey(k)}${required.has(k) ? '' : '?'}: ${schemaToTs(props[k], inner)};`,
  );
  const ap = s.additionalProperties;
  let record = '';
  if (ap === true || (ap && typeof ap === 'object')) {
    record = `Record<string, ${ap === true ? 'unknown' : schemaToTs(ap, indent)}>`;
  }
  if (lines.length === 0) return record || '{}';
  const obj = `{\n${lines.join('\n')}\n${indent}}`;
  return record ? `${obj} & ${record}` : obj;
}
