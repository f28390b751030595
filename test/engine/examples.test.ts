/**
 * Every file of examples/ runs against the engine, as a user runs it (`tsx examples/x.ts`, with
 * `dockhand` resolved to the source by examples/tsconfig.json), so an example that rots fails CI.
 * Examples label what they create `dockhand.example`; whatever one leaves behind is removed here
 * (and counted as a failure).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Docker } from '../../src/index.js';
import { ENGINE_HOST, TEST_IMAGE, TEST_LABEL } from '../support/engine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX_CLI = path.join(path.dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/cli.mjs');
const EXAMPLE_LABEL = 'dockhand.example';
const docker = new Docker();

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one example to its end (60 s at most) with the engine under test. */
async function runExample(file: string, args: string[] = [], env: Record<string, string> = {}): Promise<Ran> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [TSX_CLI, '--tsconfig', 'examples/tsconfig.json', `examples/${file}`, ...args], {
      cwd: ROOT,
      timeout: 60_000,
      maxBuffer: 16 << 20,
      env: { ...process.env, DOCKER_HOST: ENGINE_HOST, EXAMPLE_IMAGE: TEST_IMAGE, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** What examples left behind, removed. */
async function leftovers(): Promise<string[]> {
  const filters = { label: [EXAMPLE_LABEL] };
  const left: string[] = [];
  for (const c of await docker.containers.list({ all: true, filters })) {
    left.push(`container ${c.Id}`);
    await docker.containers.remove(c.Id!, { force: true }).catch(() => undefined);
  }
  for (const n of await docker.networks.list({ filters })) {
    left.push(`network ${n.Name}`);
    await docker.networks.remove(n.Id!).catch(() => undefined);
  }
  return left;
}

const images: string[] = [];
const temps: string[] = [];
afterEach(async () => {
  expect(await leftovers()).toEqual([]);
});
afterAll(async () => {
  for (const i of images) await docker.images.remove(i, { force: true }).catch(() => undefined);
  await leftovers();
  for (const t of temps) rmSync(t, { recursive: true, force: true });
  await docker.close();
});

const ok = (ran: Ran): Ran => {
  expect(ran.stderr + ran.stdout, `exit code ${ran.code}`).not.toMatch(/^\s*at .*\(/m); // no stack trace
  expect(ran.code).toBe(0);
  return ran;
};

describe('examples/', () => {
  const tested = new Set<string>();
  const example = (file: string, name: string, body: () => Promise<void>) => {
    tested.add(file);
    it(`${file}: ${name}`, body);
  };

  example('errors.ts', 'every failure typed, bad input refused before sending', async () => {
    const { stdout } = ok(await runExample('errors.ts'));
    expect(stdout).toMatch(/^NotFoundError 404: .*no such container/im);
    expect(stdout).toContain('ValidationError: ContainerCreate: body.HostConfig.Memroy is not a field of HostConfig (did you mean Memory?)');
    expect(stdout).toContain('ApiVersionError: ConfigList requires API >= 1.30; the API version in use is 1.25');
    // Docker refuses to remove a predefined network with 403; Podman says so with a 500.
    expect(stdout).toMatch(/^(ForbiddenError 403|ServerError 500) \(/m);
  });

  example('exec-stdin.ts', 'stdin in, exit code and split output back', async () => {
    const { stdout } = ok(await runExample('exec-stdin.ts'));
    expect(stdout.trim()).toBe('exit 3, stdout "SHOUT THIS\\n", stderr "done\\n"');
  });

  example('copy-in-out.ts', 'a folder in (mode and symlink kept) and back out', async () => {
    const { stdout } = ok(await runExample('copy-in-out.ts'));
    expect(stdout).toMatch(/^-rwxr-xr-x .* run\.sh$/m);
    expect(stdout).toMatch(/home\.html -> index\.html$/m);
    expect(stdout).toContain('copied back: index.html says "changed in the container"');
  });

  example('networks.ts', 'two containers on a user network reach each other by name', async () => {
    const { stdout } = ok(await runExample('networks.ts'));
    expect(stdout).toMatch(/: 2 container\(s\)$/m);
    expect(stdout).toMatch(/^wget dockhand-example-net-\d+-server: exit 0, "\w+"$/m);
  });

  example('build-folder.ts', 'a folder built; .dockerignore honoured; the image id printed', async () => {
    images.push('dockhand-example/hello:latest');
    const { stdout } = ok(await runExample('build-folder.ts'));
    expect(stdout).toMatch(/^built dockhand-example\/hello:latest: sha256:[0-9a-f]{64}$/m);
    const image = await docker.images.inspect('dockhand-example/hello:latest');
    expect(image.Config?.Labels?.[EXAMPLE_LABEL]).toBe('build-folder');
  });

  example('pull-progress.ts', 'per-layer progress of a pull (plain lines without a TTY)', async () => {
    // An image with a layer no engine has yet, pushed to the local registry, then pulled.
    const name = `127.0.0.1:5000/dockhand-example/pull:${process.pid}`;
    images.push(name);
    const build = docker.images.build(contextWith(`FROM ${TEST_IMAGE}\nRUN head -c 3000000 /dev/urandom > /blob\nLABEL ${TEST_LABEL}=true\n`), { tags: name });
    await build;
    await docker.images.push(name);
    await docker.images.remove(name);
    const { stdout } = ok(await runExample('pull-progress.ts', [name]));
    // a layer seen from its start to its end (Podman says Download complete where Docker says Pull complete)
    const layer = /^([0-9a-f]{12}): Pulling fs layer$/m.exec(stdout);
    expect(layer, stdout).not.toBeNull();
    expect(stdout).toMatch(new RegExp(`^${layer![1]}: (Pull complete|Download complete)$`, 'm'));
    expect(stdout).toMatch(new RegExp(`^pulled ${name.replace(/[.]/g, '\\.')}: \\d+ layer\\(s\\), [\\d.]+ MiB$`, 'm'));
    expect((await docker.images.inspect(name)).Id).toMatch(/^sha256:/);
  });

  it('every example is run by this file', () => {
    const files = readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.ts'));
    expect(files.filter((f) => !tested.has(f))).toEqual([]);
  });
});

function contextWith(dockerfile: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dockhand-example-ctx-'));
  temps.push(dir);
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  return dir;
}
