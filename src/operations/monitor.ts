/** Container stats and engine events as typed async iterables. */
import type { ContainerStatsParams, SystemEventsParams } from '../generated/api.js';
import type { ContainerStatsResponse, EventMessage } from '../generated/types.js';
import type { CallOptions } from '../request/types.js';
import { fromPodman } from '../streams/frames.js';
import { JsonStream } from '../streams/json-iterable.js';
import { versionKey } from '../version.js';
import type { OperationContext } from './context.js';
import { toUnixSeconds, type TimeInput } from './time.js';

/** Stats every second until the loop stops (`stream: false`: one sample; `'one-shot'` from API 1.41). */
export function containerStats(ctx: OperationContext, id: string, params: Omit<ContainerStatsParams, 'id'> = {}, options: CallOptions = {}): JsonStream<ContainerStatsResponse> {
  const source = ctx.call('ContainerStats', { ...params, id }, options);
  return new JsonStream<ContainerStatsResponse>(source, 'ContainerStats', options.signal, (headers) => (fromPodman(headers) ? podmanStats : undefined));
}

/** Podman names the container's id `Id` in a stats sample; the type (and dockerd) say `id`. */
function podmanStats(sample: ContainerStatsResponse): ContainerStatsResponse {
  const podman = sample as ContainerStatsResponse & { Id?: unknown };
  if (podman.id !== undefined || typeof podman.Id !== 'string') return sample;
  const { Id, ...rest } = podman;
  return { ...rest, id: Id };
}

export type EventsParams = Omit<SystemEventsParams, 'since' | 'until'> & { since?: TimeInput; until?: TimeInput };

/** Engine events; with `until` the stream ends by itself. API 1.52+ engines are asked for JSON lines. */
export function systemEvents(ctx: OperationContext, params: EventsParams = {}, options: CallOptions = {}): JsonStream<EventMessage> {
  const source = (async () => {
    const version = await ctx.apiVersion(options);
    const p: Record<string, unknown> = { ...params };
    for (const key of ['since', 'until'] as const) {
      const t = toUnixSeconds(params[key], key, true);
      if (t !== undefined) p[key] = String(t);
    }
    const headers = versionKey(version) >= versionKey('1.52') ? { accept: 'application/jsonl', ...options.headers } : options.headers;
    return await ctx.call('SystemEvents', p, { ...options, ...(headers ? { headers } : {}) });
  })();
  return new JsonStream<EventMessage>(source, 'SystemEvents', options.signal);
}
