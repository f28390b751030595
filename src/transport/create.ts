/** Builds the transport for one endpoint: unix/tcp/http/https (auto, node or undici) or ssh. */
import { redactUrl, ValidationError } from '../errors.js';
import { AutoTransport } from './auto.js';
import { parseHost, type TlsOptions } from './host.js';
import { NodeHttpTransport } from './node-http.js';
import { parseSshHost, SshDialer } from './ssh.js';
import { DEFAULT_LIMITS, type ConnectionLimits, type Transport } from './types.js';
import { UndiciTransport } from './undici.js';

export type TransportKind = 'auto' | 'node' | 'undici';

export interface TransportSettings {
  kind: TransportKind;
  connectTimeout: number;
  /** Requests after which the auto transport loads undici. */
  undiciAfter: number;
  /** Environment for programs dockhand runs (ssh). */
  env?: NodeJS.ProcessEnv;
  limits?: ConnectionLimits;
}

function lazyUndici(endpoint: ReturnType<typeof parseHost>, connectTimeout: number, limits: ConnectionLimits): Transport {
  let ready: Promise<UndiciTransport> | undefined;
  const get = () => (ready ??= UndiciTransport.create(endpoint, connectTimeout, limits));
  return {
    address: endpoint.address,
    request: async (r) => (await get()).request(r),
    requestWhole: async (r, limits) => (await get()).requestWhole(r, limits),
    upgrade: async (r) => (await get()).upgrade(r),
    close: async () => {
      if (ready) await (await ready).close();
    },
  };
}

export function createTransport(host: string, tls: TlsOptions | undefined, settings: TransportSettings): Transport {
  if (host.startsWith('ssh://')) {
    const target = parseSshHost(host);
    if (!target) throw new ValidationError(`host "${redactUrl(host)}" is not an ssh URL like ssh://user@host:22`, { parameter: 'host' });
    const dialer = new SshDialer(target, settings.env);
    // Connections are ssh channels: node:http carries them (undici wants real sockets).
    const transport = new NodeHttpTransport(
      { address: host.replace(/\/$/, ''), protocol: 'http:', hostname: 'localhost', port: 80, createConnection: () => dialer.connect() },
      { connectTimeout: settings.connectTimeout, limits: settings.limits ?? DEFAULT_LIMITS },
    );
    return {
      address: transport.address,
      request: (r) => transport.request(r),
      upgrade: (r) => transport.upgrade(r),
      close: async () => {
        await transport.close();
        await dialer.close();
      },
    };
  }
  const endpoint = parseHost(host, tls);
  const limits = settings.limits ?? DEFAULT_LIMITS;
  switch (settings.kind) {
    case 'node':
      return new NodeHttpTransport(endpoint, { connectTimeout: settings.connectTimeout, limits });
    case 'undici':
      return lazyUndici(endpoint, settings.connectTimeout, limits);
    default:
      return new AutoTransport(endpoint, settings.connectTimeout, settings.undiciAfter, limits);
  }
}
