/** What the engine knows of a TTY, for streams whose Content-Type does not say (API < 1.42). */
import type { OperationContext } from './context.js';
import type { CallOptions } from '../request/types.js';

type Inspect = { Config?: { Tty?: boolean }; Spec?: { ContainerSpec?: { TTY?: boolean }; TaskTemplate?: { ContainerSpec?: { TTY?: boolean } } } };

export async function containerTty(ctx: OperationContext, id: string, options?: CallOptions): Promise<boolean> {
  const c = (await ctx.call('ContainerInspect', { id }, options)) as Inspect;
  return c.Config?.Tty === true;
}

export async function serviceTty(ctx: OperationContext, id: string, options?: CallOptions): Promise<boolean> {
  const s = (await ctx.call('ServiceInspect', { id }, options)) as Inspect;
  return s.Spec?.TaskTemplate?.ContainerSpec?.TTY === true;
}

export async function taskTty(ctx: OperationContext, id: string, options?: CallOptions): Promise<boolean> {
  const t = (await ctx.call('TaskInspect', { id }, options)) as Inspect;
  return t.Spec?.ContainerSpec?.TTY === true;
}

export async function execTty(ctx: OperationContext, id: string, options?: CallOptions): Promise<boolean> {
  const e = await ctx.call('ExecInspect', { id }, options);
  return e.ProcessConfig?.tty === true;
}
