import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Docker, MAX_API_VERSION, compareVersions } from '../../src/index.js';
import { Created, ENGINE, TEST_IMAGE, TEST_LABEL, answeredId, engineTime, readJsonLines, shownName, uniqueName } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);

afterEach(() => created.cleanup());
afterAll(() => docker.close());

describe('system', () => {
  it('negotiates the engine API version (1.41 here, never above what dockhand speaks)', async () => {
    const version = await docker.apiVersion();
    expect(version).toMatch(/^1\.\d+$/);
    expect(compareVersions(version, MAX_API_VERSION)).toBeLessThanOrEqual(0);
    // the same answer every time: negotiated once
    expect(await docker.apiVersion()).toBe(version);
  });

  it('pings: GET /_ping answers the text "OK"', async () => {
    expect(await docker.system.ping()).toBe('OK');
  });

  it('pings with HEAD: headers only, with the API version', async () => {
    const headers = await docker.system.pingHead();
    expect(headers['api-version']).toBe(await docker.apiVersion());
    // Podman sends no OSType; it names itself instead
    if (ENGINE.podman) expect(headers['libpod-api-version']).toBe(ENGINE.version);
    else expect(headers['ostype']).toBe('linux');
    // header names come back in lower case
    expect(Object.keys(headers).every((k) => k === k.toLowerCase())).toBe(true);
  });

  it('reports the engine version, whose ApiVersion is the negotiated one', async () => {
    const v = await docker.system.version();
    expect(v.ApiVersion).toBe(await docker.apiVersion());
    expect(v.Os).toBe('linux');
    expect(typeof v.Version).toBe('string');
    expect(v.Version!.length).toBeGreaterThan(0);
    expect(compareVersions(v.MinAPIVersion!, v.ApiVersion!)).toBeLessThanOrEqual(0);
  });

  it('reports system info, counting a container we create', async () => {
    const before = await docker.system.info();
    expect(before.OSType).toBe('linux');
    expect(typeof before.ID).toBe('string');
    expect(before.Images).toBeGreaterThanOrEqual(1);
    await created.createContainer();
    const after = await docker.system.info();
    expect(after.Containers).toBe(before.Containers! + 1);
    // dockerd counts a created container as stopped; Podman as neither running, paused nor stopped
    expect(after.ContainersStopped).toBe(before.ContainersStopped! + (ENGINE.podman ? 0 : 1));
  });

  it('reports data usage with the image and container lists (API 1.41 shape)', async () => {
    const id = await created.createContainer();
    // The generated result type is the newest API's shape (ImageUsage, ...); an engine on 1.41
    // answers with Images/Containers/Volumes lists instead.
    const df = (await docker.system.dataUsage()) as unknown as {
      Images: Array<{ Id: string; RepoTags: string[] | null }>;
      Containers: Array<{ Id: string; Labels: Record<string, string> }>;
      Volumes: unknown[];
      LayersSize: number;
    };
    expect(Array.isArray(df.Images)).toBe(true);
    expect(Array.isArray(df.Containers)).toBe(true);
    expect(Array.isArray(df.Volumes)).toBe(true);
    expect(typeof df.LayersSize).toBe('number');
    if (ENGINE.podman) {
      // Podman 4.3's lists are thinner: ids without `sha256:`, RepoTags with the tags alone
      // (`latest`), and no container labels
      const image = answeredId((await docker.images.inspect(TEST_IMAGE)).Id!);
      expect(df.Images.find((i) => i.Id === image)?.RepoTags).toContain('latest');
      expect(df.Containers.find((c) => c.Id === id)?.Labels).toEqual({});
      return;
    }
    expect(df.Images.some((i) => i.RepoTags?.includes(TEST_IMAGE))).toBe(true);
    const ours = df.Containers.find((c) => c.Id === id);
    expect(ours?.Labels[TEST_LABEL]).toBe('true');
  });

  it('streams events between since and until: the create and destroy of our container', async () => {
    const t0 = Date.now() - 1000;
    const name = uniqueName('events');
    const id = await created.createContainer({}, name);
    await docker.containers.remove(id);
    // Podman's file event log gives nothing when `until` has passed by the time it reads the
    // request (containers/podman#29579): there it is still ahead, and Podman ends the stream then
    const t1 = Date.now() + (ENGINE.podman ? 500 : 200);
    // elsewhere let `until` pass, so the engine ends the stream instead of waiting for it
    if (!ENGINE.podman) await new Promise((r) => setTimeout(r, Math.max(0, t1 - Date.now()) + 50));

    const stream = await docker.api.SystemEvents({ since: engineTime(t0), until: engineTime(t1), filters: { label: [`${TEST_LABEL}=true`] } });
    expect(stream.statusCode).toBe(200);
    expect(stream.headers['content-type']).toBe('application/json');
    const events = await readJsonLines<{ Type: string; Action: string; id?: string; Actor: { ID: string; Attributes: Record<string, string> }; time: number }>(stream);
    const ours = events.filter((e) => e.Actor.ID === id);
    // Podman calls the removal `remove` (dockerd `destroy`)
    expect(ours.map((e) => `${e.Type}:${e.Action}`)).toEqual(['container:create', ENGINE.podman ? 'container:remove' : 'container:destroy']);
    expect(ours[0]!.Actor.Attributes.name).toBe(name);
    expect(ours[0]!.Actor.Attributes[TEST_LABEL]).toBe('true');
    expect(ours[0]!.Actor.Attributes.image).toBe(shownName(TEST_IMAGE));
    // every event the filter let through carries our label
    expect(events.every((e) => e.Actor.Attributes[TEST_LABEL] === 'true')).toBe(true);
    for (const e of ours) {
      expect(e.time * 1000).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) * 1000);
      expect(e.time * 1000).toBeLessThanOrEqual(t1);
    }
  });
});
