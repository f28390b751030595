/** The Docker client: `docker.api.<OperationId>` and the friendly resource groups. */
import type { Api } from './generated/api.js';
import { FRIENDLY } from './generated/friendly.js';
import { OPERATIONS, OPERATION_ALIASES } from './generated/operations.js';
import { ValidationError, type ConnectionAttempt } from './errors.js';
import type { OperationContext } from './operations/context.js';
import { installOperations, type DockerGroups } from './operations/groups.js';
import { applyBodyAlias, bodyAliasOf } from './operations/body-alias.js';
import {
  HandleFactory,
  asyncDispose,
  type ConfigHandle,
  type ContainerHandle,
  type ExecHandle,
  type ImageHandle,
  type NetworkHandle,
  type NodeHandle,
  type PluginHandle,
  type SecretHandle,
  type ServiceHandle,
  type TaskHandle,
  type VolumeHandle,
} from './operations/handles.js';
import { run, type RunDetachedOptions, type RunOptions, type RunOutput, type RunResult } from './operations/run.js';
import { Requester } from './request/requester.js';
import type { CallOptions } from './request/types.js';
import { CredentialStore } from './auth/credentials.js';
import { chooseEndpoint } from './config/endpoint.js';
import { createTransport, type TransportKind } from './transport/create.js';
import { parseHost, type TlsOptions } from './transport/host.js';
import { ProbingTransport } from './transport/probing.js';
import { DEFAULT_LIMITS, type Transport } from './transport/types.js';
import { undiciUnavailable } from './transport/undici.js';
import { checkPinnedVersion } from './version.js';
import { validateDockerOptions } from './config/options.js';

export interface DockerOptions {
  /**
   * unix:///path, tcp://host:port, http(s)://host:port or ssh://[user@]host[:port]. Without it:
   * DOCKER_HOST, DOCKER_CONTEXT, config.json's currentContext, then the usual sockets.
   */
  host?: string;
  /** A docker context by name (from the contexts store in $DOCKER_CONFIG). */
  context?: string;
  /** Pins the API version (else DOCKER_API_VERSION, else negotiated once with the engine). */
  apiVersion?: string;
  /** TLS material for tcp:// and https:// hosts; with it, tcp:// means TLS. */
  tls?: TlsOptions;
  /** Default per-call timeout in ms (none by default: streams may run for hours). */
  timeout?: number;
  /** Milliseconds to wait for a connection before failing with ConnectionError (default 30000). */
  connectTimeout?: number;
  /**
   * `auto` (default): node:http for the first requests, undici once a process makes more;
   * `node` or `undici` to force one; or a Transport of your own (tests).
   */
  transport?: TransportKind | Transport;
  /**
   * Registry credentials are read from $DOCKER_CONFIG/config.json (auths, credsStore,
   * credHelpers) for pull, push, build and the like, unless a call gives its own; `false` turns
   * that off.
   */
  credentials?: false;
  /**
   * Connections for ordinary calls, per client (default 64); more calls wait in a queue.
   * Streams (logs, events, pulls, archives) and hijacked connections are counted apart, so
   * followed streams never starve ordinary calls.
   */
  maxConnections?: number;
  /** Connections for streams and hijacked connections, per client (default 1024); more wait. */
  maxStreams?: number;
  /** Largest JSON answer read, in bytes (default 64 MiB); a larger one fails with BODY_TOO_LARGE. */
  maxJsonBody?: number;
  /** Environment to read DOCKER_* variables from (default process.env). */
  env?: Record<string, string | undefined>;
  /**
   * `full` (default): parameters, and JSON bodies field by field against the API version in use;
   * `params`: top-level parameters only (for an engine newer than dockhand's specs, or fields a
   * plugin or engine fork adds).
   */
  validate?: 'full' | 'params';
  /**
   * The builder of `images.build` calls that name none: `classic` (default), `buildkit`, or
   * `auto` (BuildKit where the engine offers it: API 1.39+, Linux, not Podman; else classic).
   */
  builder?: 'classic' | 'buildkit' | 'auto';
}

/** Where requests go, and why there. */
export interface EndpointInfo {
  /** e.g. `unix:///var/run/docker.sock`, `tcp://127.0.0.1:2376`, `ssh://me@host`. */
  address: string;
  /** `host option`, `DOCKER_HOST`, `context "x" (DOCKER_CONTEXT)`, `default socket`, ... */
  source: string;
  /** The places tried before this one, when dockhand looked in the usual places. */
  attempts: readonly ConnectionAttempt[];
}

/** Requests after which the auto transport loads undici. */
const UNDICI_AFTER = 16;

export interface Docker extends DockerGroups {}

export class Docker {
  /** One method per operationId of the Engine API, params keyed by the spec's own names. */
  readonly api: Api;
  private readonly requester: Requester;
  private readonly where: () => Promise<EndpointInfo>;
  private readonly handles: HandleFactory;
  private readonly runner: (image: string, cmd?: readonly string[] | RunOptions | RunDetachedOptions, options?: RunOptions | RunDetachedOptions) => Promise<unknown>;

  constructor(options: DockerOptions = {}) {
    options = validateDockerOptions(options);
    const env = options.env ?? process.env;
    const connectTimeout = options.connectTimeout ?? 30_000;
    const pinnedRaw = options.apiVersion ?? (env.DOCKER_API_VERSION || undefined);
    const pinned = pinnedRaw === undefined ? undefined : checkPinnedVersion(pinnedRaw, options.apiVersion !== undefined ? 'apiVersion' : 'DOCKER_API_VERSION');
    let transport: Transport;
    if (typeof options.transport === 'object') {
      transport = options.transport;
      this.where = () => Promise.resolve({ address: transport.address, source: 'transport option', attempts: [] });
    } else {
      const kind = options.transport ?? 'auto';
      if (kind !== 'auto' && kind !== 'node' && kind !== 'undici') {
        throw new ValidationError(`transport must be 'auto', 'node', 'undici' or a Transport, not ${JSON.stringify(kind)}`, { parameter: 'transport' });
      }
      const unavailable = kind === 'undici' ? undiciUnavailable() : undefined;
      if (unavailable) throw new ValidationError(`transport 'undici' does not work here: ${unavailable}; use 'auto' or 'node' (node:http)`, { parameter: 'transport' });
      const limits = { maxConnections: options.maxConnections ?? DEFAULT_LIMITS.maxConnections, maxStreams: options.maxStreams ?? DEFAULT_LIMITS.maxStreams };
      const settings = { kind, connectTimeout, undiciAfter: UNDICI_AFTER, env: { ...process.env, ...env }, limits };
      const { candidates } = chooseEndpoint({ host: options.host, tls: options.tls, context: options.context }, env);
      if (candidates.length === 1) {
        const only = candidates[0]!;
        transport = createTransport(only.host, only.tls, settings);
        this.where = () => Promise.resolve({ address: transport.address, source: only.source, attempts: [] });
      } else {
        for (const c of candidates) parseHost(c.host, c.tls); // refuse malformed hosts now, not on first use
        const probing = new ProbingTransport(
          candidates.map((c) => ({ address: c.host, source: c.source, make: () => createTransport(c.host, c.tls, settings) })),
        );
        transport = probing;
        this.where = async () => {
          await probing.transport();
          return { address: probing.address, source: probing.selected!.source, attempts: [...probing.attempts] };
        };
      }
    }
    this.requester = new Requester(transport, pinned, {
      defaultTimeout: options.timeout,
      credentials: options.credentials === false ? undefined : new CredentialStore(env),
      maxJsonBody: options.maxJsonBody,
      validate: options.validate,
    });

    const requester = this.requester;
    const api: Record<string, (params?: unknown, opts?: CallOptions) => Promise<unknown>> = {};
    for (const id of [...Object.keys(OPERATIONS), ...Object.keys(OPERATION_ALIASES)]) {
      api[id] = (params, opts) => requester.call(id, params, opts);
    }
    this.api = api as unknown as Api;

    const groups: Record<string, Record<string, (...args: never[]) => unknown>> = {};
    for (const [group, methods] of Object.entries(FRIENDLY)) {
      const target: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
      for (const [method, [id, ...pathNames]] of Object.entries(methods)) {
        const n = pathNames.length;
        const bodyName = bodyAliasOf(id);
        target[method] = (...args: unknown[]) => {
          const rest = args[n];
          if (rest !== undefined && (typeof rest !== 'object' || rest === null || Array.isArray(rest))) {
            return Promise.reject(new ValidationError(`${group}.${method}: expected ${n ? `${n} id argument(s) then ` : ''}a parameters object`, { operationId: id }));
          }
          const params: Record<string, unknown> = rest ? { ...(rest as object) } : {};
          if (bodyName) {
            try {
              applyBodyAlias(params, bodyName, `${group}.${method}`, id);
            } catch (err) {
              return Promise.reject(err);
            }
          }
          for (let i = 0; i < n; i++) params[pathNames[i]!] = args[i];
          return requester.call(id, params, args[n + 1] as CallOptions | undefined);
        };
      }
      groups[group] = target;
    }
    const ctx: OperationContext = {
      // the one untyped seam: the requester validates params at run time for every operation
      call: ((id: string, params: unknown, options?: CallOptions) => requester.call(id, params, options)) as OperationContext['call'],
      apiVersion: (options) => requester.apiVersion(options),
      isPodman: (options) => requester.isPodman(options),
      address: () => this.endpoint().then((e) => e.address),
      ...(options.builder !== undefined ? { defaultBuilder: options.builder } : {}),
    };
    installOperations(groups, ctx);
    Object.assign(this, groups);
    const handles = new HandleFactory(this, ctx);
    this.handles = handles;
    this.runner = (image, cmd, options) => run(ctx, (id) => handles.make('container', id) as ContainerHandle, image, cmd, options);
  }

  /**
   * Runs a command in a new container, as `docker run` does: pulls the image if missing, creates,
   * attaches, starts, waits, collects the output and removes the container. A non-zero exit code
   * is a result, not an error. With `detach: true`, resolves to the started container's handle.
   */
  run(image: string, cmd: readonly string[] | undefined, options: RunDetachedOptions): Promise<ContainerHandle>;
  run(image: string, options: RunDetachedOptions): Promise<ContainerHandle>;
  run<O extends RunOptions = RunOptions>(image: string, cmd?: readonly string[], options?: O): Promise<RunResult<RunOutput<O>>>;
  run<O extends RunOptions = RunOptions>(image: string, options?: O): Promise<RunResult<RunOutput<O>>>;
  run(image: string, cmd?: readonly string[] | RunOptions | RunDetachedOptions, options?: RunOptions | RunDetachedOptions): Promise<unknown> {
    return this.runner(image, cmd, options);
  }

  /** A container's methods with its id bound: `docker.container(id).logs()`; `await using` removes it. */
  container(id: string): ContainerHandle {
    return this.handles.make('container', id) as ContainerHandle;
  }
  /** An image's methods with its name (or id) bound: `docker.image('busybox').inspect()`. */
  image(ref: string): ImageHandle {
    return this.handles.make('image', ref) as ImageHandle;
  }
  network(id: string): NetworkHandle {
    return this.handles.make('network', id) as NetworkHandle;
  }
  volume(name: string): VolumeHandle {
    return this.handles.make('volume', name) as VolumeHandle;
  }
  service(id: string): ServiceHandle {
    return this.handles.make('service', id) as ServiceHandle;
  }
  node(id: string): NodeHandle {
    return this.handles.make('node', id) as NodeHandle;
  }
  secret(id: string): SecretHandle {
    return this.handles.make('secret', id) as SecretHandle;
  }
  config(id: string): ConfigHandle {
    return this.handles.make('config', id) as ConfigHandle;
  }
  plugin(name: string): PluginHandle {
    return this.handles.make('plugin', name) as PluginHandle;
  }
  task(id: string): TaskHandle {
    return this.handles.make('task', id) as TaskHandle;
  }
  /** An exec instance (from `exec.create`): start, resize, inspect with its id bound. */
  execInstance(id: string): ExecHandle {
    return this.handles.make('execInstance', id) as ExecHandle;
  }

  /** `await using docker = new Docker()`: closes the client at the end of the scope. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Where requests go, e.g. `unix:///var/run/docker.sock` (see `endpoint()` for why). */
  get address(): string {
    return this.requester.transport.address;
  }

  /**
   * Which endpoint is used and why. When dockhand looks in the usual places, this finds the
   * engine first (and rejects with a ConnectionError listing every place tried if none answers).
   */
  endpoint(): Promise<EndpointInfo> {
    return this.where();
  }

  /** The API version in use: pinned, or negotiated with the engine on first use (once). */
  apiVersion(options?: CallOptions): Promise<string> {
    return this.requester.apiVersion(options);
  }

  /**
   * Closes every connection: open streams and hijacked connections end with a DockerError
   * `CLOSED`, calls in flight fail the same way, and so does every later call.
   */
  close(): Promise<void> {
    return this.requester.close();
  }
}
