/**
 * Where the engine is, found as the docker CLI finds it: the `host` option, then DOCKER_HOST,
 * then DOCKER_CONTEXT, then `currentContext` in config.json; without any of these, the usual
 * sockets in order (system, rootless, Docker Desktop's, Podman's), the first that answers.
 */
import { join } from 'node:path';
import { readFileSync, existsSync } from 'node:fs';
import { ValidationError } from '../errors.js';
import type { TlsOptions } from '../transport/host.js';
import { loadContext } from './contexts.js';
import { configDir, homeDir, readConfigFile, type Env } from './docker-config.js';

export interface EndpointCandidate {
  host: string;
  tls?: TlsOptions | undefined;
  /** Why this endpoint: `host option`, `DOCKER_HOST`, `context "x" (DOCKER_CONTEXT)`, `default socket`, ... */
  source: string;
}

export interface EndpointChoice {
  /** One candidate when configured; several (tried in order) when falling back to known sockets. */
  candidates: EndpointCandidate[];
}

/** TLS from DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH, as the docker CLI reads them. */
export function tlsFromEnv(env: Env): TlsOptions | undefined {
  const verify = !!env.DOCKER_TLS_VERIFY; // any non-empty value means verify, as the CLI
  const tls = verify || !!env.DOCKER_TLS;
  if (!tls) return undefined;
  const dir = env.DOCKER_CERT_PATH || configDir(env);
  const file = (f: string) => {
    const p = join(dir, f);
    return existsSync(p) ? readFileSync(p) : undefined;
  };
  const ca = file('ca.pem');
  const cert = file('cert.pem');
  const key = file('key.pem');
  if (verify && !ca) {
    throw new ValidationError(`DOCKER_TLS_VERIFY is set but there is no ca.pem in ${dir} (set DOCKER_CERT_PATH)`, { parameter: 'DOCKER_CERT_PATH' });
  }
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: verify };
}

/** The sockets tried, in order, when nothing says where the engine is. */
export function defaultSockets(env: Env): EndpointCandidate[] {
  const home = homeDir(env);
  const out: EndpointCandidate[] = [{ host: 'unix:///var/run/docker.sock', source: 'default socket' }];
  if (env.XDG_RUNTIME_DIR) out.push({ host: `unix://${join(env.XDG_RUNTIME_DIR, 'docker.sock')}`, source: 'rootless socket ($XDG_RUNTIME_DIR/docker.sock)' });
  out.push({ host: `unix://${join(home, '.docker/run/docker.sock')}`, source: 'Docker Desktop socket (~/.docker/run/docker.sock)' });
  if (env.XDG_RUNTIME_DIR) out.push({ host: `unix://${join(env.XDG_RUNTIME_DIR, 'podman/podman.sock')}`, source: 'Podman rootless socket' });
  out.push({ host: 'unix:///run/podman/podman.sock', source: 'Podman socket' });
  return out;
}

export interface EndpointOptions {
  host?: string | undefined;
  tls?: TlsOptions | undefined;
  context?: string | undefined;
}

/** Where the docker CLI goes when TLS is asked for (DOCKER_TLS_VERIFY) but no host is given. */
export const DEFAULT_TLS_HOST = 'tcp://localhost:2376';

/** A given host with the TLS that applies to it: none for unix sockets, as the CLI. */
function explicit(host: string, source: string, options: EndpointOptions, env: Env): EndpointCandidate {
  const tls = host.startsWith('unix://') ? options.tls : (options.tls ?? tlsFromEnv(env));
  return { host, ...(tls ? { tls } : {}), source };
}

export function chooseEndpoint(options: EndpointOptions, env: Env): EndpointChoice {
  if (options.host) return { candidates: [explicit(options.host, 'host option', options, env)] };
  if (options.context) return { candidates: [fromContext(options.context, 'context option', options, env)] };
  if (env.DOCKER_HOST) return { candidates: [explicit(env.DOCKER_HOST, 'DOCKER_HOST', options, env)] };
  if (env.DOCKER_CONTEXT) return { candidates: [fromContext(env.DOCKER_CONTEXT, 'DOCKER_CONTEXT', options, env)] };
  const current = readConfigFile(env).currentContext;
  if (current) return { candidates: [fromContext(current, 'currentContext in config.json', options, env)] };
  return { candidates: environmentDefault('no host or context set', options, env) };
}

/** No host and no context: TLS from the environment means tcp://localhost:2376, else the usual sockets. */
function environmentDefault(why: string, options: EndpointOptions, env: Env): EndpointCandidate[] {
  const tls = options.tls ?? tlsFromEnv(env);
  if (tls) return [{ host: DEFAULT_TLS_HOST, tls, source: `${DEFAULT_TLS_HOST}, the TLS default (${why})` }];
  return defaultSockets(env);
}

function fromContext(name: string, why: string, options: EndpointOptions, env: Env): EndpointCandidate {
  if (name === 'default') {
    // The default context is the environment's (DOCKER_HOST was not set).
    const [first] = environmentDefault(`context "default" (${why})`, options, env);
    return first!.host === DEFAULT_TLS_HOST ? first! : { ...first!, source: `context "default" (${why})` };
  }
  const ctx = loadContext(name, env);
  if (!ctx.host) throw new ValidationError(`docker context "${name}" has no docker endpoint`, { parameter: 'context' });
  return { host: ctx.host, tls: options.tls ?? ctx.tls, source: `context "${name}" (${why})` };
}
