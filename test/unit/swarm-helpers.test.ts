/** services.updateSpec / scale / converge against a fake operation context (the cluster suite runs them for real). */
import { describe, expect, it } from 'vitest';
import { ConflictError, ServerError, ValidationError } from '../../src/errors.js';
import type { OperationContext } from '../../src/operations/context.js';
import { convergeService, scaleService, ServiceConvergeError, updateServiceSpec } from '../../src/operations/swarm.js';

type Handler = (params: Record<string, unknown>) => unknown;

function fakeCtx(handlers: Record<string, Handler>, calls: string[] = []): OperationContext {
  return {
    call: (async (op: string, params: Record<string, unknown>) => {
      calls.push(op);
      const h = handlers[op];
      if (!h) throw new Error(`unexpected ${op}`);
      return h(params);
    }) as OperationContext['call'],
    apiVersion: async () => '1.41',
    isPodman: async () => false,
  };
}

describe('services.updateSpec', () => {
  it('sends the current version, and retries once on "update out of sequence" with the spec re-read', async () => {
    let version = 10;
    const sent: number[] = [];
    const ctx = fakeCtx({
      ServiceInspect: () => ({ ID: 's', Version: { Index: version }, Spec: { Name: 'x', Labels: { v: String(version) } } }),
      ServiceUpdate: (p) => {
        sent.push(p.version as number);
        if (sent.length === 1) {
          version = 11;
          throw new ServerError('rpc error: code = Unknown desc = update out of sequence', { statusCode: 500 });
        }
        return { Warnings: [] };
      },
    });
    const seen: string[] = [];
    await updateServiceSpec(ctx, 's', (spec) => (seen.push(spec.Labels!.v!), spec));
    expect(sent).toEqual([10, 11]);
    expect(seen).toEqual(['10', '11']);
  });

  it('retries once only, and not on other errors', async () => {
    let updates = 0;
    const conflict = () => {
      updates++;
      throw new ConflictError('update out of sequence', { statusCode: 409 });
    };
    const ctx = fakeCtx({ ServiceInspect: () => ({ Version: { Index: 1 }, Spec: {} }), ServiceUpdate: conflict });
    await expect(updateServiceSpec(ctx, 's', {})).rejects.toBeInstanceOf(ConflictError);
    expect(updates).toBe(2);
    updates = 0;
    const other = fakeCtx({ ServiceInspect: () => ({ Version: { Index: 1 }, Spec: {} }), ServiceUpdate: () => (updates++, Promise.reject(new ServerError('boom', { statusCode: 500 }))) });
    await expect(updateServiceSpec(other, 's', {})).rejects.toThrow('boom');
    expect(updates).toBe(1);
  });

  it('scale refuses a global service and a bad count without sending an update', async () => {
    const calls: string[] = [];
    const ctx = fakeCtx({ ServiceInspect: () => ({ Version: { Index: 1 }, Spec: { Mode: { Global: {} } } }) }, calls);
    await expect(scaleService(ctx, 's', 2)).rejects.toBeInstanceOf(ValidationError);
    await expect(scaleService(ctx, 's', -1)).rejects.toBeInstanceOf(ValidationError);
    expect(calls).toEqual(['ServiceInspect']);
  });
});

describe('services.converge', () => {
  const template = { ContainerSpec: { Image: 'img', Args: ['sleep'] }, ForceUpdate: 0, RestartPolicy: { Condition: 'none' } };
  const nodes = [{ ID: 'n1', Status: { State: 'ready' }, Spec: { Availability: 'active' } }];
  const task = (id: string, state: string, slot: number, extra: Record<string, unknown> = {}) => ({
    ID: id, Slot: slot, NodeID: 'n1', DesiredState: state === 'running' || state === 'pending' ? 'running' : 'shutdown', Spec: template, Status: { State: state, ...extra },
  });

  it('resolves when Replicas tasks of the current spec run, ignoring tasks of an older spec', async () => {
    let round = 0;
    const progress: string[] = [];
    const ctx = fakeCtx({
      ServiceInspect: () => ({ ID: 's', Version: { Index: 3 }, Spec: { Mode: { Replicated: { Replicas: 2 } }, TaskTemplate: template } }),
      NodeList: () => nodes,
      TaskList: () => (round++ === 0 ? [task('a', 'running', 1), task('old', 'running', 2, {}), task('b', 'pending', 2)].map((t) => (t.ID === 'old' ? { ...t, Spec: { ContainerSpec: { Image: 'older' } } } : t)) : [task('a', 'running', 1), task('b', 'running', 2)]),
    });
    const done = await convergeService(ctx, 's', { interval: 5, stableFor: 20, onProgress: (p) => progress.push(`${p.running}/${p.desired}`) });
    expect(done).toMatchObject({ running: 2, desired: 2, version: 3 });
    expect(progress).toEqual(['1/2', '2/2']);
  });

  it('rejects with the failed task when the restart policy is none', async () => {
    const ctx = fakeCtx({
      ServiceInspect: () => ({ ID: 's', Spec: { Mode: { Replicated: { Replicas: 1 } }, TaskTemplate: template } }),
      NodeList: () => nodes,
      TaskList: () => [task('a', 'failed', 1, { Err: 'task: non-zero exit (1)', ContainerStatus: { ExitCode: 1 } })],
    });
    const err = (await convergeService(ctx, 's', { interval: 5 }).catch((e: unknown) => e)) as ServiceConvergeError;
    expect(err).toBeInstanceOf(ServiceConvergeError);
    expect(err).toMatchObject({ code: 'SERVICE_NOT_CONVERGED', reason: 'failing', tasks: [{ id: 'a', nodeId: 'n1', state: 'failed', err: 'task: non-zero exit (1)', exitCode: 1 }] });
  });

  it('rejects on its timeout, and with an AbortError when aborted', async () => {
    const ctx = fakeCtx({
      ServiceInspect: () => ({ ID: 's', Spec: { Mode: { Replicated: { Replicas: 1 } }, TaskTemplate: template } }),
      NodeList: () => nodes,
      TaskList: () => [task('a', 'pending', 1, { Err: 'no suitable node' })],
    });
    await expect(convergeService(ctx, 's', { interval: 5, timeout: 50 })).rejects.toMatchObject({ reason: 'timeout', tasks: [{ err: 'no suitable node' }] });
    await expect(convergeService(ctx, 's', { interval: 5, signal: AbortSignal.timeout(30) })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
