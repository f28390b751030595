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
import { ENGINE, ENGINE_HOST, ENGINE_SOCKET, TEST_IMAGE, TEST_LABEL } from '../support/engine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX_CLI = path.join(path.dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/cli.mjs');
const EXAMPLE_LABEL = 'dockhand.example';
const docker = new Docker();

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The engine's network namespace, for the engines scripts/engines.sh runs in one: ports they
 * publish are on that namespace's 127.0.0.1, so an example that reaches a published port runs
 * there (its unix socket works from any namespace).
 */
const NETNS = /^\/run\/dockhand-engines\/([\w-]+)\.sock$/.exec(ENGINE_SOCKET ?? '')?.[1];

/** Runs one example to its end (60 s at most) with the engine under test. */
async function runExample(file: string, args: string[] = [], env: Record<string, string> = {}, where: 'here' | 'engine-network' = 'here'): Promise<Ran> {
  const command = [process.execPath, TSX_CLI, '--tsconfig', 'examples/tsconfig.json', `examples/${file}`, ...args];
  if (where === 'engine-network' && NETNS) command.unshift('nsenter', `--net=/run/netns/dockhand-${NETNS}`, '--');
  try {
    const { stdout, stderr } = await promisify(execFile)(command[0]!, command.slice(1), {
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
  for (const v of (await docker.volumes.list({ filters })).Volumes ?? []) {
    left.push(`volume ${v.Name}`);
    await docker.volumes.remove(v.Name).catch(() => undefined);
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

  example('run-output.ts', 'docker.run: exit code, stdout and stderr apart, stdin', async () => {
    const { stdout } = ok(await runExample('run-output.ts'));
    expect(stdout).toContain('exit 3, stdout "out\\n", stderr "err\\n"');
    expect(stdout).toContain('with stdin: "FROM STDIN\\n"');
  });

  example('logs-until-line.ts', 'waitFor a log line, then the log as whole lines', async () => {
    const { stdout } = ok(await runExample('logs-until-line.ts'));
    expect(stdout).toContain('ready: "ready on port 8080" (port 8080)');
    expect(stdout).toContain('stdout: starting\nstdout: ready on port 8080\nstdout: tick 1\nstdout: tick 2\nstdout: tick 3\n');
    expect(stdout).toMatch(/^stderr: bye$/m);
    expect(stdout).toMatch(/^exit code 0$/m);
  });

  example('ports.ts', 'a random published port, waited for over HTTP, then fetched', async () => {
    const { stdout } = ok(await runExample('ports.ts', [], {}, 'engine-network'));
    expect(stdout).toMatch(/^80\/tcp published on host port \d+$/m);
    expect(stdout).toContain('GET / -> 200 "hello over http"');
  });

  example('events.ts', 'events subscribed, ready awaited, then the container: every event seen', async () => {
    const { stdout } = ok(await runExample('events.ts'));
    // Podman reports more (init, cleanup) and says remove for destroy: the order holds all the same
    const seen = /^seen in order: (.*)$/m.exec(stdout)?.[1]?.split(', ') ?? [];
    const order = ['create', 'start', 'die', ENGINE.podman ? 'remove' : 'destroy'].map((a) => seen.indexOf(a));
    expect(order.every((i) => i >= 0), stdout).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  example('handles.ts', 'bound methods, and await using removes the container and closes the client', async () => {
    const { stdout } = ok(await runExample('handles.ts'));
    expect(stdout).toMatch(/^container [0-9a-f]{12} running: true$/m);
    expect(stdout).toMatch(/^exec: 42$/m);
    expect(stdout).toMatch(/^renamed: \/dockhand-example-handles-\d+$/m);
    expect(stdout).toMatch(/^image dockhand-test\/busybox:latest: sha256:[0-9a-f]{12}$/m);
    expect(stdout).toMatch(/^disposed: container removed, client closed$/m);
  });

  example('cleanup.ts', 'everything labelled is removed after a failure half way', async () => {
    const { stdout } = ok(await runExample('cleanup.ts'));
    expect(stdout).toContain('failed: something failed half way; cleaning up');
    expect(stdout).toMatch(/^removed 3 container\(s\), 1 volume\(s\), 1 network\(s\)$/m);
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
