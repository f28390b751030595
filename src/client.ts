/** The Docker client: `docker.api.<OperationId>` and the friendly resource groups. */
import type { Api } from './generated/api.js';
import { FRIENDLY } from './generated/friendly.js';
import { OPERATIONS, OPERATION_ALIASES } from './generated/operations.js';
import { ValidationError } from './errors.js';
import { installOperations, type DockerGroups } from './operations/groups.js';
import { Requester } from './request/requester.js';
import type { CallOptions } from './request/types.js';
import { AutoTransport } from './transport/auto.js';
import { DEFAULT_HOST, parseHost, type Endpoint, type TlsOptions } from './transport/host.js';
import { NodeHttpTransport } from './transport/node-http.js';
import type { Transport } from './transport/types.js';
import { UndiciTransport } from './transport/undici.js';
import { checkPinnedVersion } from './version.js';

export interface DockerOptions {
  /** unix:///path, tcp://host:port, http://host:port or https://host:port. Default: DOCKER_HOST, else unix:///var/run/docker.sock. */
  host?: string;
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
  transport?: 'auto' | 'node' | 'undici' | Transport;
  /** Environment to read DOCKER_HOST / DOCKER_API_VERSION from (default process.env). */
  env?: Record<string, string | undefined>;
}

/** Requests after which the auto transport loads undici. */
const UNDICI_AFTER = 16;

function lazyUndici(endpoint: Endpoint, connectTimeout: number): Transport {
  let ready: Promise<UndiciTransport> | undefined;
  const get = () => (ready ??= UndiciTransport.create(endpoint, connectTimeout));
  return {
    address: endpoint.address,
    request: async (r) => (await get()).request(r),
    upgrade: async (r) => (await get()).upgrade(r),
    close: async () => {
      if (ready) await (await ready).close();
    },
  };
}

export interface Docker extends DockerGroups {}

export class Docker {
  /** One method per operationId of the Engine API, params keyed by the spec's own names. */
  readonly api: Api;
  /** Where requests go, e.g. `unix:///var/run/docker.sock`. */
  readonly address: string;
  private readonly requester: Requester;

  constructor(options: DockerOptions = {}) {
    const env = options.env ?? process.env;
    const connectTimeout = options.connectTimeout ?? 30_000;
    const pinnedRaw = options.apiVersion ?? (env.DOCKER_API_VERSION || undefined);
    const pinned = pinnedRaw === undefined ? undefined : checkPinnedVersion(pinnedRaw, options.apiVersion !== undefined ? 'apiVersion' : 'DOCKER_API_VERSION');
    if (options.timeout !== undefined && !(options.timeout >= 0)) throw new ValidationError('timeout must be a number of milliseconds >= 0', { parameter: 'timeout' });
    let transport: Transport;
    if (typeof options.transport === 'object') {
      transport = options.transport;
    } else {
      const endpoint = parseHost(options.host ?? (env.DOCKER_HOST || DEFAULT_HOST), options.tls);
      const kind = options.transport ?? 'auto';
      if (kind === 'node') transport = new NodeHttpTransport(endpoint, { connectTimeout });
      else if (kind === 'undici') transport = lazyUndici(endpoint, connectTimeout);
      else if (kind === 'auto') transport = new AutoTransport(endpoint, connectTimeout, UNDICI_AFTER);
      else throw new ValidationError(`transport must be 'auto', 'node', 'undici' or a Transport, not ${JSON.stringify(kind)}`, { parameter: 'transport' });
    }
    this.address = transport.address;
    this.requester = new Requester(transport, pinned, options.timeout);

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
        target[method] = (...args: unknown[]) => {
          const rest = args[n];
          if (rest !== undefined && (typeof rest !== 'object' || rest === null || Array.isArray(rest))) {
            return Promise.reject(new ValidationError(`${group}.${method}: expected ${n ? `${n} id argument(s) then ` : ''}a parameters object`, { operationId: id }));
          }
          const params: Record<string, unknown> = rest ? { ...(rest as object) } : {};
          for (let i = 0; i < n; i++) params[pathNames[i]!] = args[i];
          return requester.call(id, params, args[n + 1] as CallOptions | undefined);
        };
      }
      groups[group] = target;
    }
    installOperations(groups, {
      call: (id, params, options) => requester.call(id, params, options),
      apiVersion: (options) => requester.apiVersion(options),
    });
    Object.assign(this, groups);
  }

  /** The API version in use: pinned, or negotiated with the engine on first use (once). */
  apiVersion(options?: CallOptions): Promise<string> {
    return this.requester.apiVersion(options);
  }

  /** Closes pooled connections. Hijacked connections are the caller's to end. */
  close(): Promise<void> {
    return this.requester.transport.close();
  }
}
