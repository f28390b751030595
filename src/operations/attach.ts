/** Attach to a container and exec start, over hijacked connections. */
import type { ContainerAttachParams, ExecStartParams } from '../generated/api.js';
import { DockerError } from '../errors.js';
import type { CallOptions, HijackedConnection } from '../request/types.js';
import { isRawStream } from '../streams/frames.js';
import { HijackSession } from '../streams/session.js';
import type { OperationContext } from './context.js';
import { execExitCode } from './exec.js';
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
  verifyEnd?: (session: HijackSession) => Promise<void>,
): Promise<HijackSession> {
  try {
    const tty = await isRawStream(connection.headers['content-type'], await ctx.apiVersion(options), knownTty, () => ctx.isPodman(options));
    return new HijackSession(connection, tty, operationId, resize, options.signal, verifyEnd);
  } catch (err) {
    connection.destroy();
    throw err;
  }
}

/** Attaches to a container: stdout and stderr by default, stdin when `stdin: true`. */
export async function attachContainer(ctx: OperationContext, id: string, params: AttachParams = {}, options: CallOptions = {}): Promise<HijackSession> {
  const p = { stream: true, stdout: true, stderr: true, ...params, id };
  const connection = await ctx.call('ContainerAttach', p, options);
  // Attach never answers before the TTY is known: inspect it in parallel on older APIs.
  const verify = p.stream ? (s: HijackSession) => attachEnded(ctx, id, s, options) : undefined;
  return session(ctx, 'ContainerAttach', connection, () => containerTty(ctx, id, options), (size) => ctx.call('ContainerResize', { id, ...size }), options, verify);
}

/** How long the engine may take to mark a container stopped after its attach streams end. */
const STOP_GRACE_MS = 3000;

/**
 * The engine ends an attach when the container stops. Output that ends while the container
 * still runs was cut (a dropped connection): STREAM_TRUNCATED. Undecidable cases pass: stdin was
 * written (detach keys), or a restart policy may have started it again.
 */
async function attachEnded(ctx: OperationContext, id: string, s: HijackSession, options: CallOptions): Promise<void> {
  if (s.stdinWritten) return;
  const until = Date.now() + STOP_GRACE_MS;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const c = (await ctx.call('ContainerInspect', { id }, options).catch(() => undefined)) as
      | { State?: { Running?: boolean; Restarting?: boolean }; HostConfig?: { RestartPolicy?: { Name?: string } } }
      | undefined;
    if (!c?.State?.Running || c.State.Restarting) return;
    const policy = c.HostConfig?.RestartPolicy?.Name;
    if (policy && policy !== 'no') return;
    if (Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new DockerError(`ContainerAttach: the output ended but container ${id} still runs (the connection was closed before the engine ended it)`, {
    code: 'STREAM_TRUNCATED',
    operationId: 'ContainerAttach',
  });
}

/** Starts an exec: detached resolves when started; attached resolves to the session. */
export async function startExec(ctx: OperationContext, id: string, config: ExecStartConfig & { Detach: true }, options?: CallOptions): Promise<void>;
export async function startExec(ctx: OperationContext, id: string, config?: ExecStartConfig, options?: CallOptions, verify?: boolean): Promise<HijackSession>;
/**
 * With `verify` (the default), output that ends while the exec still runs fails with
 * STREAM_TRUNCATED; the exec helper checks that itself while reading the exit code.
 */
export async function startExec(ctx: OperationContext, id: string, config: ExecStartConfig = {}, options: CallOptions = {}, verify = true): Promise<HijackSession | void> {
  if (config.Detach) {
    await ctx.call('ExecStart', { id, execStartConfig: config }, options);
    return;
  }
  // The engine frames the output by the start request's Tty, not the exec's: send the exec's own.
  const tty = config.Tty ?? (await execTty(ctx, id, options));
  const result = await ctx.call('ExecStart', { id, execStartConfig: { ...config, Detach: false, Tty: tty } }, options);
  const verifyEnd = verify ? async () => void (await execExitCode(ctx, id, options)) : undefined;
  return session(ctx, 'ExecStart', result as HijackedConnection, () => Promise.resolve(tty), (size) => ctx.call('ExecResize', { id, ...size }), options, verifyEnd);
}
