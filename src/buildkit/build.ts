/**
 * A BuildKit build through the Engine API: open a session serving the context and Dockerfile
 * folders (FileSync), credentials (Auth), secrets, SSH agents and outputs (FileSend), then
 * `POST /build?version=2&remote=client-session`. The response is translated on the fly: traces
 * become plain-progress `stream` messages (and `onStatus` events), a failure gets the failing
 * step's output. The session closes when the response ends, fails or is aborted.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { homedir, hostname } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { CredentialStore } from '../auth/credentials.js';
import { normalizeRegistry } from '../auth/registry-name.js';
import { AbortError, DockerError, ValidationError } from '../errors.js';
import type { AuthConfig } from '../generated/types.js';
import type { OperationContext } from '../operations/context.js';
import { EXTRA_QUERY } from '../request/requester.js';
import { jsonMessages } from '../streams/json-stream.js';
import { followLinks, PathFilter, serveDiffCopy, metadataList, type IgnoreFactory, type SyncSource } from './filesync.js';
import { GrpcError, GRPC_NOT_FOUND, unary, type GrpcHandler } from './grpc.js';
import { outputHandler } from './outputs.js';
import { decodeFirstString, encodeCredentialsResponse, encodeGetSecretResponse, ProtoError } from './proto.js';
import { openSession } from './session.js';
import { sshHandlers } from './ssh.js';
import { BuildkitTracer } from './trace.js';
import type { BuildkitBuildOptions, BuildkitSecret } from './types.js';

const OP = 'ImageBuild';
/** Largest secret (the 20.10 engine's gRPC client takes messages up to 4 MiB). */
export const MAX_SECRET = 4 * 1024 * 1024 - 1024;
export const FILESYNC = '/moby.filesync.v1.FileSync/DiffCopy';
export const FILESEND = '/moby.filesync.v1.FileSend/DiffCopy';
const CREDENTIALS = '/moby.filesync.v1.Auth/Credentials';
const GET_SECRET = '/moby.buildkit.secrets.v1.Secrets/GetSecret';

function invalid(message: string, parameter: string): ValidationError {
  return new ValidationError(`build: ${message}`, { operationId: OP, parameter });
}

async function loadDockerignore(): Promise<IgnoreFactory> {
  const m = (await import('@balena/dockerignore')) as unknown as { default?: IgnoreFactory } & IgnoreFactory;
  return m.default ?? m;
}

const KNOWN = new Set([
  'builder', 'dockerfile', 'tags', 'buildArgs', 'labels', 'target', 'platform', 'noCache', 'pull', 'networkMode', 'extraHosts',
  'cacheFrom', 'secrets', 'ssh', 'outputs', 'registryConfig', 'signal', 'timeout', 'onProgress', 'onStatus',
]);

const isStr = (v: unknown): v is string => typeof v === 'string';
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks every option before anything is sent. */
export function checkBuildkitOptions(options: BuildkitBuildOptions): void {
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!KNOWN.has(name)) throw invalid(`unknown BuildKit option "${name}" (known: ${[...KNOWN].join(', ')})`, name);
  }
  const o = options as unknown as Record<string, unknown>;
  for (const name of ['target', 'platform', 'networkMode']) if (o[name] !== undefined && !isStr(o[name])) throw invalid(`${name} must be a string`, name);
  for (const name of ['noCache', 'pull']) if (o[name] !== undefined && typeof o[name] !== 'boolean') throw invalid(`${name} must be a boolean`, name);
  for (const name of ['buildArgs', 'labels']) {
    if (o[name] !== undefined && !(isRecord(o[name]) && Object.values(o[name]).every(isStr))) throw invalid(`${name} must be an object of strings`, name);
  }
  for (const name of ['tags', 'extraHosts']) {
    const v = o[name];
    if (v !== undefined && !(isStr(v) && v !== '') && !(Array.isArray(v) && v.every((x) => isStr(x) && x !== ''))) throw invalid(`${name} must be a non-empty string or an array of them`, name);
  }
  if (o.cacheFrom !== undefined && !(Array.isArray(o.cacheFrom) && o.cacheFrom.every(isStr))) throw invalid('cacheFrom must be an array of strings', 'cacheFrom');
  const df = o.dockerfile;
  if (df !== undefined && !(isStr(df) && df !== '' && !df.includes('\0')) && !(isRecord(df) && isStr(df.content))) {
    throw invalid('dockerfile must be a path or { content: string }', 'dockerfile');
  }
  if (o.secrets !== undefined) {
    if (!isRecord(o.secrets)) throw invalid('secrets must be an object of { value } | { file } | { env } by id', 'secrets');
    for (const [id, s] of Object.entries(o.secrets)) {
      const ok = isRecord(s) && Object.keys(s).length === 1 && (isStr(s.value) || s.value instanceof Uint8Array || isStr(s.file) || isStr(s.env));
      if (!ok || id === '') throw invalid(`secrets.${id} must be { value } or { file } or { env }`, 'secrets');
    }
  }
  if (o.ssh !== undefined) {
    if (!isRecord(o.ssh) || !Object.values(o.ssh).every((v) => v === true || (isStr(v) && v !== ''))) throw invalid('ssh must be an object of true | socket path by id', 'ssh');
  }
  if (o.outputs !== undefined) {
    const out = o.outputs;
    const okTar = isRecord(out) && out.type === 'tar' && (isStr(out.dest) || (isRecord(out.dest) && typeof (out.dest as { write?: unknown }).write === 'function'));
    const okLocal = isRecord(out) && out.type === 'local' && isStr(out.dest) && out.dest !== '';
    if (!okTar && !okLocal) throw invalid("outputs must be { type: 'tar', dest: path | Writable } or { type: 'local', dest: folder }", 'outputs');
  }
  if (o.registryConfig !== undefined && !(isRecord(o.registryConfig) && Object.values(o.registryConfig).every(isRecord))) throw invalid('registryConfig must be an object of AuthConfig by registry', 'registryConfig');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal', 'signal');
  if (o.timeout !== undefined && !(Number.isSafeInteger(o.timeout) && (o.timeout as number) >= 0)) throw invalid('timeout must be an integer >= 0', 'timeout');
  for (const name of ['onProgress', 'onStatus']) if (o[name] !== undefined && typeof o[name] !== 'function') throw invalid(`${name} must be a function`, name);
}

/** A stable key per context folder and machine: the engine keeps its copy, later transfers are incremental. */
function sharedKey(dir: string): string {
  const node = createHash('sha256').update(`dockhand:${hostname()}:${homedir()}`).digest('hex');
  return createHash('sha256').update(`${node}:${dir}`).digest('hex');
}

async function secretValue(id: string, s: BuildkitSecret): Promise<Buffer> {
  let data: Buffer;
  if ('value' in s) data = typeof s.value === 'string' ? Buffer.from(s.value, 'utf8') : Buffer.from(s.value);
  else if ('env' in s) {
    const v = process.env[s.env];
    if (v === undefined) throw new GrpcError(GRPC_NOT_FOUND, `secret ${id}: environment variable ${s.env} is not set`);
    data = Buffer.from(v, 'utf8');
  } else {
    const st = await fsp.stat(s.file).catch(() => undefined);
    if (!st?.isFile()) throw new GrpcError(GRPC_NOT_FOUND, `secret ${id}: ${s.file} is not a file`);
    if (st.size > MAX_SECRET) throw new GrpcError(GRPC_NOT_FOUND, `secret ${id}: ${s.file} is larger than ${MAX_SECRET} bytes`);
    data = await fsp.readFile(s.file);
  }
  if (data.length > MAX_SECRET) throw new GrpcError(GRPC_NOT_FOUND, `secret ${id} is larger than ${MAX_SECRET} bytes`);
  return data;
}

function credentialsOf(auth: AuthConfig | undefined): Buffer {
  if (!auth) return encodeCredentialsResponse('', '');
  const a = auth as { username?: string; password?: string; identitytoken?: string; registrytoken?: string };
  if (a.identitytoken) return encodeCredentialsResponse('', a.identitytoken);
  if (a.registrytoken) return encodeCredentialsResponse('', a.registrytoken);
  return encodeCredentialsResponse(a.username ?? '', a.password ?? '');
}

interface Prepared {
  params: Record<string, unknown>;
  handlers: Map<string, GrpcHandler>;
  name: string;
  key: string;
}

async function prepare(context: string, remote: boolean, options: BuildkitBuildOptions): Promise<Prepared> {
  const factory = await loadDockerignore();
  const sources = new Map<string, SyncSource>();
  const params: Record<string, unknown> = { version: '2' };
  let root: string | undefined;
  if (remote) {
    params.remote = context;
  } else {
    root = path.resolve(context);
    const st = await fsp.stat(root).catch(() => undefined);
    if (!st?.isDirectory()) throw invalid(`the context ${JSON.stringify(context)} is not a folder (nor a URL)`, 'context');
    sources.set('context', { kind: 'dir', root });
    params.remote = 'client-session';
  }
  const df = options.dockerfile;
  if (df !== undefined && typeof df !== 'string') {
    sources.set('dockerfile', { kind: 'memory', files: new Map([['Dockerfile', Buffer.from(df.content, 'utf8')]]) });
    params.dockerfile = 'Dockerfile';
  } else if (root !== undefined) {
    const file = df === undefined ? path.join(root, 'Dockerfile') : path.resolve(root, df);
    const st = await fsp.stat(file).catch(() => undefined);
    if (!st?.isFile()) throw invalid(`there is no Dockerfile at ${JSON.stringify(file)}`, 'dockerfile');
    sources.set('dockerfile', { kind: 'dir', root: path.dirname(file) });
    params.dockerfile = path.basename(file);
  } else if (df !== undefined) {
    params.dockerfile = df;
  }
  if (options.tags !== undefined) params.t = typeof options.tags === 'string' ? options.tags : [...options.tags];
  if (options.target !== undefined) params.target = options.target;
  if (options.platform !== undefined) params.platform = options.platform;
  if (options.buildArgs !== undefined) params.buildargs = options.buildArgs;
  if (options.labels !== undefined) params.labels = options.labels;
  if (options.noCache !== undefined) params.nocache = options.noCache;
  if (options.pull !== undefined) params.pull = options.pull ? '1' : '';
  if (options.networkMode !== undefined) params.networkmode = options.networkMode;
  if (options.extraHosts !== undefined) params.extrahosts = typeof options.extraHosts === 'string' ? options.extraHosts : [...options.extraHosts];
  if (options.cacheFrom !== undefined) params.cachefrom = [...options.cacheFrom];
  if (options.registryConfig !== undefined) params['X-Registry-Config'] = options.registryConfig;

  const handlers = new Map<string, GrpcHandler>();
  handlers.set(FILESYNC, async (call) => {
    const name = call.metadata('dir-name')[0] ?? '';
    const source = sources.get(name);
    if (!source) throw new GrpcError(GRPC_NOT_FOUND, `no access allowed to dir "${name}"`);
    const follow = metadataList(call, 'followpaths');
    let includes = metadataList(call, 'include-patterns');
    if (follow.length > 0) includes = [...includes, ...(source.kind === 'dir' ? await followLinks(source.root, follow) : follow)];
    const filter = new PathFilter(factory, metadataList(call, 'exclude-patterns'), includes);
    await serveDiffCopy(call, source, filter);
  });

  const secrets = options.secrets ?? {};
  for (const [id, s] of Object.entries(secrets)) {
    if ('file' in s && !(await fsp.stat(s.file).catch(() => undefined))?.isFile()) throw invalid(`secrets.${id}: ${JSON.stringify(s.file)} is not a file`, 'secrets');
    if ('env' in s && process.env[s.env] === undefined) throw invalid(`secrets.${id}: environment variable ${s.env} is not set`, 'secrets');
  }
  handlers.set(
    GET_SECRET,
    unary(async (req) => {
      const id = decodeFirstString(req);
      const s = Object.hasOwn(secrets, id) ? secrets[id] : undefined;
      if (!s) throw new GrpcError(GRPC_NOT_FOUND, `secret ${id} not found`);
      return encodeGetSecretResponse(await secretValue(id, s));
    }),
  );

  const explicit = new Map(Object.entries(options.registryConfig ?? {}).map(([k, v]) => [normalizeRegistry(k), v] as const));
  let store: CredentialStore | undefined;
  handlers.set(
    CREDENTIALS,
    unary(async (req) => {
      const host = normalizeRegistry(decodeFirstString(req));
      const given = explicit.get(host);
      if (given) return credentialsOf(given);
      store ??= new CredentialStore(process.env);
      return credentialsOf(await store.lookup(host).catch(() => undefined));
    }),
  );

  if (options.ssh !== undefined) {
    const agents = new Map<string, string>();
    for (const [id, v] of Object.entries(options.ssh)) {
      const sock = v === true ? process.env.SSH_AUTH_SOCK : v;
      if (!sock) throw invalid(`ssh.${id}: SSH_AUTH_SOCK is not set`, 'ssh');
      agents.set(id, sock);
    }
    for (const [p, h] of sshHandlers(agents)) handlers.set(p, h);
  }

  if (options.outputs !== undefined) {
    params.outputs = [{ Type: options.outputs.type, Attrs: {} }];
    handlers.set(FILESEND, outputHandler(options.outputs));
  }
  const name = root !== undefined ? path.basename(root) : 'remote';
  return { params, handlers, name, key: sharedKey(root ?? context) };
}

/** Opens the session and the build; the build's messages, translated, as JSON lines. */
export async function openBuildkit(ctx: OperationContext, context: string, remote: boolean, options: BuildkitBuildOptions): Promise<Readable> {
  const signal = options.signal;
  if (signal?.aborted) throw new AbortError(`${OP}: aborted before it started`, { operationId: OP, cause: signal.reason });
  const version = await ctx.apiVersion(signal ? { signal } : undefined);
  const [major, minor] = version.split('.').map(Number) as [number, number];
  if (major < 1 || (major === 1 && minor < 39)) {
    throw new DockerError(`${OP}: BuildKit builds need API 1.39 or later; the API version in use is ${version}`, { code: 'BUILDKIT_UNAVAILABLE', operationId: OP });
  }
  if (options.outputs !== undefined && major === 1 && minor < 40) {
    throw new DockerError(`${OP}: BuildKit outputs need API 1.40 or later; the API version in use is ${version}`, { code: 'BUILDKIT_UNAVAILABLE', operationId: OP });
  }
  if (await ctx.isPodman(signal ? { signal } : undefined)) {
    throw new DockerError(`${OP}: the engine is Podman, which has no BuildKit: build with the classic builder (builder: 'auto' falls back to it)`, { code: 'BUILDKIT_UNAVAILABLE', operationId: OP });
  }
  const prepared = await prepare(context, remote, options);
  // a handler's failure reaches the engine as a gRPC status, and the build's error says it
  const session = await openSession(ctx, { name: prepared.name, sharedKey: prepared.key, handlers: prepared.handlers, signal, timeout: options.timeout });
  const buildId = `dockhand-${session.id}`;
  const cancel = buildCanceller(ctx, buildId);
  // Aborting closes the /build connection, and the engine stops the build when it notices; like the
  // CLI, also ask it to cancel the build by id at once (the request outlives the aborted signal).
  const onAbort = (): void => void cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  const end = async (): Promise<void> => {
    signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) await cancel();
    await session.close();
  };
  let res: Readable;
  try {
    // `session` and `buildid` are not in the API description of /build: sent as extra query
    // parameters through the requester's internal EXTRA_QUERY call option.
    const callOptions = {
      ...(signal ? { signal } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      [EXTRA_QUERY]: { session: session.id, buildid: buildId },
    };
    res = (await ctx.call(OP, prepared.params as never, callOptions)) as Readable;
  } catch (err) {
    await end();
    throw err;
  }
  return Readable.from(translate(res, options.onStatus, end), { objectMode: false });
}

/** How long a cancel request may take: it is best effort, and the abort must not wait on it. */
export const CANCEL_TIMEOUT = 3_000;

/**
 * `POST /build/cancel?id=` for this build, sent at most once, never rejecting: its failure (an
 * engine without the route, a dead connection) must not hide the AbortError the build rejects with.
 */
function buildCanceller(ctx: OperationContext, buildId: string): () => Promise<void> {
  let sent: Promise<void> | undefined;
  return () =>
    (sent ??= (async () => {
      await ctx.call('BuildCancel', { id: buildId }, { timeout: CANCEL_TIMEOUT });
    })().catch(() => undefined));
}

interface EngineMessage {
  id?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  [k: string]: unknown;
}

async function* translate(res: Readable, onStatus: BuildkitBuildOptions['onStatus'], end: () => Promise<void>): AsyncGenerator<Buffer, void, undefined> {
  let printed: string[] = [];
  const tracer = new BuildkitTracer(onStatus, (text) => void printed.push(text));
  try {
    for await (const m of jsonMessages<EngineMessage>(res)) {
      if (m.id === 'moby.buildkit.trace' && typeof m.aux === 'string') {
        try {
          tracer.push(m.aux);
        } catch (err) {
          // a trace this decoder cannot read is dropped, never fatal (an onStatus failure is)
          if (!(err instanceof ProtoError)) throw err;
        }
        if (printed.length > 0) {
          const text = printed.join('');
          printed = [];
          yield Buffer.from(`${JSON.stringify({ stream: text })}\n`);
        }
        continue;
      }
      if (m.error !== undefined || m.errorDetail !== undefined || m.id === 'moby.image.id') {
        tracer.flush();
        if (printed.length > 0) {
          yield Buffer.from(`${JSON.stringify({ stream: printed.join('') })}\n`);
          printed = [];
        }
      }
      if (m.error !== undefined || m.errorDetail !== undefined) {
        const failed = tracer.failure();
        if (failed && failed.log.trim() !== '') {
          const base = m.errorDetail?.message ?? m.error ?? 'the build failed';
          const message = `${base}\n[${failed.vertex.name}] output:\n${failed.log.trimEnd()}`;
          m.errorDetail = { ...(m.errorDetail ?? {}), message };
          m.error = message;
        }
      }
      yield Buffer.from(`${JSON.stringify(m)}\n`);
    }
    tracer.flush();
    if (printed.length > 0) yield Buffer.from(`${JSON.stringify({ stream: printed.join('') })}\n`);
  } finally {
    res.destroy();
    await end();
  }
}
