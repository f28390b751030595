/**
 * The published shape: build, `npm pack`, install the tarball into a fresh project, and use it
 * from ESM, CommonJS and TypeScript there, against the real engine.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });

describe('the packed package', () => {
  let project: string;

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'dockhand-pkg-'));
    run(process.execPath, ['scripts/build.mjs'], root);
    run('npm', ['pack', '--pack-destination', project], root);
    const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'))!;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    run('npm', ['install', '--prefer-offline', '--no-save', `./${tarball}`], project);
  }, 180_000);

  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('contains dist and no sources, tests or specs', () => {
    const listing = run('npm', ['pack', '--dry-run', '--json'], root);
    const files = (JSON.parse(listing) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/esm/index.js');
    expect(files).toContain('dist/cjs/index.js');
    expect(files).toContain('dist/esm/index.d.ts');
    expect(files.filter((f) => /^(src|test|scripts|bench)\//.test(f))).toEqual([]);
  });

  it('imports from ESM and talks to the engine', () => {
    writeFileSync(
      join(project, 'esm.mjs'),
      `import { Docker, NotFoundError } from 'dockhand';
const docker = new Docker();
const v = await docker.apiVersion();
const err = await docker.containers.inspect('dockhand-no-such-container').catch((e) => e);
console.log(JSON.stringify({ v, ping: await docker.system.ping(), notFound: err instanceof NotFoundError }));
await docker.close();`,
    );
    const out = JSON.parse(run(process.execPath, ['esm.mjs'], project));
    expect(out).toMatchObject({ ping: 'OK', notFound: true });
    expect(out.v).toMatch(/^1\.\d+$/);
  });

  it('requires from CommonJS', () => {
    writeFileSync(
      join(project, 'cjs.cjs'),
      `const { Docker, ValidationError } = require('dockhand');
const docker = new Docker();
docker.system.ping().then(async (ping) => {
  let validation = false;
  try { await docker.containers.list({ all: 'yes' }); } catch (e) { validation = e instanceof ValidationError; }
  console.log(JSON.stringify({ ping, validation }));
  await docker.close();
});`,
    );
    expect(JSON.parse(run(process.execPath, ['cjs.cjs'], project))).toEqual({ ping: 'OK', validation: true });
  });

  it('type-checks a TypeScript consumer (ESM and CommonJS resolution)', () => {
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { Docker, type ContainerInspectResponse, type ContainerCreateParams, ApiVersionError } from 'dockhand';
const docker = new Docker({ host: 'unix:///var/run/docker.sock', apiVersion: '1.41' });
const params: ContainerCreateParams = { name: 'x', body: { Image: 'busybox', Cmd: ['true'] } };
export async function f(): Promise<string | undefined> {
  const c: ContainerInspectResponse = await docker.containers.inspect('x', { size: true });
  const list = await docker.api.ContainerList({ all: true, filters: { label: ['a=b'] } });
  void params; void list[0]?.Id; void ApiVersionError;
  // @ts-expect-error: a boolean parameter does not take a string
  await docker.containers.list({ all: 'yes' });
  return c.State?.Status;
}
`,
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    for (const [module, resolution] of [['nodenext', 'nodenext'], ['commonjs', 'node10'], ['esnext', 'bundler']]) {
      run(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--types', 'node', '--typeRoots', join(root, 'node_modules/@types'), '--module', module!, '--moduleResolution', resolution!, '--target', 'es2022', 'consumer.ts'], project);
    }
  }, 60_000);
});
