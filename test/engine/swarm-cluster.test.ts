/**
 * Swarm on a real 3-node cluster: `bash scripts/swarm.sh up` (three dockerd in network namespaces
 * on the bridge dockhand-swarm0; node1 the manager, node2 and node3 workers), then
 * `DOCKHAND_SWARM=unix:///run/dockhand-swarm/node1.sock npx vitest run --project swarm`.
 *
 * Runs only as the `swarm` project, which exists only with DOCKHAND_SWARM set (vitest.config.ts);
 * with it set, a cluster that does not answer fails the run, never skips it. The other nodes'
 * sockets are node2.sock and node3.sock next to node1's (or DOCKHAND_SWARM_NODES, a comma list).
 *
 * Every service, secret, config and network made here carries the test label and is removed in
 * afterAll, failed tests or not; node roles, availability and labels are put back as
 * scripts/swarm.sh leaves them (node1 manager, node2 and node3 active workers).
 *
 * This kernel has no IPVS: a service's virtual IP (and so the routing mesh) does not carry
 * traffic here, so services reached by name use endpoint mode `dnsrr` (the name resolves to the
 * tasks' own overlay addresses).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Docker, ServerError, ServiceConvergeError, type ConvergeProgress, type ServiceCreateParams, type ServiceSpec, type Task } from '../../src/index.js';
import { TEST_IMAGE, TEST_LABEL, waitUntil } from '../support/engine.js';

const MANAGER = process.env.DOCKHAND_SWARM ?? '';
const UP = '`bash scripts/swarm.sh up`';
const RUN = `swarm-${randomBytes(4).toString('hex')}`;
const LABELS = { [TEST_LABEL]: 'true', 'dockhand.run': RUN };
const V2 = 'dockhand-test/busybox:v2';
/** Convergence on a shared 2-core machine: generous, and polled. */
const CONVERGE = 120_000;

function nodeHosts(): string[] {
  if (process.env.DOCKHAND_SWARM_NODES) return process.env.DOCKHAND_SWARM_NODES.split(',').map((s) => s.trim());
  if (!/node1\.sock$/.test(MANAGER)) throw new Error(`swarm suite: cannot tell the other nodes from DOCKHAND_SWARM=${MANAGER}; set DOCKHAND_SWARM_NODES`);
  return [MANAGER, MANAGER.replace(/node1\.sock$/, 'node2.sock'), MANAGER.replace(/node1\.sock$/, 'node3.sock')];
}

interface ClusterNode {
  name: string;
  docker: Docker;
  id: string;
  addr: string;
}

let nodes: ClusterNode[] = [];
let manager: Docker;
const services = new Set<string>();
const secrets = new Set<string>();
const configs = new Set<string>();
const networks = new Set<string>();
const observed: string[] = [];

const node = (name: string): ClusterNode => nodes.find((n) => n.name === name)!;
const uniq = (prefix: string): string => `dht-${prefix}-${randomBytes(3).toString('hex')}`;

async function refreshIds(): Promise<void> {
  for (const n of nodes) {
    const info = await n.docker.system.info();
    n.id = info.Swarm?.NodeID ?? '';
  }
}

/** Updates a node's spec from its current one, with its current version. */
async function updateNode(id: string, change: (spec: NonNullable<Awaited<ReturnType<Docker['nodes']['inspect']>>['Spec']>) => void): Promise<void> {
  const current = await manager.nodes.inspect(id);
  const spec = structuredClone(current.Spec ?? {});
  change(spec);
  await manager.nodes.update(id, { version: current.Version!.Index!, body: spec });
}

/** Creates a labelled service from the test image and remembers it. */
async function createService(prefix: string, spec: Partial<ServiceSpec> & { command?: string[]; env?: string[] }): Promise<{ id: string; name: string }> {
  const { command, env, ...rest } = spec;
  const name = rest.Name ?? uniq(prefix);
  const body: ServiceCreateParams['body'] = {
    Mode: { Replicated: { Replicas: 1 } },
    ...rest,
    Name: name,
    Labels: LABELS,
    TaskTemplate: {
      RestartPolicy: { Condition: 'any', Delay: 1_000_000_000 },
      ...rest.TaskTemplate,
      ContainerSpec: {
        Image: TEST_IMAGE,
        Command: command ?? ['sleep', '600'],
        Labels: LABELS,
        StopSignal: 'SIGKILL', // sh and sleep as PID 1 ignore SIGTERM
        ...(env ? { Env: env } : {}),
        ...rest.TaskTemplate?.ContainerSpec,
      },
    },
  };
  const res = await manager.services.create({ body });
  services.add(res.ID!);
  return { id: res.ID!, name };
}

async function runningTasks(serviceId: string): Promise<Task[]> {
  const tasks = await manager.tasks.list({ filters: { service: [serviceId], 'desired-state': ['running'] } });
  return tasks.filter((t) => t.Status?.State === 'running');
}

/**
 * The id in a SecretCreate/ConfigCreate answer: the spec calls it `Id` (IdResponse), Docker 20.10
 * sends `ID`.
 */
function idOf(res: { Id?: string }): string {
  const id = res.Id ?? (res as { ID?: string }).ID;
  if (!id) throw new Error(`no id in ${JSON.stringify(res)}`);
  return id;
}

/** Runs a command in a running task's container, on the node the task runs on. */
async function execInTask(task: Task, cmd: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const n = nodes.find((x) => x.id === task.NodeID);
  if (!n) throw new Error(`task ${task.ID} is on node ${task.NodeID}, not one of this cluster's`);
  return n.docker.containers.exec(task.Status!.ContainerStatus!.ContainerID!, { Cmd: cmd });
}

beforeAll(async () => {
  if (!MANAGER) throw new Error(`swarm suite: DOCKHAND_SWARM is not set; run ${UP} and set it to the manager's socket`);
  const hosts = nodeHosts();
  nodes = hosts.map((host, i) => ({ name: `node${i + 1}`, docker: new Docker({ host, env: {} }), id: '', addr: '' }));
  manager = nodes[0]!.docker;
  for (const n of nodes) {
    try {
      await n.docker.system.ping({}, { timeout: 10_000 });
    } catch (err) {
      throw new Error(`swarm suite: ${n.name} does not answer on ${hosts[nodes.indexOf(n)]} (${(err as Error).message}); run ${UP} first`, { cause: err });
    }
    const info = await n.docker.system.info();
    if (info.Swarm?.LocalNodeState !== 'active') throw new Error(`swarm suite: ${n.name} is ${info.Swarm?.LocalNodeState}, not in a swarm; run ${UP}`);
    n.id = info.Swarm.NodeID ?? '';
    n.addr = info.Swarm.NodeAddr ?? '';
  }
  // What a run that died left: every object with the test label (the cluster is this suite's own).
  const old = { label: [TEST_LABEL] };
  for (const s of await manager.services.list({ filters: old })) await manager.services.remove(s.ID!).catch(() => undefined);
  for (const s of await manager.secrets.list({ filters: old })) await manager.secrets.remove(s.ID!).catch(() => undefined);
  for (const c of await manager.configs.list({ filters: old })) await manager.configs.remove(c.ID!).catch(() => undefined);
  // A second tag of the test image on every node: an image to update services to.
  for (const n of nodes) await n.docker.images.tag(TEST_IMAGE, { repo: 'dockhand-test/busybox', tag: 'v2' });
});

afterAll(async () => {
  if (!manager) return;
  const failures: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  try {
    for (const id of services) await attempt(`services.remove(${id})`, () => manager.services.remove(id));
    // Tasks go asynchronously; networks, secrets and configs in use cannot be removed before.
    await attempt('task containers to go', () =>
      waitUntil(
        async () => {
          let left = 0;
          for (const n of nodes) left += (await n.docker.containers.list({ all: true, filters: { label: [`dockhand.run=${RUN}`] } })).length;
          return left;
        },
        (left) => left === 0,
        60_000,
        'the task containers of the removed services to go',
      ),
    );
    for (const id of secrets) await attempt(`secrets.remove(${id})`, () => manager.secrets.remove(id));
    for (const id of configs) await attempt(`configs.remove(${id})`, () => manager.configs.remove(id));
    for (const id of networks) {
      await attempt(`networks.remove(${id})`, () =>
        waitUntil(
          () => manager.networks.remove(id).then(() => true, (err: { statusCode?: number }) => (err.statusCode === 404 ? true : false)),
          (gone) => gone,
          30_000,
          `network ${id} to be removable`,
        ),
      );
    }
    // Nodes back as scripts/swarm.sh leaves them.
    await refreshIds();
    for (const n of nodes.slice(1)) {
      await attempt(`restoring ${n.name}`, () =>
        updateNode(n.id, (spec) => {
          spec.Role = 'worker';
          spec.Availability = 'active';
          if (spec.Labels) delete spec.Labels['dockhand.zone'];
        }),
      );
    }
    for (const n of nodes) await attempt(`untag ${V2} on ${n.name}`, () => n.docker.images.remove(V2));
  } finally {
    for (const n of nodes) await n.docker.close();
    if (observed.length) console.log(`swarm cluster: observed\n${observed.map((m) => `  ${m}`).join('\n')}`);
  }
  if (failures.length) throw new Error(`swarm cluster cleanup: ${failures.join('; ')}`);
});

describe('a 3-node swarm', () => {
  it('lists and inspects its nodes: one manager (the leader), two workers, all ready', async () => {
    const list = await manager.nodes.list();
    expect(list.map((n) => n.ID).sort()).toEqual(nodes.map((n) => n.id).sort());
    expect(list.every((n) => n.Status?.State === 'ready' && n.Spec?.Availability === 'active')).toBe(true);
    const leader = await manager.nodes.inspect(node('node1').id);
    expect(leader.Spec?.Role).toBe('manager');
    expect(leader.ManagerStatus).toMatchObject({ Leader: true, Reachability: 'reachable' });
    for (const name of ['node2', 'node3']) {
      const w = await manager.nodes.inspect(node(name).id);
      expect(w.Spec?.Role).toBe('worker');
      expect(w.Status?.Addr).toBe(node(name).addr);
    }
    // A worker is no manager: its engine answers 503 to manager-only calls.
    await expect(node('node2').docker.nodes.list()).rejects.toMatchObject({ statusCode: 503 });
  });

  it('a worker leaves, is removed, and joins again with the worker token', async () => {
    const n = node('node2');
    const oldId = n.id;
    await n.docker.swarm.leave();
    expect((await n.docker.system.info()).Swarm?.LocalNodeState).toBe('inactive');
    await waitUntil(() => manager.nodes.inspect(oldId), (x) => x.Status?.State === 'down', 60_000, `node2 (${oldId}) to be down`);
    await manager.nodes.remove(oldId);
    expect((await manager.nodes.list()).map((x) => x.ID)).not.toContain(oldId);

    const { JoinTokens } = await manager.swarm.inspect();
    await n.docker.swarm.join({ body: { ListenAddr: `${n.addr}:2377`, AdvertiseAddr: n.addr, RemoteAddrs: [`${node('node1').addr}:2377`], JoinToken: JoinTokens!.Worker! } });
    await refreshIds();
    expect(n.id).not.toBe(oldId);
    const joined = await waitUntil(() => manager.nodes.inspect(n.id), (x) => x.Status?.State === 'ready', 60_000, 'node2 to be ready again');
    expect(joined.Spec?.Role).toBe('worker');
  });

  it('node3 joins as a second manager with the manager token; demote and promote', async () => {
    const n = node('node3');
    const oldId = n.id;
    await n.docker.swarm.leave();
    await waitUntil(() => manager.nodes.inspect(oldId), (x) => x.Status?.State === 'down', 60_000, `node3 (${oldId}) to be down`);
    await manager.nodes.remove(oldId);
    const { JoinTokens } = await manager.swarm.inspect();
    await n.docker.swarm.join({ body: { ListenAddr: `${n.addr}:2377`, AdvertiseAddr: n.addr, RemoteAddrs: [`${node('node1').addr}:2377`], JoinToken: JoinTokens!.Manager! } });
    await refreshIds();
    await waitUntil(() => manager.nodes.inspect(n.id), (x) => x.Status?.State === 'ready' && x.ManagerStatus?.Reachability === 'reachable', 60_000, 'node3 to be a reachable manager');
    // The second manager answers manager calls itself, and sees the same cluster.
    const seen = await waitUntil(() => n.docker.nodes.list().catch(() => []), (l) => l.length === 3, 30_000, 'node3 to list the nodes');
    expect(seen.filter((x) => x.Spec?.Role === 'manager').map((x) => x.ID).sort()).toEqual([node('node1').id, n.id].sort());
    expect((await n.docker.system.info()).Swarm?.ControlAvailable).toBe(true);

    await updateNode(n.id, (spec) => void (spec.Role = 'worker'));
    await waitUntil(() => manager.nodes.inspect(n.id), (x) => x.ManagerStatus === undefined || x.ManagerStatus === null, 60_000, 'node3 to be demoted');
    await waitUntil(async () => (await n.docker.system.info()).Swarm?.ControlAvailable, (c) => c === false, 60_000, 'node3 to stop being a manager');
    await updateNode(n.id, (spec) => void (spec.Role = 'manager'));
    await waitUntil(() => manager.nodes.inspect(n.id), (x) => x.ManagerStatus?.Reachability === 'reachable', 60_000, 'node3 to be promoted');
    // And back to the resting shape: one manager.
    await updateNode(n.id, (spec) => void (spec.Role = 'worker'));
    await waitUntil(() => manager.nodes.inspect(n.id), (x) => !x.ManagerStatus, 60_000, 'node3 to be demoted again');
    await waitUntil(() => manager.nodes.inspect(n.id), (x) => x.Status?.State === 'ready', 60_000, 'node3 to be ready as a worker');
  });

  it('places a service by a node label constraint', async () => {
    const target = node('node2');
    await updateNode(target.id, (spec) => void (spec.Labels = { ...spec.Labels, 'dockhand.zone': 'blue' }));
    const { id } = await createService('placed', {
      Mode: { Replicated: { Replicas: 2 } },
      TaskTemplate: { Placement: { Constraints: ['node.labels.dockhand.zone == blue'] } },
    });
    const done = await manager.services.converge(id, { timeout: CONVERGE });
    expect(done).toMatchObject({ running: 2, desired: 2 });
    const tasks = await runningTasks(id);
    expect(tasks.map((t) => t.NodeID)).toEqual([target.id, target.id]);
  });

  let spread = '';
  it('spreads a replicated service of 6 over every node, reporting progress', async () => {
    const progress: ConvergeProgress[] = [];
    const { id } = await createService('spread', { Mode: { Replicated: { Replicas: 6 } } });
    spread = id;
    const started = Date.now();
    const done = await manager.services.converge(id, { timeout: CONVERGE, onProgress: (p) => progress.push(p) });
    observed.push(`6 replicas converged in ${Date.now() - started} ms; progress ${progress.map((p) => `${p.running}/${p.desired}`).join(' ')}`);
    expect(done).toMatchObject({ serviceId: id, running: 6, desired: 6, failed: 0 });
    expect(progress.at(-1)).toEqual(done);
    expect(progress.every((p) => p.desired === 6)).toBe(true);
    const tasks = await runningTasks(id);
    expect(tasks).toHaveLength(6);
    expect(new Set(tasks.map((t) => t.NodeID))).toEqual(new Set(nodes.map((n) => n.id)));
  });

  it('drains a node: its tasks move to the others, and converge waits for that', async () => {
    const drained = node('node3');
    await updateNode(drained.id, (spec) => void (spec.Availability = 'drain'));
    try {
      await manager.services.converge(spread, { timeout: CONVERGE });
      const tasks = await runningTasks(spread);
      expect(tasks).toHaveLength(6);
      expect(tasks.map((t) => t.NodeID)).not.toContain(drained.id);
      // Nothing is left running on the drained node's engine.
      await waitUntil(
        () => drained.docker.containers.list({ filters: { label: [`com.docker.swarm.service.id=${spread}`] } }),
        (l) => l.length === 0,
        60_000,
        'the drained node to stop its tasks',
      );
    } finally {
      await updateNode(drained.id, (spec) => void (spec.Availability = 'active'));
    }
  });

  it('a global service runs one task on every node, and its logs merge lines from all of them', async () => {
    const { id } = await createService('global', {
      Mode: { Global: {} },
      command: ['sh', '-c', 'echo "hello from $NODE"; echo "err from $NODE" >&2; sleep 600'],
      env: ['NODE={{.Node.ID}}'],
    });
    const done = await manager.services.converge(id, { timeout: CONVERGE });
    expect(done).toMatchObject({ running: 3, desired: 3 });
    const tasks = await runningTasks(id);
    expect(tasks.map((t) => t.NodeID).sort()).toEqual(nodes.map((n) => n.id).sort());
    // Logs through the manager, gathered from the three engines.
    const out = await waitUntil(
      () => manager.services.logs(id, { stdout: true, stderr: true }).text(),
      (o) => nodes.every((n) => o.stdout.includes(`hello from ${n.id}`) && o.stderr.includes(`err from ${n.id}`)),
      60_000,
      'the service logs to hold a line from every node',
    );
    expect(out.stdout.trim().split('\n').sort()).toEqual(nodes.map((n) => `hello from ${n.id}`).sort());
    const detailed = await manager.services.logs(id, { stdout: true, details: true }).text();
    for (const n of nodes) expect(detailed.stdout).toContain(`com.docker.swarm.node.id=${n.id}`);
    // A task on a worker: its own logs, through the manager too.
    const onWorker = tasks.find((t) => t.NodeID === node('node2').id)!;
    expect(await manager.tasks.logs(onWorker.ID!, { stdout: true }).text()).toEqual({ stdout: `hello from ${node('node2').id}\n`, stderr: '' });
  });

  it('updates image and env one task at a time (update_config parallelism 1), then rolls back; scales', async () => {
    const { id } = await createService('rolling', {
      Mode: { Replicated: { Replicas: 3 } },
      env: ['STAGE=one'],
      UpdateConfig: { Parallelism: 1, Delay: 0, Order: 'stop-first', FailureAction: 'pause', Monitor: 1_000_000_000 },
      RollbackConfig: { Parallelism: 1, Delay: 0, Order: 'stop-first', FailureAction: 'pause' },
    });
    await manager.services.converge(id, { timeout: CONVERGE });

    // A stale version: the engine's own answer (20.10: a 500 "update out of sequence").
    const stale = (await manager.services.inspect(id)).Version!.Index! - 1;
    const err = await manager.services.update(id, { version: stale, body: (await manager.services.inspect(id)).Spec! as ServiceCreateParams['body'] }).catch((e: unknown) => e);
    observed.push(`update with a stale version: ${(err as Error).constructor.name} ${(err as { statusCode?: number }).statusCode} ${JSON.stringify((err as Error).message)}`);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as Error).message).toMatch(/update out of sequence/);

    // While the update rolls, never fewer than 2 of 3 tasks run (parallelism 1, stop-first).
    let minRunning = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        minRunning = Math.min(minRunning, (await runningTasks(id)).length);
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    try {
      await manager.services.updateSpec(id, (spec) => {
        spec.TaskTemplate!.ContainerSpec!.Image = V2;
        spec.TaskTemplate!.ContainerSpec!.Env = ['STAGE=two'];
        return spec;
      });
      const progress: ConvergeProgress[] = [];
      await manager.services.converge(id, { timeout: CONVERGE, onProgress: (p) => progress.push(p) });
      observed.push(`rolling update: progress ${progress.map((p) => `${p.running}/${p.desired}${p.updateState ? ` ${p.updateState}` : ''}`).join(', ')}; fewest running ${minRunning}`);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(minRunning).toBeGreaterThanOrEqual(2);
    let service = await manager.services.inspect(id);
    expect(service.UpdateStatus?.State).toBe('completed');
    let tasks = await runningTasks(id);
    expect(tasks).toHaveLength(3);
    for (const t of tasks) expect(t.Spec?.ContainerSpec).toMatchObject({ Image: V2, Env: ['STAGE=two'] });
    const check = await execInTask(tasks.find((t) => t.NodeID !== node('node1').id) ?? tasks[0]!, ['sh', '-c', 'echo $STAGE']);
    expect(check.stdout).toBe('two\n');

    await manager.services.rollback(id);
    await manager.services.converge(id, { timeout: CONVERGE });
    service = await manager.services.inspect(id);
    expect(service.UpdateStatus?.State).toBe('rollback_completed');
    tasks = await runningTasks(id);
    expect(tasks).toHaveLength(3);
    for (const t of tasks) expect(t.Spec?.ContainerSpec).toMatchObject({ Image: TEST_IMAGE, Env: ['STAGE=one'] });

    // Several updates at once: each reads the version itself and retries once when it lost the race.
    await Promise.all([1, 2].map((i) => manager.services.updateSpec(id, (spec) => ({ ...spec, Labels: { ...spec.Labels, [`dockhand.concurrent${i}`]: 'yes' } }))));
    const labelsNow = (await manager.services.inspect(id)).Spec?.Labels ?? {};
    observed.push(`concurrent updateSpec labels: ${Object.keys(labelsNow).filter((k) => k.startsWith('dockhand.concurrent')).join(', ')}`);

    await manager.services.scale(id, 5);
    expect(await manager.services.converge(id, { timeout: CONVERGE })).toMatchObject({ running: 5, desired: 5 });
    await manager.services.scale(id, 1);
    expect(await manager.services.converge(id, { timeout: CONVERGE })).toMatchObject({ running: 1, desired: 1 });
    await waitUntil(() => runningTasks(id), (l) => l.length === 1, 60_000, 'the scaled-down tasks to stop');
  });

  it('mounts a secret and a config into a task on a worker, read back through exec on that worker', async () => {
    const worker = node('node3');
    const secretName = uniq('secret');
    const secretId = idOf(await manager.secrets.create({ body: { Name: secretName, Labels: LABELS, Data: Buffer.from('s3cr3t-value').toString('base64') } }));
    secrets.add(secretId);
    const configName = uniq('config');
    const configId = idOf(await manager.configs.create({ body: { Name: configName, Labels: LABELS, Data: Buffer.from('setting=on\n').toString('base64') } }));
    configs.add(configId);
    expect((await manager.secrets.inspect(secretId)).Spec?.Name).toBe(secretName);
    const { id } = await createService('mounts', {
      TaskTemplate: {
        Placement: { Constraints: [`node.id == ${worker.id}`] },
        ContainerSpec: {
          Image: TEST_IMAGE,
          Command: ['sleep', '600'],
          Labels: LABELS,
          StopSignal: 'SIGKILL',
          Secrets: [{ SecretID: secretId, SecretName: secretName, File: { Name: 'app-secret', UID: '0', GID: '0', Mode: 0o400 } }],
          Configs: [{ ConfigID: configId, ConfigName: configName, File: { Name: '/etc/app.conf', UID: '0', GID: '0', Mode: 0o444 } }],
        },
      },
    });
    await manager.services.converge(id, { timeout: CONVERGE });
    const [task] = await runningTasks(id);
    expect(task!.NodeID).toBe(worker.id);
    const out = await execInTask(task!, ['sh', '-c', 'cat /run/secrets/app-secret; echo; cat /etc/app.conf; stat -c %a /run/secrets/app-secret']);
    expect(out).toEqual({ exitCode: 0, stdout: 's3cr3t-value\nsetting=on\n400\n', stderr: '' });
  });

  it('an overlay network joins tasks on different nodes: one reaches another by service name', async () => {
    const net = await manager.networks.create({ networkConfig: { Name: uniq('overlay'), Driver: 'overlay', Labels: LABELS } });
    networks.add(net.Id!);
    const server = await createService('web', {
      EndpointSpec: { Mode: 'dnsrr' }, // no IPVS here: the name resolves to the task itself
      TaskTemplate: { Placement: { Constraints: [`node.id == ${node('node3').id}`] }, Networks: [{ Target: net.Id! }] },
      command: ['sh', '-c', 'mkdir -p /www && echo "served by $NODE" > /www/index.html && exec httpd -f -p 8080 -h /www'],
      env: ['NODE={{.Node.ID}}'],
    });
    const client = await createService('client', {
      TaskTemplate: { Placement: { Constraints: [`node.id == ${node('node2').id}`] }, Networks: [{ Target: net.Id! }] },
    });
    await manager.services.converge(server.id, { timeout: CONVERGE });
    await manager.services.converge(client.id, { timeout: CONVERGE });
    const [clientTask] = await runningTasks(client.id);
    expect(clientTask!.NodeID).toBe(node('node2').id);
    const answer = await waitUntil(
      // By name (the swarm's DNS, 127.0.0.11); nc -w bounds the wait (this busybox's wget -T crashes).
      () =>
        execInTask(clientTask!, [
          'sh',
          '-c',
          `nslookup ${server.name} | awk '/^Address/ { a = $NF } END { print a }' >&2; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${server.name} 8080 | tail -n 1`,
        ]),
      (r) => r.exitCode === 0 && r.stdout !== '',
      60_000,
      'the client on node2 to reach the server on node3 by name',
    );
    expect(answer.stdout).toBe(`served by ${node('node3').id}\n`);
    const [serverTask] = await runningTasks(server.id);
    const serverAddr = serverTask!.NetworksAttachments?.find((a) => (a.Network as { ID?: string } | undefined)?.ID === net.Id)?.Addresses?.[0]?.split('/')[0];
    expect(answer.stderr.trim()).toBe(serverAddr);
  });

  it('publishes a port in host mode on every node: reached from this machine at each node\'s address', async () => {
    // The routing mesh (ingress mode) needs IPVS, which this machine's kernel lacks: a published
    // port is tested in host mode, where each task's node listens on it itself.
    const port = 18081;
    const web = await createService('published', {
      Mode: { Global: {} },
      EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishedPort: port, PublishMode: 'host' }] },
      command: ['sh', '-c', 'mkdir -p /www && echo "served by $NODE" > /www/index.html && exec httpd -f -p 8080 -h /www'],
      env: ['NODE={{.Node.ID}}'],
    });
    await manager.services.converge(web.id, { timeout: CONVERGE });
    const inspected = await manager.services.inspect(web.id);
    expect(inspected.Endpoint?.Ports).toContainEqual(expect.objectContaining({ TargetPort: 8080, PublishedPort: port, PublishMode: 'host' }));
    for (const n of nodes) {
      const body = await waitUntil(
        () => fetch(`http://${n.addr}:${port}/`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text(), () => ''),
        (text) => text !== '',
        60_000,
        `port ${port} on ${n.name} (${n.addr}) to answer`,
      );
      expect(body).toBe(`served by ${n.id}\n`);
    }
  });

  it('converge rejects, before its timeout, with the tasks\' errors when tasks exit non-zero at once', async () => {
    const { id } = await createService('failing', {
      Mode: { Replicated: { Replicas: 2 } },
      command: ['sh', '-c', 'echo failing; exit 3'],
      TaskTemplate: { RestartPolicy: { Condition: 'on-failure', Delay: 500_000_000 } },
    });
    const started = Date.now();
    const err = await manager.services.converge(id, { timeout: CONVERGE }).catch((e: unknown) => e);
    const took = Date.now() - started;
    observed.push(`converge of a failing service rejected after ${took} ms: ${(err as Error).message}`);
    expect(err).toBeInstanceOf(ServiceConvergeError);
    const e = err as ServiceConvergeError;
    expect(e).toMatchObject({ code: 'SERVICE_NOT_CONVERGED', reason: 'failing', serviceId: id, operationId: 'services.converge' });
    expect(took).toBeLessThan(CONVERGE / 2);
    expect(e.tasks.length).toBeGreaterThanOrEqual(3);
    for (const t of e.tasks) {
      expect(t).toMatchObject({ state: 'failed', err: 'task: non-zero exit (3)', exitCode: 3 });
      expect(nodes.map((n) => n.id)).toContain(t.nodeId);
    }
    expect(e.message).toContain('task: non-zero exit (3)');
  });

  it('converge rejects on its timeout with the pending tasks and why they wait; an abort is an AbortError', async () => {
    const { id } = await createService('unplaceable', {
      TaskTemplate: { Placement: { Constraints: ['node.labels.dockhand.nowhere == true'] } },
    });
    const err = (await manager.services.converge(id, { timeout: 3_000 }).catch((e: unknown) => e)) as ServiceConvergeError;
    expect(err).toBeInstanceOf(ServiceConvergeError);
    expect(err).toMatchObject({ reason: 'timeout', progress: { running: 0, desired: 1 } });
    expect(err.tasks[0]).toMatchObject({ state: 'pending' });
    expect(err.tasks[0]!.err).toMatch(/no suitable node/);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    await expect(manager.services.converge(id, { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
