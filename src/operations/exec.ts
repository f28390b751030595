/** `containers.exec`: run a command in a running container and get its exit code and output. */
import { promises as streams, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ValidationError } from '../errors.js';
import type { ContainerExecParams } from '../generated/api.js';
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

async function feed(session: HijackSession, input: UploadBody): Promise<void> {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    session.stdin.end(input);
    return;
  }
  const source = input instanceof Readable ? input : Readable.from(input, { objectMode: false });
  await streams.pipeline(source, session.stdin);
}

/** Waits for the engine to record the exit code (it may lag the end of the output briefly). */
async function exitCodeOf(ctx: OperationContext, id: string, options: CallOptions): Promise<number> {
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    const info = (await ctx.call('ExecInspect', { id }, options)) as { Running?: boolean; ExitCode?: number | null };
    if (!info.Running && typeof info.ExitCode === 'number') return info.ExitCode;
    await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined);
  }
}

export async function execInContainer(ctx: OperationContext, id: string, config: ExecOptions, options: CallOptions = {}): Promise<ExecResult> {
  if (!config || !Array.isArray(config.Cmd) || config.Cmd.length === 0 || config.Cmd.some((c) => typeof c !== 'string')) {
    throw new ValidationError('containers.exec: Cmd must be a non-empty array of strings', { operationId: 'ContainerExec', parameter: 'Cmd' });
  }
  const { stdin, ...rest } = config;
  const execConfig: ExecConfig = { ...rest, AttachStdin: stdin !== undefined, AttachStdout: true, AttachStderr: true };
  const created = (await ctx.call('ContainerExec', { id, execConfig }, options)) as { Id: string };
  const session = await startExec(ctx, created.Id, { Tty: config.Tty === true }, options);
  const feeding = stdin === undefined ? (session.stdin.end(), Promise.resolve()) : feed(session, stdin);
  const [output] = await Promise.all([session.text(), feeding]);
  return { exitCode: await exitCodeOf(ctx, created.Id, options), ...output };
}
