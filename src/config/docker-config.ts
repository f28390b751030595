/** The docker CLI's config folder ($DOCKER_CONFIG, default ~/.docker) and its config.json. */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../errors.js';

export type Env = Record<string, string | undefined>;

export interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  email?: string;
}

export interface ConfigFile {
  currentContext?: string;
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export function homeDir(env: Env): string {
  return env.HOME || homedir();
}

export function configDir(env: Env): string {
  return env.DOCKER_CONFIG || join(homeDir(env), '.docker');
}

/** Reads config.json; a missing file is an empty config, a malformed one a clear error. */
export function readConfigFile(env: Env): ConfigFile {
  const path = join(configDir(env), 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ValidationError(`cannot read ${path}: ${(err as Error).message}`, { parameter: 'DOCKER_CONFIG', cause: err });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as ConfigFile) : {};
  } catch (err) {
    // V8 quotes the text around a syntax error, and Bun's JavaScriptCore the unexpected word,
    // either of which may be a stored credential: say what went wrong only.
    const why = (err as Error).message.replace(/,\s*(?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, '').replace(/^(JSON Parse error: Unexpected identifier)\s*".*"$/s, '$1');
    throw new ValidationError(`${path} is not valid JSON: ${why}`, { parameter: 'DOCKER_CONFIG' });
  }
}
