/**
 * Services, tasks and their logs against a real swarm. The swarm is made on the SECOND engine only
 * (the TLS one on tcp://127.0.0.1:2376, `bash scripts/tls-engine.sh up`): the main engine on
 * /var/run/docker.sock must stay out of any swarm (other tests expect its 503s). What this file
 * adds to the TLS engine (the swarm, docker_gwbridge, the test image) it takes away again, so the
 * engine is left as found.
 *
 * The image is imported, not in a registry: each task's agent still tries to pull it (and logs
 * the failure), then runs it from the local image.
 *
 * That engine speaks API 1.41, so log streams carry no Content-Type that tells raw from
 * multiplexed: dockhand learns a service's or task's TTY by inspecting it.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, Docker, type Frame, type ServiceCreateParams, type Task } from '../../src/index.js';
import { TEST_IMAGE, labels, uniqueName, waitUntil } from '../support/engine.js';

const STATE = join(process.env.TMPDIR || '/tmp', 'dockhand-tls-engine');
const TLS_HOST = 'tcp://127.0.0.1:2376';
const UP = '`bash scripts/tls-engine.sh up`';
/** Next to the TLS engine's bridge (dockhand-br1, 172.31.250.1/24); see beforeAll. */
const GWBRIDGE_SUBNET = '172.31.251.0/24';
const [IMAGE_REPO, IMAGE_TAG] = TEST_IMAGE.split(':') as [string, string];

const file = (name: string): Buffer => readFileSync(join(STATE, name));

let docker: Docker;
/** Whether this file put the engine into a swarm (and so must take it out again). */
let initialised = false;
/** Whether this file made the docker_gwbridge network (swarm leave does not remove it). */
let madeGwbridge = false;
/** Whether this file imported the test image (and so removes it again). */
let imported = false;
/** Services this file created, removed in afterAll. */
const services = new Set<string>();
/** Timings and engine behaviours worth seeing in the output. */
const observed: string[] = [];

/** The rootfs tar of scripts/import-test-image.mjs (a .mjs without types: imported by URL). */
async function busyboxRootfs(): Promise<Buffer> {
  const url = pathToFileURL(join(import.meta.dirname, '../../scripts/import-test-image.mjs')).href;
  const mod = (await import(url)) as { buildRootfs: (busyboxPath?: string) => Buffer };
  return mod.buildRootfs('/bin/busybox');
}

beforeAll(async () => {
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) {
    if (!existsSync(join(STATE, f))) throw new Error(`swarm suite: ${join(STATE, f)} is missing; run ${UP} first`);
  }
  docker = new Docker({ host: TLS_HOST, tls: { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem') }, env: {} });
  let info;
  try {
    info = await docker.system.info({}, { timeout: 10_000 });
  } catch (err) {
    throw new Error(`swarm suite: the TLS engine does not answer on ${TLS_HOST} (${(err as Error).message}); run ${UP} first`);
  }
  // Never the main engine: the swarm is made only where the TLS engine keeps its data.
  expect(info.DockerRootDir).toBe(realpathSync(join(STATE, 'data')));
  observed.push(`engine ${info.ServerVersion}, API ${await docker.apiVersion()}`);

  const swarm = await docker.swarm.inspect().catch((err: { statusCode?: number }) => {
    if (err.statusCode === 503) return undefined; // "This node is not a swarm manager."
    throw err;
  });
  if (!swarm) {
    // Swarm mode wants a docker_gwbridge network and would take the next free /16 of the default
    // pool (172.18.0.0/16) for it, on a bridge in the network namespace the main engine shares.
    // Made beforehand, it gets a small subnet next to the TLS engine's own bridge instead.
    if (!(await docker.networks.list({ filters: { name: ['docker_gwbridge'] } })).some((n) => n.Name === 'docker_gwbridge')) {
      await docker.networks.create({
        networkConfig: {
          Name: 'docker_gwbridge',
          Driver: 'bridge',
          IPAM: { Config: [{ Subnet: GWBRIDGE_SUBNET }] },
          Options: {
            'com.docker.network.bridge.name': 'docker_gwbridge',
            'com.docker.network.bridge.enable_icc': 'false',
            'com.docker.network.bridge.enable_ip_masquerade': 'true',
          },
        },
      });
      madeGwbridge = true;
    }
    const started = Date.now();
    await docker.swarm.init({ body: { ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' } });
    initialised = true;
    observed.push(`swarm.init: ${Date.now() - started} ms`);
    const gw = await docker.networks.inspect('docker_gwbridge');
    expect(gw.IPAM?.Config?.[0]?.Subnet).toBe(GWBRIDGE_SUBNET);
  }

  const image = await docker.images.inspect(TEST_IMAGE).catch((err: { statusCode?: number }) => {
    if (err.statusCode === 404) return undefined;
    throw err;
  });
  if (!image) {
    const started = Date.now();
    await docker.images.import(await busyboxRootfs(), { repo: IMAGE_REPO, tag: IMAGE_TAG, changes: ['CMD ["/bin/sh"]'] });
    imported = true;
    observed.push(`images.import of ${TEST_IMAGE}: ${Date.now() - started} ms`);
  }
  await docker.images.inspect(TEST_IMAGE); // there now, either way
});

afterAll(async () => {
  if (!docker) return;
  const failures: string[] = [];
  try {
    for (const id of services) {
      await docker.services.remove(id).catch((err: Error & { statusCode?: number }) => {
        if (err.statusCode !== 404) failures.push(`services.remove(${id}): ${err.message}`);
      });
    }
    // The task containers go away asynchronously; wait for them so that leaving the swarm
    // leaves no container behind.
    if (services.size) {
      const started = Date.now();
      await waitUntil(
        // (several label filters must all hold: ask for the key, and match the values here)
        async () => (await docker.containers.list({ all: true, filters: { label: ['com.docker.swarm.service.id'] } })).filter((c) => services.has(c.Labels?.['com.docker.swarm.service.id'] ?? '')),
        (list) => list.length === 0,
        30_000,
        'the task containers of the removed services to go',
      ).catch((err: Error) => failures.push(err.message));
      observed.push(`task containers gone ${Date.now() - started} ms after services.remove`);
    }
    if (initialised) {
      await docker.swarm.leave({ force: true }).catch((err: Error) => failures.push(`swarm.leave: ${err.message}`));
      const state = (await docker.system.info()).Swarm?.LocalNodeState;
      if (state !== 'inactive') failures.push(`after swarm.leave the node is ${state}, not inactive`);
    }
    if (madeGwbridge) {
      await docker.networks.remove('docker_gwbridge').catch((err: Error) => failures.push(`networks.remove(docker_gwbridge): ${err.message}`));
    }
    if (imported) {
      await docker.images.remove(TEST_IMAGE, { force: true }).catch((err: Error) => failures.push(`images.remove(${TEST_IMAGE}): ${err.message}`));
    }
  } finally {
    await docker.close();
    if (observed.length) console.log(`swarm: observed\n${observed.map((m) => `  ${m}`).join('\n')}`);
  }
  if (failures.length) throw new Error(`swarm suite cleanup: ${failures.join('; ')}`);
});

/** Creates a labelled one-replica service from the test image, never restarted, and remembers it. */
async function createService(name: string, command: string[], tty = false): Promise<string> {
  const spec: ServiceCreateParams['body'] = {
    Name: uniqueName(name),
    Labels: labels(),
    TaskTemplate: {
      ContainerSpec: {
        Image: TEST_IMAGE,
        Command: command,
        Labels: labels(),
        StopSignal: 'SIGKILL', // sh as PID 1 ignores SIGTERM: do not wait out the grace period
        ...(tty ? { TTY: true } : {}),
      },
      RestartPolicy: { Condition: 'none' },
    },
    Mode: { Replicated: { Replicas: 1 } },
  };
  const res = await docker.services.create({ body: spec });
  services.add(res.ID!);
  if (res.Warnings?.length) observed.push(`services.create warnings: ${JSON.stringify(res.Warnings)}`);
  return res.ID!;
}

/** Waits for the service's one task to run; fails at once, with the engine's reason, if it cannot. */
async function runningTask(serviceId: string): Promise<Task> {
  const started = Date.now();
  const tasks = await waitUntil(
    () => docker.tasks.list({ filters: { service: [serviceId] } }),
    (list) => {
      const bad = list.find((t) => ['rejected', 'failed', 'shutdown', 'complete', 'orphaned', 'remove'].includes(t.Status?.State ?? ''));
      if (bad) throw new Error(`task ${bad.ID} of service ${serviceId} is ${bad.Status?.State}: ${bad.Status?.Err ?? bad.Status?.Message}`);
      return list.some((t) => t.Status?.State === 'running');
    },
    30_000,
    `a running task of service ${serviceId}`,
  );
  observed.push(`task running ${Date.now() - started} ms after services.create`);
  return tasks.find((t) => t.Status?.State === 'running')!;
}

type Output = { stdout: string; stderr: string };

/**
 * Reads logs until `done` holds: the task may be running before its output reached the log driver
 * (and the swarm's log broker).
 */
async function logsUntil(read: () => Promise<Output>, done: (out: Output) => boolean, what: string): Promise<Output> {
  return waitUntil(read, done, 15_000, what);
}

describe('swarm services and tasks on the TLS engine', () => {
  let plainService = '';
  let plainTask: Task;
  let ttyService = '';

  beforeAll(async () => {
    // Both services start together; their tasks are waited for here.
    plainService = await createService('svc-plain', ['sh', '-c', 'echo out-line; echo err-line >&2; sleep 300']);
    ttyService = await createService('svc-tty', ['sh', '-c', 'echo tty-line; sleep 300'], true);
    plainTask = await runningTask(plainService);
    await runningTask(ttyService);
  });

  it('lists and inspects the services it created, with their labels and TTY setting', async () => {
    const listed = await docker.services.list({ filters: { label: ['dockhand.test=true'] } });
    expect(listed.map((s) => s.ID)).toEqual(expect.arrayContaining([plainService, ttyService]));
    const tty = await docker.services.inspect(ttyService);
    expect(tty.Spec?.TaskTemplate?.ContainerSpec?.TTY).toBe(true);
    expect(tty.Spec?.Labels).toMatchObject({ 'dockhand.test': 'true' });
    const task = await docker.tasks.inspect(plainTask.ID!);
    expect(task.ServiceID).toBe(plainService);
    expect(task.Status?.State).toBe('running');
  });

  it('services.logs of a non-TTY service: stdout and stderr demultiplexed', async () => {
    const out = await logsUntil(
      () => docker.services.logs(plainService, { stdout: true, stderr: true }).text(),
      (o) => o.stdout.includes('out-line') && o.stderr.includes('err-line'),
      'the service logs to hold both lines',
    );
    expect(out).toEqual({ stdout: 'out-line\n', stderr: 'err-line\n' });
  });

  it('services.logs with only stdout, or only stderr, gives only that stream', async () => {
    expect(await docker.services.logs(plainService, { stdout: true }).text()).toEqual({ stdout: 'out-line\n', stderr: '' });
    expect(await docker.services.logs(plainService, { stderr: true }).text()).toEqual({ stdout: '', stderr: 'err-line\n' });
  });

  it('services.logs without stdout/stderr defaults to both', async () => {
    expect(await docker.services.logs(plainService).text()).toEqual({ stdout: 'out-line\n', stderr: 'err-line\n' });
  });

  it('tasks.logs of the non-TTY task: the same output', async () => {
    const out = await logsUntil(
      () => docker.tasks.logs(plainTask.ID!, { stdout: true, stderr: true }).text(),
      (o) => o.stdout.includes('out-line') && o.stderr.includes('err-line'),
      'the task logs to hold both lines',
    );
    expect(out).toEqual({ stdout: 'out-line\n', stderr: 'err-line\n' });
  });

  it('services.logs with details: the swarm attributes come before each line', async () => {
    const out = await docker.services.logs(plainService, { stdout: true, stderr: true, details: true }).text();
    observed.push(`details: ${JSON.stringify(out)}`);
    expect(out.stdout).toMatch(new RegExp(`^\\S*com\\.docker\\.swarm\\.service\\.id=${plainService}\\S* out-line\\n$`));
    expect(out.stderr).toMatch(new RegExp(`^\\S*com\\.docker\\.swarm\\.task\\.id=${plainTask.ID}\\S* err-line\\n$`));
  });

  it('services.logs of a TTY service: raw output, all stdout, with the terminal\'s \\r\\n', async () => {
    const frames: Frame[] = [];
    await logsUntil(
      async () => {
        frames.length = 0;
        for await (const frame of docker.services.logs(ttyService, { stdout: true, stderr: true })) frames.push(frame);
        return { stdout: Buffer.concat(frames.map((f) => f.data)).toString(), stderr: '' };
      },
      (o) => o.stdout.includes('tty-line'),
      'the TTY service logs to hold its line',
    );
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((f) => f.stream === 'stdout')).toBe(true);
    expect(Buffer.concat(frames.map((f) => f.data)).toString()).toBe('tty-line\r\n');
  });

  it('tasks.logs of the TTY task: raw output too', async () => {
    const [task] = await docker.tasks.list({ filters: { service: [ttyService], 'desired-state': ['running'] } });
    expect(task?.ID).toBeTruthy();
    const out = await logsUntil(
      () => docker.tasks.logs(task!.ID!, { stdout: true, stderr: true }).text(),
      (o) => o.stdout.includes('tty-line'),
      'the TTY task logs to hold its line',
    );
    expect(out).toEqual({ stdout: 'tty-line\r\n', stderr: '' });
  });

  it('follow: the stream stays open on a running service and ends with an AbortError when aborted', async () => {
    const controller = new AbortController();
    const seen: Frame[] = [];
    const started = Date.now();
    const loop = (async () => {
      for await (const frame of docker.services.logs(plainService, { stdout: true, stderr: true, follow: true }, { signal: controller.signal })) {
        seen.push(frame);
        if (seen.some((f) => f.stream === 'stdout') && seen.some((f) => f.stream === 'stderr')) {
          // Both lines are in: the stream is now waiting for more, until the abort ends it.
          setTimeout(() => controller.abort(), 300);
        }
      }
    })();
    const err = await loop.then(
      () => new Error('the followed log ended by itself'),
      (e: unknown) => e as Error,
    );
    observed.push(`follow aborted after ${Date.now() - started} ms: ${err.constructor.name} ${JSON.stringify(err.message)}`);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'ABORTED', operationId: 'ServiceLogs' });
    const text = (s: 'stdout' | 'stderr') => Buffer.concat(seen.filter((f) => f.stream === s).map((f) => f.data)).toString();
    expect({ stdout: text('stdout'), stderr: text('stderr') }).toEqual({ stdout: 'out-line\n', stderr: 'err-line\n' });
  });
});
