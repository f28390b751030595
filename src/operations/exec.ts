/** `containers.exec`: run a command in a running container and get its exit code and output. */
import { promises as streams, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortError, DockerError, ValidationError } from '../errors.js';
import type { ContainerExecParams } from '../generated/api.js';
import { abortError, deadline } from '../request/abort.js';
import type { CallOptions, UploadBody } from '../request/types.js';
import type { HijackSession } from '../streams/session.js';
import { startExec } from './attach.js';
import type { OperationContext } from './context.js';

export type ExecConfig = ContainerExecParams['execConfig'];

export interface ExecOptions extends Pick<ExecConfig, 'Env' | 'User' | 'WorkingDir' | 'Tty' | 'Privileged' | 'ConsoleSize' | 'DetachKeys'> {
  Cmd: string[];
  /** Sent to the process's stdin, then EOF. Without it, stdin is not attached. */
  stdin?: UploadBody;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * How long the engine may take to record an exit code after the output ended. Past it, the
 * process still runs: the output was cut (a dropped connection), not ended by the engine.
 */
const EXIT_GRACE_MS = 3000;

/**
 * The exit code dockerd records for an exec whose start or attach failed, also when it gave up on
 * a connection that was cut (its write failed): it marks the exec ended with 126 while the
 * command may still run. A command can exit with 126 itself (`sh` for a file it cannot run).
 */
const ENGINE_GAVE_UP = 126;

function truncated(id: string): DockerError {
  return new DockerError(`exec ${id}: the output ended but the command still runs (the connection was closed before the engine ended it, or the command closed its output)`, {
    code: 'STREAM_TRUNCATED',
    operationId: 'ExecStart',
  });
}

/**
 * Whether the exec's process is still in its container's process list (ContainerTop): an exec the
 * engine reports ended with 126 whose process runs on was cut, not finished. Unknown (no pid, no
 * PID column, the call fails) counts as not running: the engine's answer stands.
 */
async function stillRuns(ctx: OperationContext, info: { Pid?: number; ContainerID?: string }, options: CallOptions): Promise<boolean> {
  if (!info.Pid || !info.ContainerID) return false;
  try {
    const top = await ctx.call('ContainerTop', { id: info.ContainerID }, options);
    const column = top.Titles?.indexOf('PID') ?? -1;
    return column >= 0 && (top.Processes ?? []).some((row) => row[column] === String(info.Pid));
  } catch (err) {
    if (err instanceof AbortError) throw err;
    return false;
  }
}

/**
 * The exit code of an exec whose output just ended. Polls ExecInspect (the engine may record the
 * code a moment after the output ends), at most EXIT_GRACE_MS; a process still running then means
 * the connection was cut: STREAM_TRUNCATED, as is a 126 the engine recorded for a process that
 * still runs. The signal ends the wait with dockhand's AbortError.
 */
export async function execExitCode(ctx: OperationContext, id: string, options: CallOptions = {}): Promise<number> {
  const until = Date.now() + EXIT_GRACE_MS;
  let info: { Running?: boolean; ExitCode?: number | null; Pid?: number; ContainerID?: string };
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    info = (await ctx.call('ExecInspect', { id }, options)) as typeof info;
    if (!info.Running && typeof info.ExitCode === 'number') {
      if (info.ExitCode === ENGINE_GAVE_UP && (await stillRuns(ctx, info, options))) throw truncated(id);
      return info.ExitCode;
    }
    if (Date.now() >= until) break;
    try {
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined);
    } catch (err) {
      throw abortError('ExecInspect', options.signal?.reason, err);
    }
  }
  if (info.Running) throw truncated(id);
  throw new DockerError(`exec ${id}: the engine reports no exit code for the finished command`, { code: 'BAD_RESPONSE', operationId: 'ExecInspect' });
}

/** Writes `input` to the session's stdin and ends it; a failing input closes the connection. */
async function feed(session: HijackSession, input: UploadBody): Promise<void> {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    session.stdin.end(input);
    return;
  }
  const source = input instanceof Readable ? input : Readable.from(input, { objectMode: false });
  try {
    if (source.errored) throw source.errored;
    await streams.pipeline(source, session.stdin);
  } catch (err) {
    // The process must not wait for more input forever: closing the connection gives it EOF.
    session.close();
    throw new DockerError(`ExecStart: the stdin stream failed: ${(err as Error)?.message ?? String(err)}`, { code: 'UPLOAD_FAILED', operationId: 'ExecStart', cause: err });
  }
}

/**
 * Runs a command and collects its output and exit code. `timeout` and `signal` cover the whole
 * run (create, start, output, exit code); a cut connection rejects instead of returning part of
 * the output.
 */
export async function execInContainer(ctx: OperationContext, id: string, config: ExecOptions, options: CallOptions = {}): Promise<ExecResult> {
  if (!config || !Array.isArray(config.Cmd) || config.Cmd.length === 0 || config.Cmd.some((c) => typeof c !== 'string')) {
    throw new ValidationError('containers.exec: Cmd must be a non-empty array of strings', { operationId: 'ContainerExec', parameter: 'Cmd' });
  }
  const { stdin, ...rest } = config;
  const execConfig: ExecConfig = { ...rest, AttachStdin: stdin !== undefined, AttachStdout: true, AttachStderr: true };
  // From birth: a stdin stream that fails before it is read must not crash the process (its
  // error is read back from `errored` when feeding starts).
  if (stdin instanceof Readable) stdin.on('error', () => undefined);
  const run = deadline(options);
  try {
    const created = await ctx.call('ContainerExec', { id, execConfig }, run.options);
    const session = await startExec(ctx, created.Id, { Tty: config.Tty === true }, run.options, false);
    const feeding = stdin === undefined ? (session.stdin.end(), Promise.resolve()) : feed(session, stdin);
    const [output] = await Promise.all([session.text(), feeding]);
    return { exitCode: await execExitCode(ctx, created.Id, run.options), ...output };
  } finally {
    run.done();
  }
}
