/** Container, service and task logs as frames, demultiplexed unless the source has a TTY. */
import type { ContainerLogsParams, ServiceLogsParams, TaskLogsParams } from '../generated/api.js';
import type { CallOptions, ResponseStream } from '../request/types.js';
import { FrameStream, fromPodman, isRawStream } from '../streams/frames.js';
import type { OperationContext } from './context.js';
import { toUnixSeconds, type TimeInput } from './time.js';
import { containerTty, serviceTty, taskTty } from './tty.js';

/** Log parameters: the spec's, with `since`/`until` also as Date, and stdout+stderr by default. */
export type LogsParams = Omit<ContainerLogsParams, 'id' | 'since' | 'until'> & { since?: TimeInput; until?: TimeInput };
export type SwarmLogsParams = Omit<ServiceLogsParams, 'id' | 'since'> & { since?: TimeInput };

function logParams(params: { since?: TimeInput; until?: TimeInput; stdout?: boolean; stderr?: boolean }): Record<string, unknown> {
  const out: Record<string, unknown> = { ...params };
  if (params.stdout === undefined && params.stderr === undefined) {
    out.stdout = true;
    out.stderr = true;
  }
  if ('since' in params) out.since = toUnixSeconds(params.since, 'since');
  if ('until' in params) out.until = toUnixSeconds(params.until, 'until');
  return out;
}

function logStream(
  ctx: OperationContext,
  operationId: 'ContainerLogs' | 'ServiceLogs' | 'TaskLogs',
  id: string,
  params: Record<string, unknown>,
  knownTty: () => Promise<boolean>,
  options: CallOptions = {},
): FrameStream {
  const source = (async () => {
    const body = (await ctx.call(operationId, { ...params, id }, options)) as ResponseStream;
    try {
      const podman = fromPodman(body.headers);
      const tty = await isRawStream(body.headers['content-type'], await ctx.apiVersion(options), knownTty, () => Promise.resolve(podman));
      return { body, tty };
    } catch (err) {
      body.destroy();
      throw err;
    }
  })();
  return new FrameStream(source, operationId, options.signal);
}

/** A container's logs. With `follow`, the stream ends when the container stops or the signal aborts. */
export function containerLogs(ctx: OperationContext, id: string, params: LogsParams = {}, options?: CallOptions): FrameStream {
  return logStream(ctx, 'ContainerLogs', id, logParams(params), () => containerTty(ctx, id, options), options);
}

export function serviceLogs(ctx: OperationContext, id: string, params: SwarmLogsParams = {}, options?: CallOptions): FrameStream {
  return logStream(ctx, 'ServiceLogs', id, logParams(params), () => serviceTty(ctx, id, options), options);
}

export function taskLogs(ctx: OperationContext, id: string, params: Omit<TaskLogsParams, 'id' | 'since'> & { since?: TimeInput } = {}, options?: CallOptions): FrameStream {
  return logStream(ctx, 'TaskLogs', id, logParams(params), () => taskTty(ctx, id, options), options);
}
