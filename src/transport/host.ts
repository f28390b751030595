/** Parses the `host` option (or DOCKER_HOST) into where and how to connect. */
import { redactUrl, ValidationError } from '../errors.js';

export interface TlsOptions {
  /** CA certificate(s) (PEM) the engine's certificate must chain to. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate (PEM). */
  cert?: string | Buffer;
  /** Client key (PEM). */
  key?: string | Buffer;
  /** Verify the engine's certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Server name for SNI and verification, when it differs from the host. */
  servername?: string;
}

export interface Endpoint {
  /** The address as given, normalised: `unix:///var/run/docker.sock`, `tcp://127.0.0.1:2376`. */
  address: string;
  /** Unix socket path, for unix:// hosts. */
  socketPath?: string;
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  tls?: TlsOptions;
  /** Opens a connection by other means than a socket address (ssh://). */
  createConnection?: () => import('node:stream').Duplex;
}

export const DEFAULT_HOST = 'unix:///var/run/docker.sock';

/** node:tls connect options for an endpoint's TLS settings (verification on unless turned off). */
export function tlsConnectOptions(tls: TlsOptions | undefined): Record<string, unknown> {
  if (!tls) return {};
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

export function parseHost(host: string, tls?: TlsOptions): Endpoint {
  const fail = (why: string): never => {
    throw new ValidationError(`host "${redactUrl(host)}" ${why}`, { parameter: 'host' });
  };
  if (/[\r\n\0]/.test(host)) fail('contains a control character');
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (!socketPath.startsWith('/')) fail('must name an absolute socket path (unix:///path/to/docker.sock)');
    return { address: host, socketPath, protocol: tls ? 'https:' : 'http:', hostname: 'localhost', port: 80, ...(tls ? { tls } : {}) };
  }
  const m = /^(tcp|http|https):\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+))?\/?$/.exec(host);
  if (!m) {
    const scheme = /^([a-z0-9+.-]+):\/\//i.exec(host)?.[1];
    return fail(scheme ? `uses an unsupported scheme "${scheme}://" (use unix://, tcp://, http://, https:// or ssh://)` : 'is not a URL like unix:///var/run/docker.sock or tcp://host:2375');
  }
  const secure = m[1] === 'https' || (m[1] === 'tcp' && tls !== undefined);
  const port = m[3] ? Number(m[3]) : secure ? 2376 : 2375;
  if (port < 1 || port > 65535) fail('has a port out of range');
  const hostname = m[2]!.replace(/^\[|\]$/g, '');
  const display = m[2]!;
  return {
    address: `${m[1]}://${display}:${port}`,
    protocol: secure ? 'https:' : 'http:',
    hostname,
    port,
    ...(secure ? { tls: tls ?? {} } : {}),
  };
}
