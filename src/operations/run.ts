/**
 * `docker.run(image, cmd?, options?)`: what `docker run` does, in the CLI's order: (pull,) create,
 * attach before start (so no output is lost), start, wait, collect, remove.
 */
import { once } from 'node:events';
import { promises as streams, Readable, type Writable } from 'node:stream';
import { closestName } from '../closest-name.js';
import { DockerError, NotFoundError, ValidationError, describeValue } from '../errors.js';
import type { ContainerCreateParams } from '../generated/api.js';
import type { HostConfig, Mount } from '../generated/types.js';
import { deadline } from '../request/abort.js';
import type { CallOptions, UploadBody } from '../request/types.js';
import type { HijackSession } from '../streams/session.js';
import { attachContainer } from './attach.js';
import type { OperationContext } from './context.js';
import { removeContainer, type ContainerHandle } from './handles.js';
import { pullImage } from './images.js';

/** The ContainerCreate body (ContainerConfig with HostConfig and NetworkingConfig). */
export type ContainerCreateBody = ContainerCreateParams['body'];

/** A published port: the host port (0 or '' for a random one), or the host address and port. */
export type PortPublish = number | string | { hostIp?: string; hostPort?: number | string };

interface RunCommonOptions {
  /** The container's name (`--name`). */
  name?: string;
  /** Environment: `{ KEY: 'value' }` or `['KEY=value']` (`--env`). */
  env?: Readonly<Record<string, string | number | boolean>> | readonly string[];
  /** Mounts as the engine reads them (`--mount`): `{ Type: 'bind' | 'volume' | 'tmpfs', Source, Target, ReadOnly }`. */
  mounts?: readonly Mount[];
  /** `-v`: `'/host/path:/in/container[:ro]'`, `'volume:/in/container'`, or `'/in/container'` (an anonymous volume). */
  volumes?: readonly string[];
  /** `-p`: `{ '80/tcp': 0 }` publishes container port 80 on a random host port; `{ '80': 8080 }` on 8080. */
  ports?: Readonly<Record<string, PortPublish>>;
  /** The network to join (`--network`): `bridge`, `host`, `none` or a network's name or id. */
  network?: string;
  /** `--user`: `name`, `uid`, `uid:gid`. */
  user?: string;
  /** `--workdir`. */
  workdir?: string;
  /** Labels of the container. */
  labels?: Readonly<Record<string, string>>;
  /** Allocates a TTY: output is raw (stdout only, `\r\n` line ends). */
  tty?: boolean;
  /** `--entrypoint`: a program, or a program and its arguments. */
  entrypoint?: string | readonly string[];
  /**
   * `--pull`: `missing` (default) pulls when the engine has no such image, `always` before every
   * run, `never` not at all. Credentials come from config.json, as for `images.pull`.
   */
  pull?: 'missing' | 'always' | 'never';
  /** `--platform`, for the pull and the create (API 1.41+). */
  platform?: string;
  /**
   * Any other ContainerCreate field, verbatim (`{ HostConfig: { Memory: 64 << 20 } }`). An
   * option and a body field that set the same thing is a ValidationError.
   */
  body?: Partial<ContainerCreateBody>;
  /** Kills and removes the container, and rejects with AbortError. */
  signal?: AbortSignal;
  /** Milliseconds for the whole run; past it, as `signal`. */
  timeout?: number;
}

/** Options of a run that waits for the command and collects its output. */
export interface RunOptions extends RunCommonOptions {
  detach?: false;
  /**
   * Removes the container (and its anonymous volumes) once its exit code is known, or when the
   * start fails (default true).
   */
  remove?: boolean;
  /** Fed to the command's stdin, then EOF (with `tty`, typed into the terminal: see the README). */
  stdin?: UploadBody;
  /** `string` (default) or `buffer`: what `stdout` and `stderr` of the result are. */
  output?: 'string' | 'buffer';
  /** Writes the command's stdout here (ended at the end, unless it is process.stdout) instead of collecting it. */
  stdout?: Writable;
  /** Writes the command's stderr here instead of collecting it. */
  stderr?: Writable;
}

/** Options of `run(..., { detach: true })`: resolves to the started container's handle. */
export interface RunDetachedOptions extends RunCommonOptions {
  detach: true;
  /** The engine removes the container when it exits (HostConfig.AutoRemove; default false). */
  remove?: boolean;
}

export interface RunResult<T extends string | Buffer = string> {
  /** The command's exit code; a non-zero one is a result, not an error. */
  exitCode: number;
  /** Its stdout (empty when piped to `options.stdout`). */
  stdout: T;
  /** Its stderr (empty when piped to `options.stderr`, and always with a TTY). */
  stderr: T;
  /** The container's id (removed already, unless `remove: false`). */
  containerId: string;
}

/** What a collecting run's stdout and stderr are, from its options. */
export type RunOutput<O> = O extends { output: 'buffer' } ? Buffer : string;

type AnyRunOptions = RunOptions | RunDetachedOptions;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isWritable = (v: unknown): v is Writable => isObject(v) && typeof v.write === 'function' && typeof v.end === 'function' && typeof v.once === 'function';
const isStdin = (v: unknown): v is UploadBody =>
  typeof v === 'string' || v instanceof Uint8Array || v instanceof Readable || (isObject(v) && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function');
const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v !== '';

/** Each option's check: the expected kind, said as the error says it. */
const CHECKS: { [K in keyof RunOptions | 'detach']-?: [check: (v: unknown) => boolean, expected: string] } = {
  name: [nonEmpty, 'a non-empty string'],
  env: [(v) => isStringArray(v) || (isObject(v) && Object.entries(v).every(([k, x]) => k !== '' && !k.includes('=') && ['string', 'number', 'boolean'].includes(typeof x))), 'an object of names (without "=") to strings, or an array of "KEY=value" strings'],
  mounts: [(v) => Array.isArray(v) && v.every(isObject), 'an array of mount objects ({ Type, Source, Target })'],
  volumes: [(v) => isStringArray(v) && v.every((s) => s !== ''), 'an array of "source:target[:mode]" or "/target" strings'],
  ports: [(v) => isObject(v) && Object.entries(v).every(([k, x]) => PORT_KEY.test(k) && isPortPublish(x)), 'an object like { "80/tcp": 0 } (container port, optionally /tcp, /udp or /sctp, to a host port, 0 for a random one)'],
  network: [nonEmpty, 'a non-empty string'],
  user: [nonEmpty, 'a non-empty string'],
  workdir: [nonEmpty, 'a non-empty string'],
  labels: [(v) => isObject(v) && Object.values(v).every((x) => typeof x === 'string'), 'an object of strings'],
  tty: [(v) => typeof v === 'boolean', 'a boolean'],
  stdin: [isStdin, 'a string, a Buffer, a Readable or an async iterable of bytes'],
  entrypoint: [(v) => nonEmpty(v) || (isStringArray(v) && v.length > 0), 'a string or a non-empty array of strings'],
  remove: [(v) => typeof v === 'boolean', 'a boolean'],
  detach: [(v) => typeof v === 'boolean', 'a boolean'],
  pull: [(v) => v === 'missing' || v === 'always' || v === 'never', '"missing", "always" or "never"'],
  platform: [nonEmpty, 'a non-empty string'],
  output: [(v) => v === 'string' || v === 'buffer', '"string" or "buffer"'],
  stdout: [isWritable, 'a Writable'],
  stderr: [isWritable, 'a Writable'],
  body: [isObject, 'an object (ContainerCreate fields)'],
  signal: [(v) => v instanceof AbortSignal, 'an AbortSignal'],
  timeout: [(v) => typeof v === 'number' && Number.isFinite(v) && v > 0, 'a positive number of milliseconds'],
};

const PORT_KEY = /^\d{1,5}(\/(tcp|udp|sctp))?$/;
const isPort = (v: unknown): boolean => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535) || (typeof v === 'string' && /^\d{0,5}$/.test(v));
function isPortPublish(v: unknown): boolean {
  if (isObject(v)) return Object.keys(v).every((k) => k === 'hostIp' || k === 'hostPort') && (v.hostIp === undefined || typeof v.hostIp === 'string') && (v.hostPort === undefined || isPort(v.hostPort));
  return isPort(v);
}

function invalid(message: string, parameter: string): ValidationError {
  return new ValidationError(`run: ${message}`, { operationId: 'ContainerCreate', parameter });
}

/** Checks the arguments of `run` before anything is sent. */
export function validateRun(image: unknown, cmd: unknown, options: unknown): asserts options is AnyRunOptions {
  if (typeof image !== 'string' || image.trim() === '') throw invalid(`the image must be a non-empty string, not ${describeValue(image)}`, 'image');
  if (cmd !== undefined && !(isStringArray(cmd) && cmd.length > 0)) {
    throw invalid(`the command must be a non-empty array of strings (["sh", "-c", "echo hi"]), not ${typeof cmd === 'string' ? `the string ${JSON.stringify(cmd)}` : describeValue(cmd)}`, 'cmd');
  }
  if (!isObject(options)) throw invalid(`options must be an object, not ${describeValue(options)}`, 'options');
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const check = Object.hasOwn(CHECKS, key) ? CHECKS[key as keyof typeof CHECKS] : undefined;
    if (!check) {
      const near = closestName(key, Object.keys(CHECKS));
      throw invalid(`unknown option "${key}"${near ? ` (did you mean ${near}?)` : ''}`, key);
    }
    if (!check[0](value)) throw invalid(`option ${key} must be ${check[1]}, not ${describeValue(value)}`, key);
  }
  if (options.detach === true) {
    for (const key of ['stdin', 'output', 'stdout', 'stderr'] as const) {
      if (options[key] !== undefined) throw invalid(`option ${key} does not go with detach: true (a detached run collects nothing; attach or read logs from the handle)`, key);
    }
  }
}

/** Fields the run sets itself from its options: a body giving them is refused. */
const RUN_MANAGED = ['Image', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'OpenStdin', 'StdinOnce'] as const;

/** The ContainerCreate params of a run: the options turned into fields, merged with `body`. */
export function createParams(image: string, cmd: readonly string[] | undefined, options: AnyRunOptions): ContainerCreateParams {
  const body: Partial<ContainerCreateBody> = options.body ?? {};
  for (const field of RUN_MANAGED) {
    if (body[field] !== undefined) throw invalid(`body.${field} is set by run (${field === 'Image' ? 'the image argument' : 'from the stdin and detach options'}); leave it out of body`, `body.${field}`);
  }
  const hostBody: HostConfig = body.HostConfig ?? {};
  if (hostBody.AutoRemove !== undefined) throw invalid('body.HostConfig.AutoRemove is set by run: use the remove option', 'body.HostConfig.AutoRemove');

  const config: Partial<ContainerCreateBody> = {};
  const host: HostConfig = {};
  /** Sets a field from an option; the body setting it too is a conflict, not a silent override. */
  const set = <T extends object, K extends keyof T>(target: T, from: Partial<T>, field: K, value: T[K], option: string, path: string): void => {
    if (from[field] !== undefined) throw invalid(`option ${option} and body.${path} both set ${path}; give one of them`, option);
    target[field] = value;
  };
  const stdin = options.detach ? undefined : options.stdin;
  if (cmd) set(config, body, 'Cmd', [...cmd], 'cmd', 'Cmd');
  if (options.env) {
    const env = Array.isArray(options.env) ? [...(options.env as readonly string[])] : Object.entries(options.env).map(([k, v]) => `${k}=${String(v)}`);
    set(config, body, 'Env', env, 'env', 'Env');
  }
  if (options.user) set(config, body, 'User', options.user, 'user', 'User');
  if (options.workdir) set(config, body, 'WorkingDir', options.workdir, 'workdir', 'WorkingDir');
  if (options.labels) set(config, body, 'Labels', { ...options.labels }, 'labels', 'Labels');
  if (options.tty !== undefined) set(config, body, 'Tty', options.tty, 'tty', 'Tty');
  if (options.entrypoint) set(config, body, 'Entrypoint', typeof options.entrypoint === 'string' ? [options.entrypoint] : [...options.entrypoint], 'entrypoint', 'Entrypoint');
  if (options.network) set(host, hostBody, 'NetworkMode', options.network, 'network', 'HostConfig.NetworkMode');
  if (options.mounts) set(host, hostBody, 'Mounts', [...options.mounts], 'mounts', 'HostConfig.Mounts');
  if (options.volumes) {
    const binds = options.volumes.filter((v) => v.includes(':'));
    const anonymous = options.volumes.filter((v) => !v.includes(':'));
    if (binds.length) set(host, hostBody, 'Binds', binds, 'volumes', 'HostConfig.Binds');
    if (anonymous.length) set(config, body, 'Volumes', Object.fromEntries(anonymous.map((v) => [v, {}])), 'volumes', 'Volumes');
  }
  if (options.ports) {
    const exposed: Record<string, Record<string, never>> = {};
    const bindings: NonNullable<HostConfig['PortBindings']> = {};
    for (const [key, publish] of Object.entries(options.ports)) {
      const port = key.includes('/') ? key : `${key}/tcp`;
      const { hostIp, hostPort } = typeof publish === 'object' ? publish : { hostIp: undefined, hostPort: publish };
      exposed[port] = {};
      // An empty HostPort (0 asked for) is a random one, as `-p 80` is.
      bindings[port] = [{ ...(hostIp ? { HostIp: hostIp } : {}), HostPort: hostPort === undefined || hostPort === 0 || hostPort === '0' ? '' : String(hostPort) }];
    }
    set(config, body, 'ExposedPorts', exposed, 'ports', 'ExposedPorts');
    set(host, hostBody, 'PortBindings', bindings, 'ports', 'HostConfig.PortBindings');
  }

  const detach = options.detach === true;
  const remove = options.remove ?? !detach;
  const restart = hostBody.RestartPolicy?.Name;
  if (remove && restart && restart !== 'no') throw invalid(`remove and body.HostConfig.RestartPolicy "${restart}" conflict (as --rm and --restart do); pass remove: false`, 'remove');
  return {
    ...(options.name ? { name: options.name } : {}),
    ...(options.platform ? { platform: options.platform } : {}),
    body: {
      ...body,
      ...config,
      Image: image,
      AttachStdin: stdin !== undefined,
      AttachStdout: !detach,
      AttachStderr: !detach,
      OpenStdin: stdin !== undefined,
      // The container's stdin closes when ours does: the command sees EOF (`docker run -i`).
      StdinOnce: stdin !== undefined,
      // A detached run with remove leaves the removal to the engine (`docker run -d --rm`); a
      // collecting run removes the container itself, after reading the exit code (see below).
      HostConfig: { ...hostBody, ...host, ...(detach && remove ? { AutoRemove: true } : {}) },
    },
  };
}

/** Creates the container, pulling the image first (`always`) or when the engine has none (`missing`). */
async function create(ctx: OperationContext, image: string, params: ContainerCreateParams, options: AnyRunOptions, call: CallOptions): Promise<string> {
  const policy = options.pull ?? 'missing';
  const pull = async (): Promise<void> => {
    await pullImage(ctx, image, options.platform ? { platform: options.platform } : {}, call);
  };
  if (policy === 'always') await pull();
  try {
    return (await ctx.call('ContainerCreate', params, call)).Id;
  } catch (err) {
    // ContainerCreate's 404 is "no such image" on every engine, but check that it is the image
    // (not, say, a network that is missing) before pulling.
    if (policy !== 'missing' || !(err instanceof NotFoundError)) throw err;
    const missing = await ctx.call('ImageInspect', { name: image }, call).then(
      () => false,
      (e: unknown) => (e instanceof NotFoundError ? true : Promise.reject(e)),
    );
    if (!missing) throw err;
    await pull();
    return (await ctx.call('ContainerCreate', params, call)).Id;
  }
}

/** Writes `input` to the session's stdin; ends it unless `keepOpen` (TTY: see runCollect). */
async function feed(session: HijackSession, input: UploadBody, keepOpen: boolean): Promise<void> {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    if (keepOpen) session.stdin.write(input);
    else session.stdin.end(input);
    return;
  }
  const source = input instanceof Readable ? input : Readable.from(input, { objectMode: false });
  try {
    if (source.errored) throw source.errored;
    await streams.pipeline(source, session.stdin, { end: !keepOpen });
  } catch (err) {
    // The command must not wait for more input forever: closing the connection gives it EOF.
    session.close();
    throw new DockerError(`run: the stdin stream failed: ${(err as Error)?.message ?? String(err)}`, { code: 'UPLOAD_FAILED', operationId: 'ContainerAttach', cause: err });
  }
}

/** Reads the output: frames to the given writables, the rest collected. */
async function collect(session: HijackSession, options: RunOptions): Promise<{ stdout: Buffer; stderr: Buffer }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const ends = [options.stdout, options.stderr].filter((w): w is Writable => w !== undefined && w !== process.stdout && w !== process.stderr);
  try {
    for await (const frame of session) {
      const target = frame.stream === 'stderr' ? options.stderr : options.stdout;
      if (!target) {
        (frame.stream === 'stderr' ? err : out).push(frame.data);
        continue;
      }
      try {
        if (!target.write(frame.data)) await once(target, 'drain');
      } catch (cause) {
        throw new DockerError(`run: writing the container's ${frame.stream} failed: ${(cause as Error)?.message ?? String(cause)}`, { code: 'STREAM_FAILED', operationId: 'ContainerAttach', cause });
      }
    }
  } finally {
    for (const w of new Set(ends)) w.end();
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}

/**
 * The exit code, once the output has ended.
 *
 * The CLI waits with `condition: 'removed'` for an AutoRemove container, or `next-exit`, both
 * asked before the start. dockhand creates the container without AutoRemove, waits for the output
 * to end, asks ContainerWait with the default `not-running` condition (immediate: the container
 * stopped, or is about to) and then removes the container itself. Why: the container exists until
 * its exit code is read, so the code can never be lost, on every engine; Podman 4.3's compat
 * `removed` condition answers a wrong exit code (containers/podman#18889, fixed in 4.6), and its
 * `next-exit` can wait forever when the container exits before Podman subscribes to its events
 * (containers/podman#28514). The price: if this process dies mid-run, the container stays (with
 * its labels) instead of the engine removing it.
 */
async function exitCode(ctx: OperationContext, id: string, call: CallOptions): Promise<number> {
  const result = await ctx.call('ContainerWait', { id }, call);
  if (result.Error?.Message) throw new DockerError(`ContainerWait: ${result.Error.Message}`, { operationId: 'ContainerWait' });
  return result.StatusCode;
}

/**
 * Runs a container. Collecting: resolves to its exit code and output once it exits. Detached:
 * resolves to its handle once it started. `makeHandle` makes the container handle.
 */
export async function run(
  ctx: OperationContext,
  makeHandle: (id: string) => ContainerHandle,
  image: string,
  cmdOrOptions?: readonly string[] | AnyRunOptions,
  maybeOptions?: AnyRunOptions,
): Promise<RunResult<string | Buffer> | ContainerHandle> {
  // run(image, options): a plain object where the command goes is the options.
  const [cmd, options] = isObject(cmdOrOptions) && maybeOptions === undefined ? [undefined, cmdOrOptions] : [cmdOrOptions, maybeOptions ?? {}];
  validateRun(image, cmd, options);
  const params = createParams(image, cmd as readonly string[] | undefined, options);
  // A stdin stream failing before it is read must not crash the process (read back from `errored`).
  if (!options.detach && options.stdin instanceof Readable) options.stdin.on('error', () => undefined);
  const whole = deadline({ signal: options.signal, timeout: options.timeout });
  const call = whole.options;
  const remove = options.remove ?? !options.detach;
  let id: string | undefined;
  let session: HijackSession | undefined;
  try {
    id = await create(ctx, image, params, options, call);
    if (options.detach) {
      await ctx.call('ContainerStart', { id }, call);
      return makeHandle(id);
    }
    // Attached before the start, so nothing the command writes at once is lost.
    session = await attachContainer(ctx, id, { stdin: options.stdin !== undefined }, call);
    await ctx.call('ContainerStart', { id }, call);
    // With a TTY, ending stdin makes Docker end the attach's output too (moby closes a TTY
    // attach's output when its stdin ends), so the rest of the output would be lost: the input is
    // written and stdin left open; the command exits by itself (or on a Ctrl-D, '\x04', in stdin).
    const feeding = options.stdin === undefined ? (session.stdin.end(), Promise.resolve()) : feed(session, options.stdin, params.body.Tty === true);
    const [output] = await Promise.all([collect(session, options), feeding]);
    const code = await exitCode(ctx, id, call);
    const buffers = options.output === 'buffer';
    const result: RunResult<string | Buffer> = {
      exitCode: code,
      stdout: buffers ? output.stdout : output.stdout.toString('utf8'),
      stderr: buffers ? output.stderr : output.stderr.toString('utf8'),
      containerId: id,
    };
    if (remove) await removeContainer(ctx, id);
    return result;
  } catch (err) {
    session?.close();
    // The signal (or timeout) kills and removes the container; a failure removes what was
    // created when `remove` is on. Neither waits for the signal that fired.
    if (id !== undefined && (remove || whole.signal?.aborted)) await removeContainer(ctx, id).catch(() => undefined);
    throw err;
  } finally {
    whole.done();
  }
}
