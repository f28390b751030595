/**
 * Swarm service helpers: wait for a service to converge, update a spec without handling its
 * version, roll back, scale. Built from ServiceInspect, ServiceUpdate, TaskList and NodeList.
 */
import { AbortError, DockerError, ServerError, ValidationError } from '../errors.js';
import type { ServiceUpdateParams } from '../generated/api.js';
import type { Node, Service, ServiceSpec, ServiceUpdateResponse, Task } from '../generated/types.js';
import type { CallOptions } from '../request/types.js';
import type { OperationContext } from './context.js';

/** Where a service stands, as `converge` reports it (like `docker service create` shows). */
export interface ConvergeProgress {
  serviceId: string;
  /** The service's `Version.Index` the tasks are counted against. */
  version: number | undefined;
  /** Tasks of the current spec running (one per slot, or per node for a global service). */
  running: number;
  /** Tasks the service wants running: `Replicas`, or the eligible nodes of a global service. */
  desired: number;
  /** Tasks of the current spec that failed or were rejected so far. */
  failed: number;
  /** The rolling update's state, when one was started (`updating`, `paused`, `completed`, ...). */
  updateState: string | undefined;
}

export interface ConvergeOptions {
  /** Milliseconds until `converge` gives up with a ServiceConvergeError (`reason: 'timeout'`). Default 120 000. */
  timeout?: number;
  /** Cancels the wait: rejects with an AbortError (`code: 'ABORTED'`). */
  signal?: AbortSignal;
  /** Called with the progress at the start and whenever it changes. */
  onProgress?: (progress: ConvergeProgress) => void;
  /** Milliseconds between two looks at the service and its tasks. Default 500. */
  interval?: number;
  /**
   * How many failed or rejected tasks of the current spec make `converge` give up
   * (`reason: 'failing'`). Default 3; 1 when the restart policy is `none` (nothing replaces them).
   */
  maxFailures?: number;
  /**
   * Milliseconds every desired task must keep running before `converge` resolves, as the docker
   * CLI waits for a service to stabilize: a task that starts and fails at once is briefly
   * `running`. Default 5000; 0 resolves at the first look where all run.
   */
  stableFor?: number;
}

/** A task that did not run, as a ServiceConvergeError lists it. */
export interface FailedTask {
  id: string;
  nodeId: string | undefined;
  /** Its last state: `failed`, `rejected`, `pending`, ... */
  state: string | undefined;
  /** The engine's reason (`Status.Err`), e.g. `task: non-zero exit (3)` or `no suitable node`. */
  err: string | undefined;
  message: string | undefined;
  exitCode: number | undefined;
  timestamp: string | undefined;
}

/** Why a service did not converge. */
export type ConvergeFailure = 'failing' | 'timeout' | 'paused';

/**
 * `services.converge` gave up: tasks keep failing (`reason: 'failing'`), the rolling update paused
 * (`'paused'`, after failures with `FailureAction: pause`), or the timeout passed (`'timeout'`).
 * `code` is `SERVICE_NOT_CONVERGED`.
 */
export class ServiceConvergeError extends DockerError {
  readonly serviceId: string;
  readonly reason: ConvergeFailure;
  /** The last progress seen. */
  readonly progress: ConvergeProgress;
  /** The failed or rejected tasks of the current spec (newest first), or for a timeout the tasks not running. */
  readonly tasks: readonly FailedTask[];
  constructor(message: string, details: { serviceId: string; reason: ConvergeFailure; progress: ConvergeProgress; tasks: FailedTask[]; cause?: unknown }) {
    super(message, { code: 'SERVICE_NOT_CONVERGED', operationId: 'services.converge', ...(details.cause !== undefined ? { cause: details.cause } : {}) });
    this.serviceId = details.serviceId;
    this.reason = details.reason;
    this.progress = details.progress;
    this.tasks = details.tasks;
  }
}

const DEFAULT_TIMEOUT = 120_000;
const DEFAULT_STABLE_FOR = 5000;
const DEFAULT_INTERVAL = 500;
const DEFAULT_MAX_FAILURES = 3;
const FAILED_STATES = new Set(['failed', 'rejected']);

/** JSON with sorted keys: two specs the engine wrote in different key orders compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Whether a task runs the service's current spec: the same container spec and ForceUpdate
 * (what an update of the image, command, env, mounts, secrets or a forced update changes).
 */
function isCurrent(task: Task, service: Service): boolean {
  const template = service.Spec?.TaskTemplate;
  return (
    canonical(task.Spec?.ContainerSpec) === canonical(template?.ContainerSpec) &&
    (task.Spec?.ForceUpdate ?? 0) === (template?.ForceUpdate ?? 0)
  );
}

function describeTask(task: Task): FailedTask {
  return {
    id: task.ID ?? '',
    nodeId: task.NodeID || undefined,
    state: task.Status?.State,
    err: task.Status?.Err || undefined,
    message: task.Status?.Message || undefined,
    exitCode: task.Status?.ContainerStatus?.ExitCode,
    timestamp: task.Status?.Timestamp,
  };
}

/** One `node.x == y` / `!=` constraint against a node; undefined when dockhand cannot tell. */
function constraintHolds(node: Node, constraint: string): boolean | undefined {
  const m = /^\s*([\w.-]+)\s*(==|!=)\s*(.*?)\s*$/.exec(constraint);
  if (!m) return undefined;
  const [, key, op, want] = m as unknown as [string, string, string, string];
  let have: string | undefined;
  if (key === 'node.id') have = node.ID;
  else if (key === 'node.hostname') have = node.Description?.Hostname;
  else if (key === 'node.role') have = node.Spec?.Role;
  else if (key === 'node.platform.os') have = node.Description?.Platform?.OS;
  else if (key === 'node.platform.arch') have = node.Description?.Platform?.Architecture;
  else if (key.startsWith('node.labels.')) have = node.Spec?.Labels?.[key.slice('node.labels.'.length)];
  else if (key.startsWith('engine.labels.')) have = node.Description?.Engine?.Labels?.[key.slice('engine.labels.'.length)];
  else return undefined;
  const equal = have !== undefined && have.toLowerCase() === want.toLowerCase();
  return op === '==' ? equal : !equal;
}

/**
 * The nodes a global service runs on: ready, active (not drained or paused), and meeting its
 * placement constraints. Undefined when a constraint is of a kind dockhand does not read.
 */
function eligibleNodes(nodes: Node[], service: Service): Set<string> | undefined {
  const constraints = service.Spec?.TaskTemplate?.Placement?.Constraints ?? [];
  const ids = new Set<string>();
  for (const node of nodes) {
    if (node.Status?.State !== 'ready' || node.Spec?.Availability !== 'active' || !node.ID) continue;
    let ok = true;
    for (const c of constraints) {
      const holds = constraintHolds(node, c);
      if (holds === undefined) return undefined;
      if (!holds) ok = false;
    }
    if (ok) ids.add(node.ID);
  }
  return ids;
}

interface Snapshot {
  progress: ConvergeProgress;
  done: boolean;
  failedTasks: Task[];
  notRunning: Task[];
  updateMessage: string | undefined;
}

async function look(ctx: OperationContext, id: string, options: CallOptions): Promise<Snapshot & { restartNone: boolean }> {
  const service = await ctx.call('ServiceInspect', { id }, options);
  const tasks = await ctx.call('TaskList', { filters: { service: [service.ID ?? id] } }, options);
  const mode = service.Spec?.Mode ?? {};
  const current = tasks.filter((t) => isCurrent(t, service));
  const wanted = current.filter((t) => t.DesiredState === 'running');
  const nodes = await ctx.call('NodeList', {}, options);
  // A task on a drained or unreachable node is about to be replaced: it does not count.
  const usable = new Set(nodes.filter((n) => n.Status?.State === 'ready' && n.Spec?.Availability !== 'drain').map((n) => n.ID ?? ''));
  const running = wanted.filter((t) => t.Status?.State === 'running' && usable.has(t.NodeID ?? ''));
  let desired: number;
  let runningCount: number;
  if (mode.Global !== undefined) {
    const eligible = eligibleNodes(nodes, service);
    // A constraint dockhand cannot read: the nodes the orchestrator gave a task to.
    const targets = eligible ?? new Set(wanted.map((t) => t.NodeID ?? ''));
    desired = targets.size;
    runningCount = new Set(running.map((t) => t.NodeID ?? '').filter((n) => targets.has(n))).size;
  } else if (mode.Replicated !== undefined) {
    desired = mode.Replicated.Replicas ?? 1;
    runningCount = new Set(running.map((t) => t.Slot)).size;
  } else {
    throw new ValidationError(`services.converge: service ${id} is a job (ReplicatedJob/GlobalJob): its tasks complete rather than run; watch tasks.list instead`, {
      parameter: 'id',
    });
  }
  const failedTasks = current
    .filter((t) => FAILED_STATES.has(t.Status?.State ?? ''))
    .sort((a, b) => Date.parse(b.Status?.Timestamp ?? '') - Date.parse(a.Status?.Timestamp ?? ''));
  const updateState = service.UpdateStatus?.State as string | undefined;
  const updating = updateState === 'updating' || updateState === 'rollback_started';
  // Tasks still wanted running but not running, and tasks of an older spec still running.
  const stale = tasks.filter((t) => t.DesiredState === 'running' && !isCurrent(t, service) && t.Status?.State === 'running');
  return {
    progress: { serviceId: service.ID ?? id, version: service.Version?.Index, running: runningCount, desired, failed: failedTasks.length, updateState },
    done: runningCount >= desired && wanted.length <= desired && stale.length === 0 && !updating,
    failedTasks,
    notRunning: wanted.filter((t) => t.Status?.State !== 'running'),
    updateMessage: service.UpdateStatus?.Message,
    restartNone: service.Spec?.TaskTemplate?.RestartPolicy?.Condition === 'none',
  };
}

function summary(tasks: FailedTask[]): string {
  if (!tasks.length) return '';
  const shown = tasks.slice(0, 3).map((t) => `task ${t.id} on node ${t.nodeId ?? '(none)'}: ${t.state}${t.err ? ` (${t.err})` : ''}`);
  return `; ${shown.join('; ')}${tasks.length > 3 ? `; and ${tasks.length - 3} more` : ''}`;
}

/** ServiceInspect, TaskList, NodeList: waits until every desired task of the service's current spec runs. */
export async function convergeService(ctx: OperationContext, id: string, options: ConvergeOptions = {}): Promise<ConvergeProgress> {
  const timeout = options.timeout ?? DEFAULT_TIMEOUT;
  const interval = options.interval ?? DEFAULT_INTERVAL;
  if (!(timeout > 0)) throw new ValidationError(`services.converge: timeout must be a positive number of milliseconds`, { parameter: 'timeout' });
  if (!(interval > 0)) throw new ValidationError(`services.converge: interval must be a positive number of milliseconds`, { parameter: 'interval' });
  const stableFor = options.stableFor ?? DEFAULT_STABLE_FOR;
  if (!(stableFor >= 0)) throw new ValidationError(`services.converge: stableFor must be a number of milliseconds >= 0`, { parameter: 'stableFor' });
  let doneSince: number | undefined;
  const outer = options.signal;
  if (outer?.aborted) throw new AbortError('services.converge was aborted', { operationId: 'services.converge', cause: outer.reason });
  const deadline = Date.now() + timeout;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  const onAbort = (): void => controller.abort();
  outer?.addEventListener('abort', onAbort, { once: true });
  let last: ConvergeProgress | undefined;
  let lastKey = '';
  let snapshot: (Snapshot & { restartNone: boolean }) | undefined;
  const stopped = (cause?: unknown): DockerError => {
    if (outer?.aborted) return new AbortError('services.converge was aborted', { operationId: 'services.converge', cause: outer.reason ?? cause });
    const tasks = [...(snapshot?.failedTasks ?? []), ...(snapshot?.notRunning ?? [])].map(describeTask);
    const progress = last ?? { serviceId: id, version: undefined, running: 0, desired: 0, failed: 0, updateState: undefined };
    return new ServiceConvergeError(
      `service ${id} did not converge within ${timeout} ms: ${progress.running} of ${progress.desired} tasks running${summary(tasks)}`,
      { serviceId: progress.serviceId, reason: 'timeout', progress, tasks, ...(cause !== undefined ? { cause } : {}) },
    );
  };
  try {
    for (;;) {
      try {
        snapshot = await look(ctx, id, { signal: controller.signal, timeout: Math.max(1, deadline - Date.now()) });
      } catch (err) {
        if (controller.signal.aborted || (err instanceof AbortError && Date.now() >= deadline)) throw stopped(err);
        throw err;
      }
      last = snapshot.progress;
      const key = `${last.version}/${last.running}/${last.desired}/${last.failed}/${last.updateState}`;
      if (key !== lastKey) {
        lastKey = key;
        options.onProgress?.(last);
      }
      if (!snapshot.done) doneSince = undefined;
      else if ((doneSince ??= Date.now()) + stableFor <= Date.now()) return last;
      const limit = options.maxFailures ?? (snapshot.restartNone ? 1 : DEFAULT_MAX_FAILURES);
      const updatePaused = last.updateState === 'paused' || last.updateState === 'rollback_paused';
      if (snapshot.failedTasks.length >= limit || updatePaused) {
        const tasks = snapshot.failedTasks.map(describeTask);
        const reason: ConvergeFailure = updatePaused ? 'paused' : 'failing';
        const why = updatePaused
          ? `its update is ${last.updateState}${snapshot.updateMessage ? ` (${snapshot.updateMessage})` : ''}`
          : `${tasks.length} task(s) of its current spec failed`;
        throw new ServiceConvergeError(`service ${id} does not converge: ${why}; ${last.running} of ${last.desired} tasks running${summary(tasks)}`, {
          serviceId: last.serviceId,
          reason,
          progress: last,
          tasks,
        });
      }
      if (Date.now() >= deadline) throw stopped();
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(interval, Math.max(0, deadline - Date.now())));
        function done(): void {
          clearTimeout(t);
          controller.signal.removeEventListener('abort', done);
          resolve();
        }
        controller.signal.addEventListener('abort', done, { once: true });
      });
      if (controller.signal.aborted) throw stopped();
    }
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

/** A new spec, or a function from the current spec to the new one (called again on a retry). */
export type SpecUpdate = ServiceSpec | ((current: ServiceSpec) => ServiceSpec);

/** ServiceUpdate's other parameters: `registryAuthFrom`, `rollback`, `X-Registry-Auth`. */
export type UpdateSpecParams = Omit<ServiceUpdateParams, 'id' | 'version' | 'body'>;

/**
 * The engine refused an update because the version given is no longer the service's: 20.10
 * answers a 500 "update out of sequence", newer engines the same message (some with a 409).
 */
function outOfSequence(err: unknown): boolean {
  return err instanceof DockerError && (err.statusCode === 409 || err instanceof ServerError) && /out of sequence/i.test(err.message);
}

/** ServiceInspect, ServiceUpdate: updates with the current `Version.Index`; retries once when the service changed meanwhile. */
export async function updateServiceSpec(ctx: OperationContext, id: string, spec: SpecUpdate, params: UpdateSpecParams = {}, options?: CallOptions): Promise<ServiceUpdateResponse> {
  for (let attempt = 0; ; attempt++) {
    const service = await ctx.call('ServiceInspect', { id }, options);
    const version = service.Version?.Index;
    if (version === undefined) throw new DockerError(`service ${id} has no Version.Index to update against`, { code: 'BAD_RESPONSE', operationId: 'ServiceInspect' });
    const body = typeof spec === 'function' ? spec(structuredClone(service.Spec ?? {})) : spec;
    try {
      return await ctx.call('ServiceUpdate', { ...params, id, version, body: body as ServiceUpdateParams['body'] }, options);
    } catch (err) {
      if (attempt === 0 && outOfSequence(err)) continue;
      throw err;
    }
  }
}

/** ServiceInspect, ServiceUpdate (`rollback=previous`): back to the service's previous spec. */
export function rollbackService(ctx: OperationContext, id: string, options?: CallOptions): Promise<ServiceUpdateResponse> {
  return updateServiceSpec(ctx, id, (current) => current, { rollback: 'previous' }, options);
}

/** ServiceInspect, ServiceUpdate: sets a replicated service's `Replicas`. */
export async function scaleService(ctx: OperationContext, id: string, replicas: number, options?: CallOptions): Promise<ServiceUpdateResponse> {
  if (!Number.isSafeInteger(replicas) || replicas < 0) {
    throw new ValidationError(`services.scale: replicas must be a whole number >= 0, not ${String(replicas)}`, { parameter: 'replicas' });
  }
  return updateServiceSpec(
    ctx,
    id,
    (current) => {
      if (current.Mode?.Replicated === undefined) {
        throw new ValidationError(`services.scale: service ${id} is not replicated (its mode is ${Object.keys(current.Mode ?? {}).join(', ') || 'unknown'})`, { parameter: 'id' });
      }
      return { ...current, Mode: { Replicated: { Replicas: replicas } } };
    },
    {},
    options,
  );
}
