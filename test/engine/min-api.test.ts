/**
 * The engine's minimum API version, as Docker 29 raises it to 1.44 (CI runs this file against a
 * Docker 28.5 started with DOCKER_MIN_API_VERSION=1.44: scripts/engines.sh's docker28-min144).
 * Negotiation picks a version the engine accepts; a client pinned below the minimum fails with
 * ApiVersionError naming both versions, and the engine does nothing of what was asked. Against an
 * engine whose minimum dockhand cannot go below (1.25 or less), the checks use that minimum.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ApiVersionError, Docker, MIN_API_VERSION, compareVersions } from '../../src/index.js';
import { Created, TEST_IMAGE, labels, shownName, uniqueName } from '../support/engine.js';

const docker = new Docker();
const created = new Created(docker);
afterAll(async () => {
  await created.cleanup();
  await docker.close();
});

/** The engine's own range, from /version. */
async function range(): Promise<{ min: string; max: string }> {
  const v = await docker.system.version();
  const engine = v.Components?.find((c) => c.Name === 'Engine')?.Details as { ApiVersion?: string; MinAPIVersion?: string } | undefined;
  return { min: v.MinAPIVersion ?? engine?.MinAPIVersion ?? '1.24', max: v.ApiVersion ?? engine?.ApiVersion ?? '' };
}

describe("the engine's minimum API version", () => {
  it('negotiation picks a version within the engine\'s range, and calls work', async () => {
    const { min, max } = await range();
    const version = await docker.apiVersion();
    expect(compareVersions(version, min)).toBeGreaterThanOrEqual(0);
    expect(compareVersions(version, max)).toBeLessThanOrEqual(0);
    expect((await docker.system.ping()).toString()).toBe('OK');
    const id = created.container((await docker.containers.create({ body: { Image: TEST_IMAGE, Cmd: ['true'], Labels: labels() } })).Id);
    // (Podman shows the name qualified: docker.io/...)
    expect((await docker.containers.inspect(id)).Config?.Image).toBe(shownName(TEST_IMAGE));
  });

  it('a client pinned below the minimum: ApiVersionError naming both versions, and nothing done', async () => {
    const { min } = await range();
    if (compareVersions(min, MIN_API_VERSION) <= 0) {
      // nothing dockhand speaks is below this engine's minimum: the oldest version it speaks works
      const oldest = new Docker({ apiVersion: MIN_API_VERSION });
      try {
        expect(await oldest.system.ping()).toBe('OK');
        expect(Array.isArray(await oldest.containers.list())).toBe(true);
      } finally {
        await oldest.close();
      }
      return;
    }
    const name = uniqueName('below-min');
    const pinned = new Docker({ apiVersion: '1.41' });
    try {
      const err = await pinned.containers.create({ name, body: { Image: TEST_IMAGE, Cmd: ['true'], Labels: labels() } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiVersionError);
      expect(err).toMatchObject({ code: 'API_VERSION', statusCode: 400, current: '1.41', required: `>= ${min}`, operationId: 'ContainerCreate' });
      expect((err as Error).message).toContain('1.41');
      expect((err as Error).message).toContain(min);
      // the engine refused the request before acting on it
      expect(await docker.containers.list({ all: true, filters: { name: [name] } })).toEqual([]);
    } finally {
      await pinned.close();
    }
  });
});
