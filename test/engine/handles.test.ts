/**
 * Handles against the real engine: `docker.container(id)`, `docker.image(ref)`, `docker.network(id)`,
 * `docker.volume(name)`, `docker.execInstance(id)` with the id bound; which methods they have
 * (derived from the FRIENDLY table and the installed groups); their types; and disposal with
 * `await using` (vitest's transform lowers it; `tsc -p tsconfig.check.json` type-checks this file).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  DockerError,
  Docker,
  NotFoundError,
  OPERATIONS,
  ServerError,
  ValidationError,
  type ContainerHandle,
  type ContainerInspectResponse,
  type ExecHandle,
  type ExecResult,
  type FrameStream,
  type ImageHandle,
} from '../../src/index.js';
import { FRIENDLY } from '../../src/generated/friendly.js';
import { Created, ENGINE, TEST_IMAGE, labels, shownName, uniqueName } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(() => docker.close());

async function gone(id: string): Promise<boolean> {
  return docker.containers.inspect(id).then(
    () => false,
    (err: unknown) => {
      if (err instanceof NotFoundError) return true;
      // Podman 4.3 answers an inspect made while it removes the container with a 500 "does not
      // exist in database: no such container": gone too.
      if (ENGINE.podman && err instanceof ServerError && /no such container/.test(err.message)) return true;
      throw err;
    },
  );
}

/** The methods a handle of `group` should have by the rule: FRIENDLY rows whose path starts with the group's own id. */
function ownIdMethods(group: string): string[] {
  return Object.entries(FRIENDLY[group]!)
    .filter(([, [id, first]]) => first !== undefined && OPERATIONS[id].path.startsWith(`/${group}/{${first}}`))
    .map(([method]) => method);
}

describe('which methods a handle has', () => {
  it('container: every FRIENDLY method on /containers/{id}, plus the hand-written id-first ones; not list/create/prune', () => {
    const handle = docker.container('abc');
    expect(handle.id).toBe('abc');
    const methods = Object.keys(handle).filter((k) => k !== 'id');
    expect(methods).toEqual(expect.arrayContaining([...ownIdMethods('containers'), 'exec', 'copyTo', 'copyFrom']));
    for (const absent of ['list', 'create', 'prune']) expect(methods).not.toContain(absent);
    expect(typeof (handle as unknown as Record<symbol, unknown>)[Symbol.asyncDispose]).toBe('function');
  });

  it('execInstance: start, resize, inspect; not exec.create, whose path id is a container', () => {
    const methods = Object.keys(docker.execInstance('e1')).filter((k) => k !== 'id');
    expect(methods.sort()).toEqual(['inspect', 'resize', 'start']);
    expect(ownIdMethods('exec').sort()).toEqual(['inspect', 'resize', 'start']);
  });

  it('image: the /images/{name} methods, pull(ref) and save(file); not import (its first argument is the source), build, list', () => {
    const methods = Object.keys(docker.image('busybox:latest')).filter((k) => k !== 'id');
    expect(methods.sort()).toEqual([...ownIdMethods('images'), 'pull', 'save'].sort());
    expect(methods).not.toContain('import');
    expect(methods).not.toContain('build');
  });

  it('the other groups: exactly their own-id methods, and the hand-written ones that take the id first', () => {
    // services: the swarm helpers (src/operations/swarm.ts) take the service's id first
    const extras: Partial<Record<string, string[]>> = { services: ['converge', 'rollback', 'scale', 'updateSpec'] };
    const cases = [
      [docker.network('n'), 'networks'],
      [docker.volume('v'), 'volumes'],
      [docker.service('s'), 'services'],
      [docker.node('n'), 'nodes'],
      [docker.secret('s'), 'secrets'],
      [docker.config('c'), 'configs'],
      [docker.plugin('p'), 'plugins'],
      [docker.task('t'), 'tasks'],
    ] as const;
    for (const [handle, group] of cases) {
      expect(Object.keys(handle).filter((k) => k !== 'id').sort(), group).toEqual([...ownIdMethods(group), ...(extras[group] ?? [])].sort());
    }
  });

  it('an empty or non-string id is a ValidationError', () => {
    expect(() => docker.container('')).toThrow(ValidationError);
    expect(() => docker.image(42 as unknown as string)).toThrow(/non-empty string/);
  });

  it('types: each method is the group method without its first parameter (checked by tsc)', () => {
    expectTypeOf<ContainerHandle['inspect']>().parameters.toEqualTypeOf<Parameters<Docker['containers']['inspect']> extends [string, ...infer R] ? R : never>();
    expectTypeOf<ReturnType<ContainerHandle['inspect']>>().toEqualTypeOf<Promise<ContainerInspectResponse>>();
    expectTypeOf<ReturnType<ContainerHandle['logs']>>().toEqualTypeOf<FrameStream>();
    expectTypeOf<ReturnType<ContainerHandle['exec']>>().toEqualTypeOf<Promise<ExecResult>>();
    expectTypeOf<ContainerHandle['id']>().toEqualTypeOf<string>();
    expectTypeOf<ImageHandle>().toHaveProperty('pull');
    // Compile-time only (never called): what handles do not have, and wrong arguments.
    const never = (c: ContainerHandle, i: ImageHandle, e: ExecHandle): void => {
      // @ts-expect-error list is not bound: it takes no id
      void c.list;
      // @ts-expect-error import's first argument is the source, not the image
      void i.import;
      // @ts-expect-error exec.create's id is a container's
      void e.create;
      // @ts-expect-error the id is bound: a second id is a params object
      void c.inspect('other-id');
      // exec.start keeps both overloads: Detach resolves to nothing, else to a session
      expectTypeOf(e.start({ Detach: true })).toEqualTypeOf<Promise<void>>();
    };
    void never;
  });
});

describe('handles against the engine', () => {
  it('container: inspect, logs, exec, copyTo/copyFrom, stop, wait, remove with the id bound', async () => {
    const id = await created.runContainer({ Cmd: ['sh', '-c', 'echo hello-log; exec sleep 300'] });
    const c = docker.container(id);
    expect((await c.inspect()).Id).toBe(id);
    await expect.poll(async () => (await c.logs({ tail: '10' }).text()).stdout, { timeout: 5000 }).toBe('hello-log\n');
    expect(await c.exec({ Cmd: ['sh', '-c', 'echo $((6*7))'] })).toEqual({ exitCode: 0, stdout: '42\n', stderr: '' });

    const dir = await mkdtemp(join(tmpdir(), 'dockhand-handle-'));
    try {
      await writeFile(join(dir, 'in.txt'), 'copied in');
      await c.copyTo(join(dir, 'in.txt'), '/tmp');
      expect((await c.exec({ Cmd: ['cat', '/tmp/in.txt'] })).stdout).toBe('copied in');
      await c.copyFrom('/tmp/in.txt', join(dir, 'out'));
      expect(await readFile(join(dir, 'out'), 'utf8')).toBe('copied in'); // like docker cp: a new path names the file
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    await c.kill();
    expect((await c.wait()).StatusCode).toBe(137);
    await c.remove();
    expect(await gone(id)).toBe(true);
  });

  it('image: inspect, tag and remove through a handle', async () => {
    const img = docker.image(TEST_IMAGE);
    const info = await img.inspect();
    expect(info.RepoTags).toContain(shownName(TEST_IMAGE));
    const repo = `dockhand-test/handle-${uniqueName('tag').slice(-8)}`;
    created.image(`${repo}:1`);
    await img.tag({ repo, tag: '1' });
    const tagged = docker.image(`${repo}:1`);
    expect((await tagged.inspect()).Id).toBe(info.Id);
    await tagged.remove();
    await expect(tagged.inspect()).rejects.toBeInstanceOf(NotFoundError);
  });

  it('network and volume: inspect, connect/disconnect, remove', async () => {
    const net = docker.network(created.network((await docker.networks.create({ body: { Name: uniqueName('h-net'), Labels: labels() } })).Id!));
    const container = await created.runContainer();
    await net.connect({ body: { Container: container } });
    expect(Object.keys((await net.inspect()).Containers ?? {})).toContain(container);
    await net.disconnect({ container: { Container: container } });
    expect(Object.keys((await net.inspect()).Containers ?? {})).not.toContain(container);
    await net.remove();
    await expect(net.inspect()).rejects.toBeInstanceOf(NotFoundError);

    const name = created.volume(uniqueName('h-vol'));
    await docker.volumes.create({ body: { Name: name, Labels: labels() } });
    const vol = docker.volume(name);
    expect((await vol.inspect()).Name).toBe(name);
    await vol.remove();
    await expect(vol.inspect()).rejects.toBeInstanceOf(NotFoundError);
  });

  it('execInstance: inspect and start an exec made with exec.create', async () => {
    const container = await created.runContainer();
    const { Id } = await docker.exec.create(container, { body: { Cmd: ['sh', '-c', 'echo from-exec; exit 2'], AttachStdout: true, AttachStderr: true } });
    const exec = docker.execInstance(Id);
    expect(exec.id).toBe(Id);
    expect((await exec.inspect()).Running).toBe(false);
    const session = await exec.start();
    expect((await session.text()).stdout).toBe('from-exec\n');
    await expect.poll(async () => (await exec.inspect()).ExitCode, { timeout: 5000 }).toBe(2);
  });
});

describe('disposal', () => {
  it('`await using` a container handle removes the container at the end of the block, running or not', async () => {
    const id = await created.runContainer();
    {
      await using c = docker.container(id);
      expect((await c.inspect()).State?.Running).toBe(true);
    }
    expect(await gone(id)).toBe(true);
  });

  it('`await using` a detached run: the container lives for the block', async () => {
    let id = '';
    {
      await using c = await docker.run(TEST_IMAGE, ['sleep', '300'], { detach: true, labels: labels() });
      id = created.container(c.id);
      expect((await c.exec({ Cmd: ['echo', 'inside'] })).stdout).toBe('inside\n');
    }
    expect(await gone(id)).toBe(true);
  });

  it('a container already gone is fine; disposal reports other failures', async () => {
    const id = await created.runContainer();
    await docker.containers.remove(id, { force: true });
    {
      await using c = docker.container(id);
      void c;
    }
    // A closed client cannot remove: that failure is not swallowed.
    const closed = new Docker();
    await closed.close();
    const err = await closed.container('x')[Symbol.asyncDispose]().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect(err).toMatchObject({ code: 'CLOSED' });
  });

  it('`await using` a Docker closes it at the end of the block', async () => {
    let inner: Docker | undefined;
    {
      await using d = new Docker();
      inner = d;
      expect((await d.system.ping())).toBe('OK');
    }
    const err = await inner.system.ping().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'CLOSED' });
  });
});
