/**
 * Image builds: a local folder is tarred on the fly (honouring .dockerignore) and streamed to
 * the engine; a URL is passed on as a remote context. The result is a ProgressStream of the
 * builder's messages: iterate it, or await it (a failing step rejects with StreamError).
 */
import type { Ignore } from '@balena/dockerignore';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { DockerError, ValidationError } from '../errors.js';
import type { AuthConfig, BuildInfo } from '../generated/types.js';
import type { CallOptions } from '../request/types.js';
import { ProgressStream, type ProgressMessage, type ProgressModel, type ProgressOptions, type ProgressResult } from '../streams/progress.js';
import { packPath, packStream, walkTree } from '../streams/tar.js';
import type { OperationContext } from './context.js';
import { buildkitStream, wantsBuildkit } from '../buildkit/entry.js';
import type { BuildkitBuildOptions } from '../buildkit/types.js';

const OP = 'ImageBuild';

type IgnoreFactory = (options?: { ignorecase?: boolean }) => Ignore;
/**
 * @balena/dockerignore, loaded when a build context is first read. The module is CommonJS: its
 * export is the factory, which is also its own `default`, so `.default` is the factory from ESM
 * and CommonJS alike.
 */
async function loadDockerignore(): Promise<IgnoreFactory> {
  const m = (await import('@balena/dockerignore')) as unknown as { default?: IgnoreFactory } & IgnoreFactory;
  return m.default ?? m;
}

/** A message of the build stream. */
export type BuildMessage = BuildInfo & ProgressMessage;

/** What a build resolves to: the progress result and the built image's id. */
export interface BuildResult extends ProgressResult<BuildMessage> {
  /** `sha256:...` of the image built (from the builder's `aux` message), when it said. */
  imageId: string | undefined;
}

/** The image id in a build's `aux` payloads: the last `{ ID }` the builder sent. */
export function builtImageId(result: ProgressResult<BuildMessage>): BuildResult {
  let imageId: string | undefined;
  for (const aux of result.aux) {
    const id = (aux as { ID?: unknown } | null)?.ID;
    if (typeof id === 'string') imageId = id;
  }
  return { ...result, imageId };
}

/** The options both builders take (classic: BuildOptions; BuildKit: BuildkitBuildOptions). */
export interface BuildOptionsBase {
  /** Name(s) to tag the image with, `name[:tag]`. */
  tags?: string | readonly string[];
  /** Build-time variables (ARG). */
  buildArgs?: Readonly<Record<string, string>>;
  /** Labels to set on the image. */
  labels?: Readonly<Record<string, string>>;
  /** The stage to build, in a multi-stage Dockerfile. */
  target?: string;
  /** Platform of the image, `os[/arch[/variant]]` (API 1.34+). */
  platform?: string;
  noCache?: boolean;
  /** Pull the base images even if they are present. */
  pull?: boolean;
  /** `host:ip` entries added to /etc/hosts of the RUN steps (API 1.28+). */
  extraHosts?: string | readonly string[];
  /** Images to use as cache sources. */
  cacheFrom?: readonly string[];
  /** Credentials for the registries of the base images, by registry host (X-Registry-Config). */
  registryConfig?: Readonly<Record<string, AuthConfig>>;
  signal?: AbortSignal;
  /** Milliseconds until the build must have started answering (see CallOptions.timeout). */
  timeout?: number;
  /** Called with each message, after the progress model was updated. */
  onProgress?: (message: BuildMessage, model: ProgressModel) => void;
}

export interface BuildOptions extends BuildOptionsBase {
  /**
   * `classic` (the default, unless the client's `builder` option says otherwise): the classic
   * builder. `buildkit` and `auto` take BuildkitBuildOptions.
   */
  builder?: 'classic';
  /** Path of the Dockerfile, relative to the context (default `Dockerfile`). */
  dockerfile?: string;
  /** Remove intermediate containers after a successful build (default true). */
  rm?: boolean;
  /** Always remove intermediate containers, even after a failure. */
  forceRm?: boolean;
  /** Network mode of the RUN steps (`bridge`, `host`, `none`, `container:<id>`, a network name). */
  networkMode?: string;
  memory?: number;
  memorySwap?: number;
  cpuShares?: number;
  cpuSetCpus?: string;
  cpuPeriod?: number;
  cpuQuota?: number;
  shmSize?: number;
  /** Squash the new layers into one (engines with experimental features only). */
  squash?: boolean;
  /** Only the image ID in the output. */
  quiet?: boolean;
  /** BuildKit output configuration, as the engine reads it (API 1.40+; BuildKit builds only). */
  outputs?: string;
}

/**
 * Option kinds: `flag` is a boolean the spec types as a string (sent `1`/`0`); `count` an integer
 * >= 0, `int` any integer (memorySwap -1: unlimited); `strings` one string or several.
 */
type Kind = 'string' | 'boolean' | 'flag' | 'count' | 'int' | 'record' | 'strings' | 'stringList' | 'auth' | 'signal' | 'function';

/**
 * Each option: its ImageBuild parameter (undefined: handled apart) and its kind. A unit test
 * holds this table to ImageBuild's parameters, so it cannot drift from the spec.
 */
export const BUILD_OPTIONS: Record<keyof BuildOptions, readonly [string | undefined, Kind]> = {
  builder: [undefined, 'string'],
  dockerfile: [undefined, 'string'],
  tags: [undefined, 'strings'],
  buildArgs: ['buildargs', 'record'],
  labels: ['labels', 'record'],
  target: ['target', 'string'],
  platform: ['platform', 'string'],
  noCache: ['nocache', 'boolean'],
  pull: ['pull', 'flag'],
  rm: ['rm', 'boolean'],
  forceRm: ['forcerm', 'boolean'],
  networkMode: ['networkmode', 'string'],
  extraHosts: [undefined, 'strings'],
  cacheFrom: ['cachefrom', 'stringList'],
  memory: ['memory', 'count'],
  memorySwap: ['memswap', 'int'],
  cpuShares: ['cpushares', 'count'],
  cpuSetCpus: ['cpusetcpus', 'string'],
  cpuPeriod: ['cpuperiod', 'count'],
  cpuQuota: ['cpuquota', 'count'],
  shmSize: ['shmsize', 'count'],
  squash: ['squash', 'boolean'],
  quiet: ['q', 'boolean'],
  outputs: ['outputs', 'string'],
  registryConfig: ['X-Registry-Config', 'auth'],
  signal: [undefined, 'signal'],
  timeout: [undefined, 'count'],
  onProgress: [undefined, 'function'],
};

function invalid(message: string, parameter: string): ValidationError {
  return new ValidationError(`build: ${message}`, { operationId: OP, parameter });
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks one option; returns the value to send (for a parameter). */
function checkKind(name: string, kind: Kind, value: unknown): unknown {
  switch (kind) {
    case 'string':
      if (!isStr(value)) throw invalid(`${name} must be a string`, name);
      return value;
    case 'boolean':
    case 'flag':
      if (typeof value !== 'boolean') throw invalid(`${name} must be a boolean`, name);
      return kind === 'flag' ? (value ? '1' : '0') : value;
    case 'count':
    case 'int':
      if (!Number.isSafeInteger(value) || (kind === 'count' && (value as number) < 0)) throw invalid(`${name} must be an integer${kind === 'count' ? ' >= 0' : ''}`, name);
      return value;
    case 'record':
      if (!isPlainObject(value) || !Object.values(value).every(isStr)) throw invalid(`${name} must be an object of strings`, name);
      return value;
    case 'strings':
      if (!(isStr(value) && value !== '') && !(Array.isArray(value) && value.every((v) => isStr(v) && v !== ''))) {
        throw invalid(`${name} must be a non-empty string or an array of them`, name);
      }
      return value;
    case 'stringList':
      if (!Array.isArray(value) || !value.every(isStr)) throw invalid(`${name} must be an array of strings`, name);
      return value;
    case 'auth':
      if (!isPlainObject(value) || !Object.values(value).every(isPlainObject)) throw invalid(`${name} must be an object of AuthConfig by registry`, name);
      return value;
    case 'signal':
      if (!(value instanceof AbortSignal)) throw invalid(`${name} must be an AbortSignal`, name);
      return value;
    case 'function':
      if (typeof value !== 'function') throw invalid(`${name} must be a function`, name);
      return value;
  }
}

/** A path inside the context, with forward slashes; refuses paths that leave it. */
function contextRelative(p: string, parameter: string): string {
  if (p === '' || p.includes('\0')) throw invalid(`${parameter} must be a non-empty path`, parameter);
  const n = path.posix.normalize(path.sep === '\\' ? p.replace(/\\/g, '/') : p);
  if (path.posix.isAbsolute(n) || path.isAbsolute(p) || n === '..' || n.startsWith('../') || n === '.' || n.endsWith('/')) {
    throw invalid(`${parameter} must be a file path relative to the build context, inside it (got ${JSON.stringify(p)})`, parameter);
  }
  return n;
}

/**
 * A remote context the engine fetches itself: http(s):// and git:// URLs, `git@host:repo`,
 * `github.com/...`, and anything ending in `.git` (optionally with a `#ref:dir` fragment).
 */
export function isRemoteContext(context: string): boolean {
  if (typeof context !== 'string') return false;
  return /^(https?|git):\/\//i.test(context) || context.startsWith('git@') || context.startsWith('github.com/') || /\.git(#.*)?$/.test(context);
}

/** True when only the ambiguous rules (`.git` suffix, `github.com/`) made it remote. */
function ambiguousRemote(context: string): boolean {
  return !/^(https?|git):\/\//i.test(context) && !context.startsWith('git@');
}

/** `.dockerignore` lines as patterns, and the exception (`!`) patterns, cleaned as the engine does. */
function parseIgnore(text: string): { patterns: string[]; exceptions: string[][] } {
  const patterns: string[] = [];
  const exceptions: string[][] = [];
  for (const line of text.split(/\r?\n/)) {
    let p = line.trim();
    if (p === '' || p.startsWith('#')) continue;
    patterns.push(p);
    if (!p.startsWith('!')) continue;
    p = p.slice(1).trim();
    if (p === '') continue;
    p = path.posix.normalize(p).replace(/\/+$/, '').replace(/^\/+/, '');
    exceptions.push(p.split('/'));
  }
  return { patterns, exceptions };
}

const GLOB = /[*?[\\]/;

/**
 * Could an exception pattern match something strictly under `dir`? Conservative: a wildcard
 * segment, or a pattern shorter than dir (it would match dir itself or a parent), says yes.
 */
export function couldMatchUnder(pattern: readonly string[], dir: readonly string[]): boolean {
  for (let i = 0; i < dir.length; i++) {
    const seg = pattern[i];
    if (seg === undefined) return true;
    if (seg === '**' || GLOB.test(seg)) return true;
    if (seg !== dir[i]) return false;
  }
  return true;
}

export interface ContextStreamOptions {
  /** The Dockerfile's path relative to the context (default `Dockerfile`): always included. */
  dockerfile?: string;
}

/** Which paths of a context go into its tar, from `<Dockerfile>.dockerignore` or `.dockerignore`. */
class ContextFilter {
  private readonly ignore: Ignore;
  private readonly exceptions: string[][];
  private readonly always: Set<string>;
  private readonly alwaysDirs = new Set<string>();
  private readonly active: boolean;

  constructor(dockerignore: IgnoreFactory, text: string | undefined, always: readonly string[]) {
    this.ignore = dockerignore({ ignorecase: false });
    const { patterns, exceptions } = parseIgnore(text ?? '');
    this.ignore.add(patterns);
    this.exceptions = exceptions;
    this.active = patterns.length > 0;
    this.always = new Set(always);
    for (const a of always) {
      const parts = a.split('/');
      for (let i = 1; i < parts.length; i++) this.alwaysDirs.add(parts.slice(0, i).join('/'));
    }
  }

  includes(rel: string): boolean {
    return !this.active || this.always.has(rel) || !this.ignore.ignores(rel);
  }

  /** Enter a folder? Yes unless it is excluded and nothing under it can be re-included. */
  descend(rel: string): boolean {
    if (this.includes(rel) || this.alwaysDirs.has(rel)) return true;
    const dir = rel.split('/');
    return this.exceptions.some((e) => couldMatchUnder(e, dir));
  }
}

async function readIfFile(p: string): Promise<string | undefined> {
  try {
    const st = await fsp.stat(p);
    return st.isFile() ? await fsp.readFile(p, 'utf8') : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * The build context `dir` as a tar stream, produced on the fly: entries sorted, names relative
 * to `dir` with forward slashes, folders, files (mode, mtime, owner 0:0) and symlinks (as
 * symlinks). Paths excluded by `<Dockerfile>.dockerignore` (when present) or else `.dockerignore`
 * are left out, except the Dockerfile and those ignore files themselves. Read errors destroy the
 * stream with the error.
 */
export function createContextStream(dir: string, options: ContextStreamOptions = {}): Readable {
  if (typeof dir !== 'string' || dir === '') throw invalid('the context must be a folder path', 'context');
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object', 'options');
  const dockerfile = contextRelative(options.dockerfile ?? 'Dockerfile', 'dockerfile');
  const root = path.resolve(dir);
  const specific = `${dockerfile}.dockerignore`;
  return packStream(async (pack) => {
    const specificText = await readIfFile(path.join(root, ...specific.split('/')));
    const text = specificText ?? (await readIfFile(path.join(root, '.dockerignore')));
    const filter = new ContextFilter(await loadDockerignore(), text, [dockerfile, '.dockerignore', specific]);
    for await (const e of walkTree(root, (rel) => filter.descend(rel))) {
      if (filter.includes(e.rel)) await packPath(pack, e.rel, e.abs, e.stat);
    }
  }).stream;
}


/**
 * Builds an image from a local folder (tarred on the fly, see createContextStream) or a remote
 * context (a URL, see isRemoteContext). Options are checked before anything is read or sent
 * (ValidationError). Iterate the result for the builder's messages or await it: it resolves
 * with the ProgressResult (`aux` holds `{ ID: 'sha256:...' }`) and rejects with StreamError when
 * a step fails.
 */
export function build(ctx: OperationContext, context: string, options: BuildOptions | BuildkitBuildOptions = {}): ProgressStream<BuildMessage, BuildResult> {
  if (typeof context !== 'string' || context === '' || context.includes('\0')) throw invalid('the context must be a folder path or a URL', 'context');
  // The client's default builder, where the call names none
  if (ctx.defaultBuilder && ctx.defaultBuilder !== 'classic' && typeof options === 'object' && options !== null && options.builder === undefined) {
    options = { ...options, builder: ctx.defaultBuilder } as BuildkitBuildOptions;
  }
  // BuildKit (`builder: 'buildkit' | 'auto'`): src/buildkit, loaded only when such a build runs
  if (wantsBuildkit(options)) return buildkitStream(ctx, context, isRemoteContext(context), options, (o) => build(ctx, context, o as BuildOptions), builtImageId);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('options must be an object', 'options');
  const params: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const row = BUILD_OPTIONS[name as keyof BuildOptions];
    if (!row) throw invalid(`unknown option "${name}" (known: ${Object.keys(BUILD_OPTIONS).join(', ')})`, name);
    const sent = checkKind(name, row[1], value);
    if (row[0] !== undefined) params[row[0]] = sent;
  }

  // Several tags and extra hosts go as repeated keys (the engine reads them as lists).
  if (options.tags !== undefined) params.t = typeof options.tags === 'string' ? options.tags : [...options.tags];
  if (options.extraHosts !== undefined) params.extrahosts = typeof options.extraHosts === 'string' ? options.extraHosts : [...options.extraHosts];

  const remote = isRemoteContext(context);
  const dockerfile = options.dockerfile === undefined ? undefined : remote ? options.dockerfile : contextRelative(options.dockerfile, 'dockerfile');
  if (dockerfile !== undefined) params.dockerfile = dockerfile;

  const callOptions: CallOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
  };

  const open = async (): Promise<Readable> => {
    let body: Readable | undefined;
    let bodyError: Error | undefined;
    let local = !remote;
    if (remote && ambiguousRemote(context)) {
      // As the CLI: a local folder wins over the `.git` / `github.com/` guess.
      local = (await fsp.stat(context).catch(() => undefined))?.isDirectory() ?? false;
    }
    if (local) {
      const root = path.resolve(context);
      const st = await fsp.stat(root).catch(() => undefined);
      if (!st?.isDirectory()) throw invalid(`the context ${JSON.stringify(context)} is not a folder (nor a URL)`, 'context');
      const df = contextRelative(options.dockerfile ?? 'Dockerfile', 'dockerfile');
      if (!(await fsp.lstat(path.join(root, ...df.split('/'))).catch(() => undefined))) {
        throw invalid(`there is no ${df} in the context ${JSON.stringify(context)}`, 'dockerfile');
      }
      if (options.dockerfile !== undefined) params.dockerfile = df;
      body = createContextStream(root, { dockerfile: df });
      body.once('error', (err) => (bodyError = err));
      params.inputStream = body;
      params['Content-type'] = 'application/x-tar';
    } else {
      params.remote = context;
    }
    let res: Readable;
    try {
      res = (await ctx.call(OP, params, callOptions)) as Readable;
    } catch (err) {
      body?.destroy();
      if (bodyError && !(err instanceof ValidationError)) {
        throw new DockerError(`${OP}: reading the build context failed: ${bodyError.message}`, { code: 'BUILD_CONTEXT', operationId: OP, cause: bodyError });
      }
      throw err;
    }
    return res;
  };

  return new ProgressStream<BuildMessage, BuildResult>(open(), OP, { signal: options.signal, onProgress: options.onProgress as ProgressOptions['onProgress'] }, builtImageId);
}
