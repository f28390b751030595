/**
 * Handles: `docker.container(id)`, `docker.image(ref)`, ... objects whose methods are the friendly
 * methods of one group with the resource's id bound (`docker.container(id).logs({ tail: '10' })`).
 *
 * Which methods a handle has is derived, never listed by hand: the generated FRIENDLY table's
 * methods whose first path parameter is the group's own resource (`/containers/{id}/...`; the
 * generator emits the same set as the `FriendlyIdMethods` type), plus the hand-written methods the
 * group has on top of the table (`containers.exec`, `copyTo`, ...) whose first argument is the id.
 * The methods called are the installed ones, so hand-written overrides (logs as frames, attach as a
 * session) are what handles call too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerError, ValidationError } from '../errors.js';
import { FRIENDLY, type FriendlyIdMethods } from '../generated/friendly.js';
import type * as G from '../generated/friendly.js';
import { OPERATIONS } from '../generated/operations.js';
import type { CallOptions } from '../request/types.js';
import type { OperationContext } from './context.js';
import type { DockerGroups } from './groups.js';

/** `Symbol.asyncDispose`, or the symbol TypeScript's and esbuild's `await using` helpers fall back to where the runtime lacks it. */
export const asyncDispose: typeof Symbol.asyncDispose = (Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')) as typeof Symbol.asyncDispose;

/** Handle name -> the friendly group it binds. */
export const HANDLE_GROUPS = {
  container: 'containers',
  image: 'images',
  network: 'networks',
  volume: 'volumes',
  service: 'services',
  node: 'nodes',
  secret: 'secrets',
  config: 'configs',
  plugin: 'plugins',
  task: 'tasks',
  execInstance: 'exec',
} as const satisfies Record<string, keyof DockerGroups & keyof FriendlyIdMethods>;

export type HandleName = keyof typeof HANDLE_GROUPS;
type GroupName = (typeof HANDLE_GROUPS)[HandleName];

/** The generated interface of a group (the FRIENDLY table's methods, before the hand-written ones). */
type GeneratedGroup<N extends GroupName> = G.FriendlyGroups[N];
/** The group as installed on the client (generated methods plus hand-written ones). */
type InstalledGroup<N extends GroupName> = DockerGroups[N];

/** A method with its first (id) parameter dropped; an overloaded method keeps both of its overloads. */
export type DropFirst<F> = F extends { (first: string, ...a: infer A1): infer R1; (first: string, ...a: infer A2): infer R2 }
  ? { (...a: A1): R1; (...a: A2): R2 }
  : never;

type FirstParam<F> = F extends (first: infer P, ...rest: never[]) => unknown ? P : never;

/** Hand-written methods of a group that the FRIENDLY table does not have. */
type Extras<N extends GroupName> = Exclude<keyof InstalledGroup<N>, keyof GeneratedGroup<N>>;
/** ... of which those whose first argument is the id (a string). */
type IdFirstExtras<N extends GroupName> = { [K in Extras<N>]: [FirstParam<InstalledGroup<N>[K]>] extends [string] ? K : never }[Extras<N>];
/** ... and those whose first argument is something else (`images.import(source)`). */
type OtherExtras<N extends GroupName> = Exclude<Extras<N>, IdFirstExtras<N>>;

/** The bound methods of a group's handle, typed from the group's own interface. */
export type BoundMethods<N extends GroupName> = {
  [K in (FriendlyIdMethods[N] & keyof InstalledGroup<N>) | IdFirstExtras<N>]: DropFirst<InstalledGroup<N>[K]>;
};

interface HandleBase {
  /** The id (or name) the methods are bound to, as given. */
  readonly id: string;
}

/** `docker.container(id)`: every container method with the id bound; `await using` stops and removes it. */
export type ContainerHandle = HandleBase & BoundMethods<'containers'> & AsyncDisposable;
/** `docker.image(ref)`: inspect, history, tag, push, remove, get, pull, ... with the name bound. */
export type ImageHandle = HandleBase & BoundMethods<'images'>;
export type NetworkHandle = HandleBase & BoundMethods<'networks'>;
export type VolumeHandle = HandleBase & BoundMethods<'volumes'>;
export type ServiceHandle = HandleBase & BoundMethods<'services'>;
export type NodeHandle = HandleBase & BoundMethods<'nodes'>;
export type SecretHandle = HandleBase & BoundMethods<'secrets'>;
export type ConfigHandle = HandleBase & BoundMethods<'configs'>;
export type PluginHandle = HandleBase & BoundMethods<'plugins'>;
export type TaskHandle = HandleBase & BoundMethods<'tasks'>;
/** `docker.execInstance(id)`: an exec instance made by `exec.create` (start, resize, inspect). */
export type ExecHandle = HandleBase & BoundMethods<'exec'>;

/**
 * The hand-written methods not in the FRIENDLY table that take something other than the id first;
 * run time cannot see parameter types, so they are named here, and the compiler checks the list
 * against the types (`inStep` below fails to compile when a group gains such a method unlisted).
 */
const OTHER_EXTRAS = {
  containers: [],
  images: ['import'],
  networks: [],
  volumes: [],
  services: [],
  nodes: [],
  secrets: [],
  configs: [],
  plugins: [],
  tasks: [],
  exec: [],
} as const satisfies { [N in GroupName]: readonly OtherExtras<N>[] };
const inStep: { [N in GroupName]: [Exclude<OtherExtras<N>, (typeof OTHER_EXTRAS)[N][number]>] extends [never] ? true : false } = {
  containers: true,
  images: true,
  networks: true,
  volumes: true,
  services: true,
  nodes: true,
  secrets: true,
  configs: true,
  plugins: true,
  tasks: true,
  exec: true,
};
void inStep;

type AnyMethod = (...args: unknown[]) => unknown;

/** Which methods of an installed group a handle binds (the rule above, at run time). */
export function boundMethodNames(group: GroupName, installed: Readonly<Record<string, unknown>>): string[] {
  const table = FRIENDLY[group] ?? {};
  const names: string[] = [];
  for (const name of Object.keys(installed)) {
    if (typeof installed[name] !== 'function') continue;
    const row = table[name];
    if (row) {
      const [id, first] = row;
      if (first !== undefined && OPERATIONS[id].path.startsWith(`/${group}/{${first}}`)) names.push(name);
    } else if (!(OTHER_EXTRAS[group] as readonly string[]).includes(name)) {
      names.push(name);
    }
  }
  return names;
}

/** Makes handles for one client: the bound method names are worked out once per group. */
export class HandleFactory {
  private readonly names = new Map<GroupName, string[]>();

  constructor(
    private readonly groups: DockerGroups,
    private readonly ctx: OperationContext,
  ) {}

  make<H extends HandleName>(handle: H, id: string): unknown {
    if (typeof id !== 'string' || id === '') {
      throw new ValidationError(`docker.${handle}(id): the id must be a non-empty string, not ${id === '' ? 'an empty string' : typeof id}`, { parameter: 'id' });
    }
    const group = HANDLE_GROUPS[handle];
    const installed = this.groups[group] as unknown as Record<string, AnyMethod>;
    let names = this.names.get(group);
    if (!names) this.names.set(group, (names = boundMethodNames(group, installed)));
    const target: Record<string | symbol, unknown> = { id };
    for (const name of names) target[name] = (...args: unknown[]) => installed[name]!(id, ...args);
    if (handle === 'container') target[asyncDispose] = () => removeContainer(this.ctx, id);
    return Object.freeze(target);
  }
}

/**
 * `await using` a container: removed with force (the engine kills it first) and its anonymous
 * volumes with it, like `docker rm -fv`. A container already gone, or being removed already, is fine.
 */
export async function removeContainer(ctx: OperationContext, id: string, options?: CallOptions): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.call('ContainerDelete', { id, force: true, v: true }, options);
      return;
    } catch (err) {
      if (err instanceof DockerError && (err.code === 'NOT_FOUND' || (err.code === 'CONFLICT' && /already in progress/i.test(err.message)))) return;
      // Podman 4.3 refuses a forced remove of a container that is exiting at that moment (500
      // "could not be stopped: ... container state improper: stopped"); a moment later it is done.
      if (attempt < 5 && err instanceof DockerError && err.statusCode === 500 && /could not be stopped[\s\S]*state improper/i.test(err.message)) {
        await sleep(20 * attempt, undefined, options?.signal ? { signal: options.signal } : undefined).catch(() => undefined);
        continue;
      }
      throw err;
    }
  }
}
