import { describe, expect, it } from 'vitest';
import { ApiVersionError, Docker, MAX_API_VERSION, MIN_API_VERSION } from '../../src/index.js';
import { compareVersions, negotiate } from '../../src/version.js';
import { FakeTransport, json } from '../support/fake-transport.js';

describe('API versions', () => {
  it('speaks 1.25 to 1.55', () => {
    expect(MIN_API_VERSION).toBe('1.25');
    expect(MAX_API_VERSION).toBe('1.55');
    expect(compareVersions('1.9', '1.10')).toBeLessThan(0);
  });

  it('negotiates the lower of the engine version and the newest spec', () => {
    expect(negotiate('1.41')).toBe('1.41');
    expect(negotiate('1.99')).toBe('1.55');
    expect(() => negotiate('1.24')).toThrow(ApiVersionError);
    expect(() => negotiate(undefined)).toThrow(/API-Version/);
  });

  it('negotiates lazily, once, for concurrent first calls', async () => {
    const transport = new FakeTransport(() => json([]), '1.43');
    const docker = new Docker({ transport });
    expect(transport.requests).toHaveLength(0);
    await Promise.all([docker.containers.list(), docker.images.list(), docker.networks.list(), docker.apiVersion()]);
    expect(transport.requests.filter((r) => r.path === '/_ping')).toHaveLength(1);
    expect(transport.calls.map((c) => c.path.split('/')[1])).toEqual(['v1.43', 'v1.43', 'v1.43']);
    expect(await docker.apiVersion()).toBe('1.43');
  });

  it('caps at the newest spec for a newer engine', async () => {
    const transport = new FakeTransport(() => json([]), '1.60');
    const docker = new Docker({ transport });
    await docker.containers.list();
    expect(transport.calls[0]!.path).toBe('/v1.55/containers/json');
  });

  it('refuses an engine older than 1.25 with a clear error', async () => {
    const docker = new Docker({ transport: new FakeTransport(() => json([]), '1.24') });
    await expect(docker.containers.list()).rejects.toThrow(/engine speaks API 1.24, older than the oldest dockhand speaks \(1.25\)/);
  });

  it('pins from the option or DOCKER_API_VERSION, without a ping', async () => {
    const transport = new FakeTransport(() => json([]));
    const docker = new Docker({ transport, env: { DOCKER_API_VERSION: '1.30' } });
    await docker.containers.list();
    expect(transport.requests.map((r) => r.path)).toEqual(['/v1.30/containers/json']);
    expect(await new Docker({ transport, apiVersion: 'v1.44', env: { DOCKER_API_VERSION: '1.30' } }).apiVersion()).toBe('1.44');
  });

  it('refuses a pinned version it has no spec for', () => {
    expect(() => new Docker({ apiVersion: '1.24' })).toThrow(ApiVersionError);
    expect(() => new Docker({ apiVersion: '1.56' })).toThrow(/outside the API versions dockhand speaks/);
    expect(() => new Docker({ env: { DOCKER_API_VERSION: 'latest' } })).toThrow(/DOCKER_API_VERSION "latest"/);
  });

  it('refuses an operation newer than the version in use, sending nothing', async () => {
    const transport = new FakeTransport(() => json([]));
    const docker = new Docker({ transport, apiVersion: '1.25' });
    const err = await docker.api.ConfigList().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiVersionError);
    expect(err).toMatchObject({ operationId: 'ConfigList', required: '>= 1.30', current: '1.25', code: 'API_VERSION' });
    expect((err as Error).message).toBe('ConfigList requires API >= 1.30; the API version in use is 1.25');
    expect(transport.requests).toHaveLength(0);
  });

  it('refuses a parameter newer than the version in use, naming it', async () => {
    const transport = new FakeTransport(() => ({ status: 204 }));
    const docker = new Docker({ transport, apiVersion: '1.41' });
    const err = await docker.containers.stop('c', { signal: 'SIGINT' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ApiVersionError', parameter: 'signal', required: '>= 1.42', current: '1.41' });
    expect(transport.requests).toHaveLength(0);
    await docker.containers.stop('c', { t: 1 });
    expect(transport.requests).toHaveLength(1);
  });

  it('accepts the pre-1.28 archive names as aliases, on every version', async () => {
    const transport = new FakeTransport(() => ({ status: 200, headers: { 'x-docker-container-path-stat': 'e30=' } }));
    for (const apiVersion of ['1.25', '1.41']) {
      const docker = new Docker({ transport, apiVersion });
      const headers = await docker.api.ContainerArchiveHead({ id: 'c', path: '/etc' });
      expect(headers['x-docker-container-path-stat']).toBe('e30=');
      await docker.api.ContainerArchiveInfo({ id: 'c', path: '/etc' });
    }
    expect(transport.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'HEAD /v1.25/containers/c/archive?path=%2Fetc',
      'HEAD /v1.25/containers/c/archive?path=%2Fetc',
      'HEAD /v1.41/containers/c/archive?path=%2Fetc',
      'HEAD /v1.41/containers/c/archive?path=%2Fetc',
    ]);
  });
});
