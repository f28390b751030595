/**
 * Type-level tests: compiled by `npm run typecheck` (tsconfig.check.json), never run. Each
 * `@ts-expect-error` line must fail to compile, or the typecheck fails: misuse is refused, while
 * fields of every API version (older ones marked `@deprecated Removed in API x`) compile.
 */
import type { BuildResult, ContainerInspectResponse, Docker, ExecStartResult, HijackedConnection, HostConfig, Mount, NetworkSettings } from '../../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

// ---- results carry the fields of every version

/** A 1.41 engine's answer: NetworkSettings.IPAddress (gone from API 1.52) reads without a cast. */
export function oldResultFields(c: ContainerInspectResponse): Array<string | null | undefined> {
  const settings: NetworkSettings | undefined = c.NetworkSettings;
  return [settings?.IPAddress, settings?.Gateway, settings?.MacAddress, c.Config?.MacAddress];
}

/** A newer engine's fields are there too (HostConfig.Annotations from API 1.43). */
export function newResultFields(c: ContainerInspectResponse): Record<string, string> | null | undefined {
  return c.HostConfig?.Annotations;
}

// ---- bodies: fields of old and new versions compile; typos, wrong types and enums do not

export async function bodies(docker: Docker): Promise<void> {
  await docker.containers.create({
    body: {
      Image: 'busybox',
      MacAddress: '02:42:ac:11:00:02', // a container field until API 1.51
      HostConfig: { Annotations: { a: 'b' }, KernelMemory: 1 << 20, Memory: 1 << 26 },
    },
  });
  // @ts-expect-error a misspelt field
  await docker.containers.create({ body: { Imagee: 'busybox' } });
  // @ts-expect-error a misspelt nested field
  await docker.containers.create({ body: { Image: 'busybox', HostConfig: { Memroy: 1 } } });
  // @ts-expect-error a wrong type
  await docker.containers.update('c', { update: { Memory: '1g' } });
  // @ts-expect-error a value outside the enum
  const bad: Mount = { Type: 'bindd', Target: '/x' };
  void bad;
  await docker.networks.create({ networkConfig: { Name: 'n', CheckDuplicate: true } }); // until API 1.45
  // @ts-expect-error Name is required
  await docker.networks.create({ networkConfig: { Driver: 'bridge' } });
}

/** Removed fields are optional: an object without them is a valid HostConfig. */
export const hostConfig: HostConfig = { Memory: 1 };

// ---- ExecStart: detached resolves to undefined, attached to a connection

export async function execStart(docker: Docker): Promise<void> {
  const detached = await docker.api.ExecStart({ id: 'e', execStartConfig: { Detach: true } });
  assertType<Equal<typeof detached, undefined>>();
  const attached = await docker.api.ExecStart({ id: 'e', execStartConfig: { Tty: true } });
  assertType<Equal<typeof attached, ExecStartResult>>();
  const conn: HijackedConnection = attached;
  void conn;
  // @ts-expect-error an attached start is not undefined
  const wrong: undefined = await docker.api.ExecStart({ id: 'e' });
  void wrong;
  const viaGroup = await docker.exec.start('e', { Detach: true });
  assertType<Equal<typeof viaGroup, void>>();
}

// ---- progress streams and builds carry their message and result types

export async function progress(docker: Docker): Promise<void> {
  for await (const m of docker.images.pull('busybox')) {
    const id: string | undefined = m.id;
    void id;
  }
  const built: BuildResult = await docker.images.build('.');
  const imageId: string | undefined = built.imageId;
  void imageId;
  // @ts-expect-error the typed call path refuses unknown operations
  await docker.api.ContainerFly({});
}
