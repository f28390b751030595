import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ApiVersionError, ConflictError, Docker, NotFoundError, ServerError } from '../../src/index.js';
import { Created, DEFAULT_NETWORK, ENGINE, TEST_LABEL, apiAtLeast, labels, uniqueName } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(() => docker.close());

async function createNetwork(extraLabels: Record<string, string> = {}) {
  const name = uniqueName('net');
  const res = await docker.networks.create({ networkConfig: { Name: name, Driver: 'bridge', Labels: { ...labels(), ...extraLabels } } });
  created.network(res.Id!);
  return { id: res.Id!, name, warning: res.Warning };
}

describe('networks', () => {
  it('creates a labelled bridge network and inspects it', async () => {
    const { id, name, warning } = await createNetwork({ 'dockhand.case': 'create' });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(warning ?? '').toBe('');
    const net = await docker.networks.inspect(id);
    expect(net.Id).toBe(id);
    expect(net.Name).toBe(name);
    expect(net.Driver).toBe('bridge');
    expect(net.Scope).toBe('local');
    expect(net.Labels).toEqual({ ...labels(), 'dockhand.case': 'create' });
    expect(net.Containers).toEqual({});
    expect(net.IPAM!.Config!.length).toBeGreaterThan(0);
    // by name too
    expect((await docker.networks.inspect(name)).Id).toBe(id);
  });

  it('refuses a second network with the same name when CheckDuplicate is set (409), allows it otherwise; from API 1.44 names are always unique, and past 1.45 dockhand refuses CheckDuplicate before sending', async () => {
    const { id, name } = await createNetwork();
    // CheckDuplicate exists up to API 1.43; the generated body type (newest API) lacks it.
    const config = { Name: name, Driver: 'bridge', Labels: labels(), CheckDuplicate: true } as { Name: string };
    const err = await docker.networks
      .create({ networkConfig: config })
      .then((res) => created.network(res.Id!))
      .catch((e: unknown) => e);
    if (ENGINE.podman) {
      // Podman keeps network names unique whatever CheckDuplicate says, and refuses with a 500
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ statusCode: 500, code: 'SERVER_ERROR', operationId: 'NetworkCreate' });
      expect((err as Error).message).toBe(`network name ${name} already used: network already exists`);
      const again = await docker.networks.create({ networkConfig: { Name: name, Driver: 'bridge', Labels: labels() } }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(ServerError);
      expect((await docker.networks.list({ filters: { name: [name] } })).map((n) => n.Id)).toEqual([id]);
      return;
    }
    if (apiAtLeast('1.46')) {
      // the specs list CheckDuplicate up to API 1.45: later, dockhand refuses it before sending
      expect(err).toBeInstanceOf(ApiVersionError);
      expect(err).toMatchObject({ code: 'API_VERSION', parameter: 'networkConfig.CheckDuplicate', required: '<= 1.45', current: ENGINE.api });
    } else if (!apiAtLeast('1.44')) {
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({ statusCode: 409, code: 'CONFLICT', operationId: 'NetworkCreate' });
      expect((err as Error).message).toContain(name);
    }
    if (apiAtLeast('1.44')) {
      // 1.44+ engines ignore CheckDuplicate (1.44 and 1.45 still take it): names are always unique
      if (!apiAtLeast('1.46')) expect(err).toBeInstanceOf(ConflictError);
      const again = await docker.networks.create({ networkConfig: { Name: name, Driver: 'bridge', Labels: labels() } }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(ConflictError);
      expect(again).toMatchObject({ statusCode: 409, code: 'CONFLICT', operationId: 'NetworkCreate' });
      return;
    }

    const second = await docker.networks.create({ networkConfig: { Name: name, Driver: 'bridge', Labels: labels() } });
    created.network(second.Id!);
    expect(second.Id).not.toBe(id);
    const same = await docker.networks.list({ filters: { name: [name], label: [TEST_LABEL] } });
    expect(same.map((n) => n.Id).sort()).toEqual([id, second.Id].sort());
  });

  it('connects a running container, which inspect then shows; disconnects it', async () => {
    const { id, name } = await createNetwork();
    const container = await created.runContainer();
    expect(await docker.networks.connect(id, { container: { Container: container, EndpointConfig: { Aliases: ['dockhand-alias'] } } })).toBeUndefined();

    const net = await docker.networks.inspect(id);
    expect(Object.keys(net.Containers!)).toEqual([container]);
    const endpoint = net.Containers![container]!;
    expect(endpoint.IPv4Address).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);

    const settings = (await docker.containers.inspect(container)).NetworkSettings!.Networks!;
    expect(Object.keys(settings).sort()).toEqual([DEFAULT_NETWORK, name].sort());
    // Podman 4.3 gives the network's name as its NetworkID
    expect(settings[name]!.NetworkID).toBe(ENGINE.podman ? name : id);
    expect(settings[name]!.Aliases).toContain('dockhand-alias');
    expect(settings[name]!.IPAddress).toBe(endpoint.IPv4Address!.split('/')[0]);

    expect(await docker.networks.disconnect(id, { container: { Container: container } })).toBeUndefined();
    expect((await docker.networks.inspect(id)).Containers).toEqual({});
    expect(Object.keys((await docker.containers.inspect(container)).NetworkSettings!.Networks!)).toEqual([DEFAULT_NETWORK]);
  });

  it('lists with a label filter', async () => {
    const mark = uniqueName('list');
    const a = await createNetwork({ 'dockhand.list': mark });
    const b = await createNetwork({ 'dockhand.list': mark });
    await createNetwork();
    const listed = await docker.networks.list({ filters: { label: [`dockhand.list=${mark}`] } });
    expect(listed.map((n) => n.Id).sort()).toEqual([a.id, b.id].sort());
    expect(listed.every((n) => n.Labels![TEST_LABEL] === 'true' && n.Driver === 'bridge')).toBe(true);

    const byName = await docker.networks.list({ filters: { name: [a.name], label: [TEST_LABEL] } });
    expect(byName.map((n) => n.Name)).toEqual([a.name]);
  });

  it('removes a network; a second remove is a 404', async () => {
    const { id } = await createNetwork();
    expect(await docker.networks.remove(id)).toBeUndefined();
    await expect(docker.networks.inspect(id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(docker.networks.remove(id)).rejects.toMatchObject({ name: 'NotFoundError', statusCode: 404, operationId: 'NetworkDelete' });
  });

  it('prunes exactly the unused networks carrying the filter label', async () => {
    const mark = uniqueName('prune');
    const unused = await createNetwork({ 'dockhand.prune': mark });
    const inUse = await createNetwork({ 'dockhand.prune': mark });
    const container = await created.runContainer();
    await docker.networks.connect(inUse.id, { container: { Container: container } });
    const other = await createNetwork();

    const res = await docker.networks.prune({ filters: { label: [`${TEST_LABEL}=true`, `dockhand.prune=${mark}`] } });
    expect(res.NetworksDeleted).toEqual([unused.name]);
    await expect(docker.networks.inspect(unused.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await docker.networks.inspect(inUse.id)).Id).toBe(inUse.id);
    expect((await docker.networks.inspect(other.id)).Id).toBe(other.id);
  });
});
