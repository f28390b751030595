/**
 * The round trip that full body validation must allow: what an engine answers fed back into a
 * create call. Containers are made by the docker CLI with many flags (not by dockhand, so nothing
 * dockhand would not send hides a field), inspected, and a ContainerCreate body is built from
 * Config + HostConfig + NetworkingConfig{EndpointsConfig: NetworkSettings.Networks}: it must
 * validate against the API version in use and the engine must accept it. A field an engine sends
 * that no spec documents belongs in scripts/generate/undocumented.ts.
 *
 * Services: the same with a service's Spec, on the second (TLS) engine of swarm.test.ts, when it
 * is up and in no swarm; this file puts it into one and takes it out again.
 *
 * And a body that fails validation, or has a field the version in use lacks, sends nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ApiVersionError, Docker, ValidationError } from '../../src/index.js';
import { Created, ENGINE, ENGINE_HOST, RUN_ID, RUN_LABEL, RecordingTransport, TEST_IMAGE, TEST_LABEL, apiAtLeast, uniqueName } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(() => docker.close());

/** Runs the docker CLI against `host`; returns its stdout, or throws with its stderr. */
function cli(args: string[], env: Record<string, string> = { DOCKER_HOST: ENGINE_HOST }): string {
  const r = spawnSync('docker', args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout.trim();
}

const LABELS = ['--label', `${TEST_LABEL}=true`, '--label', `${RUN_LABEL}=${RUN_ID}`];

/** docker run flags of the first container: a bit of everything the CLI sets. */
function manyFlags(): string[] {
  return [
    ...['-p', '18080:80', '-p', '127.0.0.1:18443:443/udp', '--expose', '9000', '-v', '/tmp:/data:ro', '--mount', 'type=tmpfs,dst=/tmpfs,tmpfs-size=1m', '--tmpfs', '/run'],
    ...['-e', 'A=1', '-w', '/tmp', '-u', '0', '--hostname', 'hh', '--domainname', 'example.com', '-t', '-i', '--entrypoint', 'sleep', '--label', 'x=y'],
    ...['--health-cmd', 'true', '--health-interval', '5s', '--health-timeout', '2s', '--health-retries', '2', '--health-start-period', '1s'],
    ...['--restart', 'on-failure:3', '--stop-signal', 'SIGTERM', '--stop-timeout', '3', '--init', '--read-only', '--oom-score-adj', '10'],
    ...['--ulimit', 'nofile=1024:2048', '--log-opt', 'max-size=1m', '--cap-add', 'NET_ADMIN', '--cap-drop', 'MKNOD', '--security-opt', 'no-new-privileges'],
    ...['--dns', '1.1.1.1', '--dns-search', 'example.com', '--dns-option', 'ndots:2', '--add-host', 'h:1.2.3.4', '--group-add', '10', '--sysctl', 'net.ipv4.ip_forward=1'],
    ...['--memory', '64m', '--memory-reservation', '32m', '--memory-swap', '128m', '--cpu-shares', '512', '--pids-limit', '50', '--shm-size', '32m'],
    // Podman: the docker CLI refuses --device against it ("unknown server OS": its /version has
    // no Os where the CLI looks), and Podman refuses its own inspect's NanoCpus beside the
    // CpuPeriod/CpuQuota it sends with them ("NanoCpus conflicts with CpuPeriod and CpuQuota").
    ...(ENGINE.podman ? [] : ['--device', '/dev/null:/dev/xnull', '--device-cgroup-rule', 'c 1:3 mr', '--cpus', '0.5']),
  ];
}

/** docker run flags of the second one: a user-defined network with an alias, and the other modes. */
function otherFlags(network: string): string[] {
  return [
    ...['--network', network, '--network-alias', 'alias1', '--privileged', '--pid', 'host', '--ipc', 'shareable', '--cgroupns', 'host', '--cpuset-cpus', '0'],
    ...['--mount', `type=volume,dst=/vol,volume-label=${TEST_LABEL}=true`, '--mount', 'type=bind,src=/tmp,dst=/b,readonly', '--log-driver', 'json-file'],
    ...['--restart', 'unless-stopped', '--no-healthcheck', '--userns', 'host', '-P', '--expose', '7000'],
  ];
}

type Inspected = { Config: Record<string, unknown>; HostConfig: Record<string, unknown>; NetworkSettings: { Networks: Record<string, unknown> }; Mounts?: Array<{ Name?: string; Type?: string }> };

/** The ContainerCreate body an inspected container describes. */
function bodyOf(c: Inspected): Record<string, unknown> {
  const body = { ...c.Config, HostConfig: { ...c.HostConfig }, NetworkingConfig: { EndpointsConfig: c.NetworkSettings.Networks } };
  if (ENGINE.podman) {
    // Podman's inspect names ulimits RLIMIT_NOFILE, which its own create refuses ("invalid ulimit
    // type: RLIMIT_NOFILE"): the engine's quirk, not the body's shape, so the names are mended.
    const ulimits = body.HostConfig.Ulimits as Array<{ Name: string }> | null | undefined;
    body.HostConfig.Ulimits = ulimits?.map((u) => ({ ...u, Name: u.Name.replace(/^RLIMIT_/, '').toLowerCase() }));
  }
  return body;
}

async function roundTrip(flags: string[]): Promise<{ source: Inspected; copy: Inspected }> {
  const id = created.container(cli(['create', '--name', uniqueName('roundtrip-cli'), ...LABELS, ...flags, TEST_IMAGE, '300']));
  const source = (JSON.parse(cli(['inspect', id])) as Inspected[])[0]!;
  for (const m of source.Mounts ?? []) if (m.Type === 'volume' && m.Name) created.volume(m.Name);
  const { Id } = await docker.containers.create({ name: uniqueName('roundtrip-copy'), body: bodyOf(source) as never });
  created.container(Id);
  const copy = (await docker.containers.inspect(Id)) as unknown as Inspected;
  for (const m of copy.Mounts ?? []) if (m.Type === 'volume' && m.Name) created.volume(m.Name);
  return { source, copy };
}

describe('inspected containers fed back into ContainerCreate', () => {
  it('validates and is accepted: ports, mounts, health check, restart policy, limits, devices, DNS', async () => {
    const { source, copy } = await roundTrip(manyFlags());
    for (const field of ['Memory', 'MemoryReservation', 'PidsLimit', 'ShmSize', 'RestartPolicy', 'Dns', 'ExtraHosts', 'CapAdd', 'ReadonlyRootfs', 'Init', 'Sysctls', 'Tmpfs', 'Binds', 'Ulimits', 'PortBindings']) {
      if (field === 'Ulimits' && ENGINE.podman) continue; // names mended above
      expect(copy.HostConfig[field], field).toEqual(source.HostConfig[field]);
    }
    for (const field of ['Cmd', 'Entrypoint', 'Healthcheck', 'Labels', 'ExposedPorts', 'WorkingDir', 'User', 'Tty', 'StopSignal']) {
      expect(copy.Config[field], field).toEqual(source.Config[field]);
    }
    // Podman moves the variables it adds itself (container=podman, HOSTNAME) around: same set.
    expect([...(copy.Config.Env as string[])].sort()).toEqual([...(source.Config.Env as string[])].sort());
  });

  it('validates and is accepted: a user-defined network with an alias, volumes, privileged, host modes', async () => {
    const network = created.network(cli(['network', 'create', ...LABELS, uniqueName('roundtrip-net')]));
    const { source, copy } = await roundTrip(otherFlags(network));
    expect(Object.keys(copy.NetworkSettings.Networks)).toEqual(Object.keys(source.NetworkSettings.Networks));
    for (const field of ['Privileged', 'PidMode', 'IpcMode', 'CpusetCpus', 'RestartPolicy', 'Mounts']) expect(copy.HostConfig[field], field).toEqual(source.HostConfig[field]);
  });
});

describe('a body that fails validation sends nothing', () => {
  it('refuses a misspelt field and a field the version in use lacks, with only the negotiation sent', async () => {
    const transport = new RecordingTransport();
    const client = new Docker({ transport });
    try {
      const typo = await client.containers.create({ body: { Image: TEST_IMAGE, HostConfig: { Memroy: 1 } } as never }).catch((e: unknown) => e);
      expect(typo).toBeInstanceOf(ValidationError);
      expect((typo as Error).message).toBe('ContainerCreate: body.HostConfig.Memroy is not a field of HostConfig (did you mean Memory?)');
      // A field this engine's API version lacks: Annotations came in 1.43, KernelMemory left after 1.41.
      const [field, required] = apiAtLeast('1.43') ? ['KernelMemory', '<= 1.41'] : ['Annotations', '>= 1.43'];
      const value = field === 'Annotations' ? { a: 'b' } : 1;
      const old = await client.containers.create({ body: { Image: TEST_IMAGE, Labels: { [TEST_LABEL]: 'true' }, HostConfig: { [field]: value } } as never }).catch((e: unknown) => e);
      expect(old).toBeInstanceOf(ApiVersionError);
      expect(old).toMatchObject({ parameter: `body.HostConfig.${field}`, required, current: ENGINE.api });
      expect(transport.sent).toEqual(['GET /_ping']);
    } finally {
      await client.close();
    }
  });
});

/** The second engine of swarm.test.ts (`bash scripts/tls-engine.sh up`). */
const TLS = join(process.env.TMPDIR || '/tmp', 'dockhand-tls-engine');
const TLS_ENV = { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: TLS };
const tlsUp = existsSync(join(TLS, 'key.pem')) && spawnSync('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'], { env: { ...process.env, ...TLS_ENV }, encoding: 'utf8', timeout: 10_000 }).stdout?.trim() === 'inactive';

describe.skipIf(!tlsUp)('an inspected service Spec fed back into ServiceCreate (the TLS engine, made a swarm here)', () => {
  it('validates and is accepted', async () => {
    const tls = new Docker({ host: TLS_ENV.DOCKER_HOST, tls: { ca: readFileSync(join(TLS, 'ca.pem')), cert: readFileSync(join(TLS, 'cert.pem')), key: readFileSync(join(TLS, 'key.pem')) }, env: {} });
    const services: string[] = [];
    let gwbridge = false;
    let swarm = false;
    try {
      // As in swarm.test.ts: a small docker_gwbridge next to the TLS engine's bridge, not the next free /16.
      cli(['network', 'create', '--subnet', '172.31.251.0/24', '-o', 'com.docker.network.bridge.name=docker_gwbridge', '-o', 'com.docker.network.bridge.enable_icc=false', '-o', 'com.docker.network.bridge.enable_ip_masquerade=true', 'docker_gwbridge'], TLS_ENV);
      gwbridge = true;
      cli(['swarm', 'init', '--listen-addr', '127.0.0.1:2377', '--advertise-addr', '127.0.0.1'], TLS_ENV);
      swarm = true;
      // No replicas: the Spec is what matters, and no task (or image) is needed for it.
      const flags = [
        ...['--detach', '--no-resolve-image', '--replicas', '0', '--container-label', `${TEST_LABEL}=true`, '-e', 'A=1', '--mount', 'type=tmpfs,dst=/t', '--mount', 'type=volume,dst=/v'],
        ...['--restart-condition', 'on-failure', '--restart-max-attempts', '2', '--restart-delay', '1s', '--limit-cpu', '0.5', '--limit-memory', '64m', '--reserve-memory', '32m'],
        ...['--update-parallelism', '2', '--update-delay', '2s', '--update-failure-action', 'rollback', '--rollback-parallelism', '1', '--health-cmd', 'true', '--health-interval', '5s'],
        ...['--hostname', 'h', '--user', '0', '--workdir', '/tmp', '--dns', '1.1.1.1', '--host', 'h:1.2.3.4', '--cap-add', 'NET_ADMIN', '--ulimit', 'nofile=1024:2048'],
        ...['--stop-grace-period', '3s', '--stop-signal', 'SIGTERM', '--init', '--read-only', '--tty', '--log-driver', 'json-file', '--log-opt', 'max-size=1m'],
        ...['--constraint', 'node.role==manager', '--placement-pref', 'spread=node.id', '-p', '18081:80', '--sysctl', 'net.ipv4.ip_forward=1', '--entrypoint', 'sleep'],
      ];
      const id = cli(['service', 'create', '--name', uniqueName('roundtrip-svc'), ...LABELS, ...flags, TEST_IMAGE, '60'], TLS_ENV);
      services.push(id);
      const source = (JSON.parse(cli(['service', 'inspect', id], TLS_ENV)) as Array<{ Spec: Record<string, any> }>)[0]!.Spec;
      const spec = structuredClone(source);
      spec.Name = uniqueName('roundtrip-svc-copy');
      spec.EndpointSpec.Ports[0].PublishedPort = 18082;
      const res = await tls.services.create({ body: spec as never });
      services.push(res.ID!);
      const copy = (await tls.services.inspect(res.ID!)).Spec!;
      expect(copy.TaskTemplate).toEqual(source.TaskTemplate);
      expect(copy.UpdateConfig).toEqual(source.UpdateConfig);
    } finally {
      for (const id of services) await tls.services.remove(id).catch(() => undefined);
      if (swarm) cli(['swarm', 'leave', '--force'], TLS_ENV);
      if (gwbridge) cli(['network', 'rm', 'docker_gwbridge'], TLS_ENV);
      await tls.close();
    }
  });
});
