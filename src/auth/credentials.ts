/**
 * Registry credentials from the docker CLI's config.json: `auths` (auth, identitytoken),
 * `credsStore` and `credHelpers` (running `docker-credential-<name> get`). Secrets are never put
 * in an error message.
 */
import { lazyBuiltin } from '../builtin.js';
import { DockerError } from '../errors.js';
import { readConfigFile, type AuthEntry, type Env } from '../config/docker-config.js';
import type { RegistryAuth as AuthConfig } from '../request/types.js';
import { normalizeRegistry } from './registry-name.js';

function runHelper(helper: string, action: 'get' | 'list', input: string, env: Env): Promise<string> {
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = lazyBuiltin.childProcess().execFile(program, [action], { timeout: 30_000, maxBuffer: 1024 * 1024, env: { ...process.env, PATH: env.PATH ?? process.env.PATH } }, (err, stdout) => {
      if (err) {
        const notFound = stdout.includes('credentials not found');
        reject(
          new DockerError(
            notFound ? `${program}: no credentials stored for this registry` : `${program} ${action} failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
            { code: notFound ? 'CREDENTIALS_NOT_FOUND' : 'CREDENTIAL_HELPER' },
          ),
        );
        return;
      }
      resolve(stdout);
    });
    // A helper may exit without reading its input (`list` takes none): that is not an error.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

function fromEntry(entry: AuthEntry, serveraddress: string): AuthConfig | undefined {
  if (entry.identitytoken) return { identitytoken: entry.identitytoken, serveraddress };
  if (entry.registrytoken) return { registrytoken: entry.registrytoken, serveraddress };
  let username = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
  }
  if (!username && !password) return undefined;
  return { ...(username ? { username } : {}), ...(password ? { password } : {}), serveraddress };
}

export class CredentialStore {
  constructor(private readonly env: Env) {}

  /** Credentials for one registry (any spelling), or undefined when none are stored. */
  async lookup(registry: string): Promise<AuthConfig | undefined> {
    const key = normalizeRegistry(registry);
    const config = readConfigFile(this.env);
    const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => normalizeRegistry(k) === key)?.[1] ?? config.credsStore;
    if (helper) {
      const fromHelper = await this.fromHelper(helper, key);
      if (fromHelper) return fromHelper;
    }
    const entry = Object.entries(config.auths ?? {}).find(([k]) => normalizeRegistry(k) === key);
    return entry ? fromEntry(entry[1], key) : undefined;
  }

  /** Credentials for every registry the config knows (for builds, which may pull from any). */
  async all(): Promise<Record<string, AuthConfig>> {
    const config = readConfigFile(this.env);
    const names = new Set<string>([...Object.keys(config.auths ?? {}), ...Object.keys(config.credHelpers ?? {})].map(normalizeRegistry));
    if (config.credsStore) {
      try {
        const listed = JSON.parse(await runHelper(config.credsStore, 'list', '', this.env)) as Record<string, string>;
        for (const k of Object.keys(listed)) names.add(normalizeRegistry(k));
      } catch {
        // a store that cannot list still answers get for the names we know
      }
    }
    const out: Record<string, AuthConfig> = {};
    for (const name of names) {
      const auth = await this.lookup(name).catch(() => undefined);
      if (auth) out[name] = auth;
    }
    return out;
  }

  private async fromHelper(helper: string, registry: string): Promise<AuthConfig | undefined> {
    let stdout: string;
    try {
      stdout = await runHelper(helper, 'get', registry, this.env);
    } catch (err) {
      if (err instanceof DockerError && err.code === 'CREDENTIALS_NOT_FOUND') return undefined;
      throw err;
    }
    let parsed: { Username?: string; Secret?: string };
    try {
      parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
    } catch {
      throw new DockerError(`docker-credential-${helper} get: the answer is not JSON`, { code: 'CREDENTIAL_HELPER' });
    }
    if (!parsed.Secret) return undefined;
    if (parsed.Username === '<token>') return { identitytoken: parsed.Secret, serveraddress: registry };
    return { username: parsed.Username ?? '', password: parsed.Secret, serveraddress: registry };
  }
}
