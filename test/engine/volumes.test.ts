import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConflictError, Docker, NotFoundError, type Filters } from '../../src/index.js';
import { Created, ENGINE, TEST_LABEL, apiAtLeast, labels, uniqueName } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(() => docker.close());

async function createVolume(extraLabels: Record<string, string> = {}, name = uniqueName('vol')) {
  const vol = await docker.volumes.create({ volumeConfig: { Name: name, Labels: { ...labels(), ...extraLabels } } });
  created.volume(vol.Name);
  return vol;
}

describe('volumes', () => {
  it('creates a labelled volume and inspects it', async () => {
    const name = uniqueName('vol');
    const vol = await createVolume({ 'dockhand.case': 'create' }, name);
    expect(vol.Name).toBe(name);
    expect(vol.Driver).toBe('local');
    expect(vol.Scope).toBe('local');
    expect(vol.Labels).toEqual({ ...labels(), 'dockhand.case': 'create' });

    const inspected = await docker.volumes.inspect(name);
    expect(inspected.Name).toBe(name);
    expect(inspected.Labels).toEqual(vol.Labels);
    expect(inspected.Mountpoint).toBe(vol.Mountpoint);
    expect(inspected.Mountpoint).toMatch(new RegExp(`/volumes/${name}/_data$`));
    expect(Number.isNaN(Date.parse(inspected.CreatedAt!))).toBe(false);
  });

  it('creates an anonymous volume when no name is given', async () => {
    const vol = await docker.volumes.create({ volumeConfig: { Labels: labels() } });
    created.volume(vol.Name);
    expect(vol.Name).toMatch(/^[0-9a-f]{64}$/);
    // API 1.42+ marks a volume made without a name `com.docker.volume.anonymous` (what prune reads)
    const expected = apiAtLeast('1.42') ? { ...labels(), 'com.docker.volume.anonymous': '' } : labels();
    expect((await docker.volumes.inspect(vol.Name)).Labels).toEqual(expected);
  });

  it('lists with a label filter', async () => {
    const mark = uniqueName('list');
    const a = await createVolume({ 'dockhand.list': mark });
    const b = await createVolume({ 'dockhand.list': mark });
    const other = await createVolume();
    const res = await docker.volumes.list({ filters: { label: [`dockhand.list=${mark}`] } });
    expect(res.Volumes!.map((v) => v.Name).sort()).toEqual([a.Name, b.Name].sort());
    expect(res.Warnings ?? []).toEqual([]);

    const byName = await docker.volumes.list({ filters: { name: [a.Name], label: [TEST_LABEL] } });
    if (ENGINE.podman) {
      // Podman 4.3 lists the volumes that match ANY of the filters: the three of this test among them
      expect(byName.Volumes!.map((v) => v.Name)).toEqual(expect.arrayContaining([a.Name, b.Name, other.Name]));
      expect(byName.Volumes!.every((v) => v.Name === a.Name || v.Labels?.[TEST_LABEL] !== undefined)).toBe(true);
      return;
    }
    expect(byName.Volumes!.map((v) => v.Name)).toEqual([a.Name]);
  });

  it('removes a volume; one in use is refused (409)', async () => {
    const vol = await createVolume();
    const container = await created.createContainer({ HostConfig: { Binds: [`${vol.Name}:/data`] } });
    const err = await docker.volumes.remove(vol.Name).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ statusCode: 409, operationId: 'VolumeDelete' });
    // Podman: "volume <name> is being used by the following container(s): <id>: volume is being used"
    expect((err as Error).message).toContain(ENGINE.podman ? `is being used by the following container(s): ${container}` : 'volume is in use');

    await docker.containers.remove(container);
    expect(await docker.volumes.remove(vol.Name)).toBeUndefined();
    await expect(docker.volumes.inspect(vol.Name)).rejects.toBeInstanceOf(NotFoundError);
    await expect(docker.volumes.remove(vol.Name)).rejects.toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
  });

  it('prunes exactly the unused volumes carrying the filter label (named ones too: all=true from API 1.42)', async () => {
    const mark = uniqueName('prune');
    const unused = await createVolume({ 'dockhand.prune': mark });
    const anonymous = await docker.volumes.create({ volumeConfig: { Labels: { ...labels(), 'dockhand.prune': mark } } });
    created.volume(anonymous.Name);
    const inUse = await createVolume({ 'dockhand.prune': mark });
    await created.createContainer({ HostConfig: { Binds: [`${inUse.Name}:/data`] } });
    const other = await createVolume();

    // API 1.42+ prunes only anonymous volumes unless the filter says `all=true` (which 1.41 refuses).
    // Podman 4.3 prunes what matches ANY of the labels: only the label unique to this test keeps the
    // prune to this test's volumes there.
    const filters: Filters = { label: ENGINE.podman ? [`dockhand.prune=${mark}`] : [`${TEST_LABEL}=true`, `dockhand.prune=${mark}`] };
    if (apiAtLeast('1.42')) filters.all = ['true'];
    const res = await docker.volumes.prune({ filters });
    expect([...res.VolumesDeleted!].sort()).toEqual([unused.Name, anonymous.Name].sort());
    expect(res.SpaceReclaimed).toBe(0);
    await expect(docker.volumes.inspect(unused.Name)).rejects.toBeInstanceOf(NotFoundError);
    expect((await docker.volumes.inspect(inUse.Name)).Name).toBe(inUse.Name);
    expect((await docker.volumes.inspect(other.Name)).Name).toBe(other.Name);
  });
});
