/** Attach to a container and exec start, over hijacked connections. */
import type { ContainerAttachParams, ExecStartParams } from '../generated/api.js';
import type { CallOptions, HijackedConnection } from '../request/types.js';
import { isRawStream } from '../streams/frames.js';
import { HijackSession } from '../streams/session.js';
import type { OperationContext } from './context.js';
import { containerTty, execTty } from './tty.js';

export type AttachParams = Omit<ContainerAttachParams, 'id'>;
export type ExecStartConfig = NonNullable<ExecStartParams['execStartConfig']>;

async function session(
  ctx: OperationContext,
  operationId: string,
  connection: HijackedConnection,
  knownTty: () => Promise<boolean>,
  resize: (size: { h: number; w: number }) => Promise<unknown>,
  options: CallOptions,
): Promise<HijackSession> {
  try {
    const tty = await isRawStream(connection.headers['content-type'], await ctx.apiVersion(options), knownTty);
    return new HijackSession(connection, tty, operationId, resize, options.signal);
  } catch (err) {
    connection.destroy();
    throw err;
  }
}

/** Attaches to a container: stdout and stderr by default, stdin when `stdin: true`. */
export async function attachContainer(ctx: OperationContext, id: string, params: AttachParams = {}, options: CallOptions = {}): Promise<HijackSession> {
  const p = { stream: true, stdout: true, stderr: true, ...params, id };
  const connection = (await ctx.call('ContainerAttach', p, options)) as HijackedConnection;
  // Attach never answers before the TTY is known: inspect it in parallel on older APIs.
  return session(ctx, 'ContainerAttach', connection, () => containerTty(ctx, id, options), (size) => ctx.call('ContainerResize', { id, ...size }), options);
}

/** Starts an exec: detached resolves when started; attached resolves to the session. */
export async function startExec(ctx: OperationContext, id: string, config: ExecStartConfig & { Detach: true }, options?: CallOptions): Promise<void>;
export async function startExec(ctx: OperationContext, id: string, config?: ExecStartConfig, options?: CallOptions): Promise<HijackSession>;
export async function startExec(ctx: OperationContext, id: string, config: ExecStartConfig = {}, options: CallOptions = {}): Promise<HijackSession | void> {
  if (config.Detach) {
    await ctx.call('ExecStart', { id, execStartConfig: config }, options);
    return;
  }
  // The engine frames the output by the start request's Tty, not the exec's: send the exec's own.
  const tty = config.Tty ?? (await execTty(ctx, id, options));
  const result = await ctx.call('ExecStart', { id, execStartConfig: { ...config, Detach: false, Tty: tty } }, options);
  return session(ctx, 'ExecStart', result as HijackedConnection, () => Promise.resolve(tty), (size) => ctx.call('ExecResize', { id, ...size }), options);
}
