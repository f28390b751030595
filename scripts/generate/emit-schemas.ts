/** Writes src/generated/schemas.ts: the compiled JSON-body table (see body-schema.ts for its grammar). */
import type { BodyTable } from './body-schema.js';
import { propKey } from './schema-to-ts.js';

export function schemasFile(table: BodyTable, banner: string): string {
  const out = [
    banner,
    "import type { OperationId } from './operations.js';",
    '',
    '/** Object types of JSON bodies: field -> `[!]shape[ +since][ -until]` (read by src/request/body-shape.ts). */',
    'export const BODY_TYPES: Readonly<Record<string, Readonly<Record<string, string>>>> = {',
  ];
  for (const [type, fields] of Object.entries(table.types)) {
    const entries = Object.entries(fields).map(([f, s]) => `${propKey(f)}: ${JSON.stringify(s).replace(/^"(.*)"$/, "'$1'")}`);
    out.push(`  ${propKey(type)}: { ${entries.join(', ')} },`);
  }
  out.push('};', '', '/** operationId -> [body parameter, shape of the body]. */', 'export const BODY_ROOTS: Readonly<Partial<Record<OperationId, readonly [string, string]>>> = {');
  for (const [id, [param, shape]] of Object.entries(table.roots)) out.push(`  ${id}: [${JSON.stringify(param).replace(/"/g, "'")}, '${shape}'],`);
  out.push('};', '');
  return out.join('\n');
}
