/**
 * The friendly groups as users see them: the generated methods, with hand-written ones where an
 * operation needs more than one request/response (streams, sessions, progress, helpers).
 */
import type * as G from '../generated/friendly.js';
import type { ContainerStatsParams } from '../generated/api.js';
import type { AuthResponse, ContainerStatsResponse, CreateImageInfo, EventMessage, PushImageInfo, ServiceUpdateResponse } from '../generated/types.js';
import type { CallOptions, RegistryAuth, UploadBody } from '../request/types.js';
import type { FrameStream } from '../streams/frames.js';
import type { JsonStream } from '../streams/json-iterable.js';
import type { ProgressMessage, ProgressStream } from '../streams/progress.js';
import type { HijackSession } from '../streams/session.js';
import type { Readable } from 'node:stream';
import { copyFrom, copyTo, getArchive, putArchive, statPath, type PathStat, type PutArchiveOptions } from './archive.js';
import { build, type BuildMessage, type BuildOptions, type BuildResult } from './build.js';
import type { BuildkitBuildOptions } from '../buildkit/types.js';
import { attachContainer, startExec, type AttachParams, type ExecStartConfig } from './attach.js';
import type { OperationContext } from './context.js';
import { execInContainer, type ExecOptions, type ExecResult } from './exec.js';
import { importImage, loadImages, pullImage, pushImage, saveImages, type ImportParams, type LoadFile, type ProgressCallOptions, type PullParams, type PushParams, type SaveParams } from './images.js';
import { containerLogs, serviceLogs, taskLogs, type LogsParams, type SwarmLogsParams } from './logs.js';
import { convergeService, rollbackService, scaleService, updateServiceSpec, type ConvergeOptions, type ConvergeProgress, type SpecUpdate, type UpdateSpecParams } from './swarm.js';
import { containerStats, systemEvents, type EventsParams } from './monitor.js';
import { pullPlugin, pushPlugin, upgradePlugin } from './plugins.js';
import { waitFor, type WaitCondition, type WaitForOptions, type WaitResult, type WaitResults } from './wait-for.js';

export interface ContainersGroup extends Omit<G.ContainersApi, 'logs' | 'attach' | 'stats' | 'statPath' | 'getArchive' | 'putArchive'> {
  /** ContainerLogs. Logs as frames; `for await`, `.pipe(stdout, stderr)`, `.text()` or `.lines()`. Never loads the whole log. */
  logs(id: string, params?: LogsParams, options?: CallOptions): FrameStream;
  /** ContainerAttach (hijacked). Attaches: stdin (with `stdin: true`), demultiplexed output, resize. */
  attach(id: string, params?: AttachParams, options?: CallOptions): Promise<HijackSession>;
  /** ContainerStats. Typed stats every second until the loop stops; `{ stream: false }` for one sample. */
  stats(id: string, params?: Omit<ContainerStatsParams, 'id'>, options?: CallOptions): JsonStream<ContainerStatsResponse>;
  /** ContainerExec, ExecStart, ExecInspect. Runs a command and resolves to its exit code, stdout and stderr (stdin optional). */
  exec(id: string, config: ExecOptions, options?: CallOptions): Promise<ExecResult>;
  /** ContainerArchiveInfo. Stat of a path in the container (decoded X-Docker-Container-Path-Stat). */
  statPath(id: string, path: string, options?: CallOptions): Promise<PathStat>;
  /** ContainerArchive. A tar of a path in the container, streamed, with the path's stat. */
  getArchive(id: string, path: string, options?: CallOptions): Promise<{ stat: PathStat; stream: Readable }>;
  /** PutContainerArchive. Extracts a tar (bytes or a stream) into a folder of the container. */
  putArchive(id: string, path: string, tar: UploadBody, params?: PutArchiveOptions, options?: CallOptions): Promise<void>;
  /** ContainerArchiveInfo, PutContainerArchive. Like `docker cp local container:path`: files and folders, modes and symlinks kept, streamed. */
  copyTo(id: string, localPath: string, containerPath: string, options?: CallOptions): Promise<void>;
  /** ContainerArchive. Like `docker cp container:path local`: streamed, never writing outside `localPath`. */
  copyFrom(id: string, containerPath: string, localPath: string, options?: CallOptions): Promise<void>;
  /**
   * ContainerInspect, ContainerLogs, SystemEvents. Waits until a condition holds: `'running'`, `'healthy'`, `{ log }`, `{ exited: true }`,
   * `{ port }`, `{ http }`; resolves to its result. Fails with a WaitError: WAIT_TIMEOUT (60 s by
   * default), CONTAINER_EXITED, NO_HEALTHCHECK.
   */
  waitFor<const C extends WaitCondition>(id: string, condition: C, options?: WaitForOptions): Promise<WaitResult<C>>;
  /** Waits until every condition of the array holds; resolves to their results, in the same order. */
  waitFor<const C extends readonly WaitCondition[]>(id: string, conditions: C, options?: WaitForOptions): Promise<WaitResults<C>>;
}

export interface ExecGroup extends Omit<G.ExecApi, 'start'> {
  /** ExecStart. Starts an exec created with `exec.create`: detached, or attached as a session. */
  start(id: string, config: ExecStartConfig & { Detach: true }, options?: CallOptions): Promise<void>;
  start(id: string, config?: ExecStartConfig, options?: CallOptions): Promise<HijackSession>;
}

export interface ImagesGroup extends Omit<G.ImagesApi, 'push' | 'load' | 'build'> {
  /**
   * ImageBuild. Builds from a local folder (tarred on the fly, honouring .dockerignore) or a remote context
   * (a URL); await it for the image's id (`imageId`), or iterate the builder's messages.
   */
  build(context: string, options?: BuildOptions | BuildkitBuildOptions): ProgressStream<BuildMessage, BuildResult>;
  /** ImageCreate. Pulls `name[:tag|@digest]` (tag `latest` by default); await it, or iterate its progress. */
  pull(ref: string, params?: PullParams, options?: ProgressCallOptions): ProgressStream<CreateImageInfo & ProgressMessage>;
  /** ImageCreate (fromSrc). Imports a rootfs tarball (bytes, stream, or a URL the engine fetches). */
  import(source: UploadBody | URL, params?: ImportParams, options?: ProgressCallOptions): ProgressStream<CreateImageInfo & ProgressMessage>;
  /** ImagePush. Pushes `name[:tag]`, with credentials from config.json unless given; await it, or iterate its progress. */
  push(name: string, params?: PushParams, options?: ProgressCallOptions): ProgressStream<PushImageInfo & ProgressMessage>;
  /** ImageLoad. Loads a tarball of images (from `images.get` / `images.save` / `docker save`): bytes, a stream, or `{ file }` (a local file, read in 1 MB pieces). */
  load(tarball: UploadBody | LoadFile, params?: { quiet?: boolean; platform?: string[] }, options?: ProgressCallOptions): ProgressStream<ProgressMessage>;
  /** ImageGet (ImageGetAll with `others`). Saves images to a local tar file, like `docker save -o` (written to a temporary file, then renamed). */
  save(name: string, file: string, params?: SaveParams, options?: CallOptions): Promise<void>;
}

export interface SystemGroup extends Omit<G.SystemApi, 'events'> {
  /** SystemEvents. Typed engine events; ends by itself with `until`, else when the loop stops or the signal aborts; `ready` once subscribed. */
  events(params?: EventsParams, options?: CallOptions): JsonStream<EventMessage>;
  /** SystemAuth. Checks credentials with a registry; resolves to its status and any identity token. */
  login(auth: RegistryAuth, options?: CallOptions): Promise<AuthResponse | undefined>;
}

export interface PluginsGroup extends Omit<G.PluginsApi, 'pull' | 'upgrade' | 'push'> {
  /** PluginPull. Installs a plugin; await it, or iterate its progress. */
  pull(params: Parameters<typeof pullPlugin>[1], options?: ProgressCallOptions): ProgressStream;
  /** PluginUpgrade. */
  upgrade(name: string, params: Parameters<typeof upgradePlugin>[2], options?: ProgressCallOptions): ProgressStream;
  /** PluginPush. */
  push(name: string, params?: Parameters<typeof pushPlugin>[2], options?: ProgressCallOptions): ProgressStream;
}

export interface ServicesGroup extends Omit<G.ServicesApi, 'logs'> {
  /** ServiceLogs. The logs of every task of the service, as frames. */
  logs(id: string, params?: SwarmLogsParams, options?: CallOptions): FrameStream;
  /**
   * ServiceInspect, TaskList, NodeList. Resolves when every desired task of the service's current spec runs (`Replicas`
   * for a replicated service, one per eligible node for a global one); fails with a
   * ServiceConvergeError (`SERVICE_NOT_CONVERGED`) when tasks keep failing or `timeout` (120 s) passes.
   */
  converge(id: string, options?: ConvergeOptions): Promise<ConvergeProgress>;
  /**
   * ServiceInspect, ServiceUpdate. Updates with the service's current `Version.Index` (no version to pass); retries once
   * on an "update out of sequence" answer. `spec` may be a function of the current spec. The generated
   * `update(id, { version, body })` stays as it is.
   */
  updateSpec(id: string, spec: SpecUpdate, params?: UpdateSpecParams, options?: CallOptions): Promise<ServiceUpdateResponse>;
  /** ServiceInspect, ServiceUpdate (`rollback=previous`). Back to the service's previous spec. */
  rollback(id: string, options?: CallOptions): Promise<ServiceUpdateResponse>;
  /** ServiceInspect, ServiceUpdate. Sets a replicated service's number of replicas. */
  scale(id: string, replicas: number, options?: CallOptions): Promise<ServiceUpdateResponse>;
}

export interface TasksGroup extends Omit<G.TasksApi, 'logs'> {
  /** TaskLogs. A task's logs, as frames. */
  logs(id: string, params?: SwarmLogsParams, options?: CallOptions): FrameStream;
}

export interface DockerGroups extends Omit<G.FriendlyGroups, 'containers' | 'exec' | 'images' | 'system' | 'plugins' | 'services' | 'tasks'> {
  containers: ContainersGroup;
  exec: ExecGroup;
  images: ImagesGroup;
  system: SystemGroup;
  plugins: PluginsGroup;
  services: ServicesGroup;
  tasks: TasksGroup;
}

type Group = Record<string, (...args: never[]) => unknown>;

/** Replaces or adds the hand-written methods on the generated groups. */
export function installOperations(groups: Record<string, Group>, ctx: OperationContext): void {
  Object.assign(groups.containers!, {
    logs: (id: string, params?: LogsParams, options?: CallOptions) => containerLogs(ctx, id, params, options),
    attach: (id: string, params?: AttachParams, options?: CallOptions) => attachContainer(ctx, id, params, options),
    stats: (id: string, params?: Omit<ContainerStatsParams, 'id'>, options?: CallOptions) => containerStats(ctx, id, params, options),
    exec: (id: string, config: ExecOptions, options?: CallOptions) => execInContainer(ctx, id, config, options),
    statPath: (id: string, path: string, options?: CallOptions) => statPath(ctx, id, path, options),
    getArchive: (id: string, path: string, options?: CallOptions) => getArchive(ctx, id, path, options),
    putArchive: (id: string, path: string, tar: UploadBody, params?: PutArchiveOptions, options?: CallOptions) => putArchive(ctx, id, path, tar, params, options),
    copyTo: (id: string, localPath: string, containerPath: string, options?: CallOptions) => copyTo(ctx, id, localPath, containerPath, options),
    copyFrom: (id: string, containerPath: string, localPath: string, options?: CallOptions) => copyFrom(ctx, id, containerPath, localPath, options),
    waitFor: (id: string, condition: WaitCondition | readonly WaitCondition[], options?: WaitForOptions) => waitFor(ctx, id, condition, options),
  });
  Object.assign(groups.exec!, {
    start: (id: string, config?: ExecStartConfig, options?: CallOptions) => startExec(ctx, id, config, options),
  });
  Object.assign(groups.images!, {
    pull: (ref: string, params?: PullParams, options?: ProgressCallOptions) => pullImage(ctx, ref, params, options),
    import: (source: UploadBody | URL, params?: ImportParams, options?: ProgressCallOptions) => importImage(ctx, source, params, options),
    push: (name: string, params?: PushParams, options?: ProgressCallOptions) => pushImage(ctx, name, params, options),
    load: (tarball: UploadBody | LoadFile, params?: { quiet?: boolean }, options?: ProgressCallOptions) => loadImages(ctx, tarball, params, options),
    save: (name: string, file: string, params?: SaveParams, options?: CallOptions) => saveImages(ctx, name, file, params, options),
    build: (context: string, options?: BuildOptions | BuildkitBuildOptions) => build(ctx, context, options),
  });
  Object.assign(groups.system!, {
    events: (params?: EventsParams, options?: CallOptions) => systemEvents(ctx, params, options),
    login: (auth: RegistryAuth, options?: CallOptions) => ctx.call('SystemAuth', { authConfig: auth }, options),
  });
  Object.assign(groups.plugins!, {
    pull: (params: Parameters<typeof pullPlugin>[1], options?: ProgressCallOptions) => pullPlugin(ctx, params, options),
    upgrade: (name: string, params: Parameters<typeof upgradePlugin>[2], options?: ProgressCallOptions) => upgradePlugin(ctx, name, params, options),
    push: (name: string, params?: Parameters<typeof pushPlugin>[2], options?: ProgressCallOptions) => pushPlugin(ctx, name, params, options),
  });
  Object.assign(groups.services!, {
    logs: (id: string, params?: SwarmLogsParams, options?: CallOptions) => serviceLogs(ctx, id, params, options),
    converge: (id: string, options?: ConvergeOptions) => convergeService(ctx, id, options),
    updateSpec: (id: string, spec: SpecUpdate, params?: UpdateSpecParams, options?: CallOptions) => updateServiceSpec(ctx, id, spec, params, options),
    rollback: (id: string, options?: CallOptions) => rollbackService(ctx, id, options),
    scale: (id: string, replicas: number, options?: CallOptions) => scaleService(ctx, id, replicas, options),
  });
  Object.assign(groups.tasks!, {
    logs: (id: string, params?: SwarmLogsParams, options?: CallOptions) => taskLogs(ctx, id, params, options),
  });
}
