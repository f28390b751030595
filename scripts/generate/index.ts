/**
 * dockhand's generator: reads the Engine API specs (one JSON file per version; by default spec/, the
 * facts-only copy that scripts/spec-facts.ts makes) and writes src/generated/. `--check` writes to a
 * temporary folder and fails if src/generated differs.
 *
 *   tsx scripts/generate/index.ts [--specs DIR] [--out DIR] [--check]
 */
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, loadSpecs } from './model.js';
import { emit } from './emit.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const specsDir = resolve(flag('--specs') ?? process.env.DOCKHAND_SPECS ?? join(root, 'spec'));
const outDir = resolve(flag('--out') ?? join(root, 'src/generated'));
const check = args.includes('--check');

if (!existsSync(specsDir)) {
  console.error(`generate: no spec folder at ${specsDir} (pass --specs DIR or set DOCKHAND_SPECS)`);
  process.exit(2);
}
const specs = loadSpecs(specsDir);
const ops = buildModel(specs);
const files = emit(ops, specs);

if (check) {
  const tmp = mkdtempSync(join(tmpdir(), 'dockhand-gen-'));
  try {
    const stale: string[] = [];
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(tmp, name), text);
      const current = existsSync(join(outDir, name)) ? readFileSync(join(outDir, name), 'utf8') : null;
      if (current !== text) stale.push(name);
    }
    for (const name of readdirSync(outDir)) if (!(name in files)) stale.push(`${name} (not generated)`);
    if (stale.length) {
      console.error(`generate:check: src/generated is stale: ${stale.join(', ')}. Run npm run generate.`);
      process.exit(1);
    }
    console.log(`generate:check: src/generated is fresh (${ops.length} operations from ${specs.length} specs)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(outDir, name), text);
  console.log(`generate: wrote ${Object.keys(files).length} files for ${ops.length} operations from ${specs.length} specs (${specs[0]!.version}–${specs[specs.length - 1]!.version})`);
}
