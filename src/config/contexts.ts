/**
 * The docker CLI's context store: contexts/meta/<sha256(name)>/meta.json holds the endpoint, and
 * contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem its TLS files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lazyBuiltin } from '../builtin.js';
import { ValidationError } from '../errors.js';
import type { TlsOptions } from '../transport/host.js';
import { configDir, type Env } from './docker-config.js';

export interface ContextEndpoint {
  name: string;
  host: string | undefined;
  skipTLSVerify: boolean;
  tls: TlsOptions | undefined;
}

interface MetaFile {
  Name?: string;
  Endpoints?: Record<string, { Host?: string; SkipTLSVerify?: boolean } | undefined>;
}

export function contextDigest(name: string): string {
  return lazyBuiltin.crypto().createHash('sha256').update(name).digest('hex');
}

/** Loads a named context (not `default`, which means "the environment and the default socket"). */
export function loadContext(name: string, env: Env): ContextEndpoint {
  const root = join(configDir(env), 'contexts');
  const digest = contextDigest(name);
  const metaPath = join(root, 'meta', digest, 'meta.json');
  let meta: MetaFile;
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8')) as MetaFile;
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message;
    throw new ValidationError(`docker context "${name}": ${why} (looked in ${metaPath})`, { parameter: 'context', cause: err });
  }
  const endpoint = meta.Endpoints?.docker;
  const skipTLSVerify = endpoint?.SkipTLSVerify === true;
  const tlsDir = join(root, 'tls', digest, 'docker');
  const file = (f: string) => (existsSync(join(tlsDir, f)) ? readFileSync(join(tlsDir, f)) : undefined);
  const ca = file('ca.pem');
  const cert = file('cert.pem');
  const key = file('key.pem');
  const hasTls = ca !== undefined || cert !== undefined || key !== undefined || skipTLSVerify;
  const tls: TlsOptions | undefined = hasTls
    ? { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: !skipTLSVerify }
    : undefined;
  return { name, host: endpoint?.Host, skipTLSVerify, tls };
}
