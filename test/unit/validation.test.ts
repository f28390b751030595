import { describe, expect, it } from 'vitest';
import { Docker, ValidationError } from '../../src/index.js';
import { FakeTransport, json } from '../support/fake-transport.js';

function client() {
  const transport = new FakeTransport(() => json({}));
  return { transport, docker: new Docker({ transport, apiVersion: '1.41' }) };
}

async function rejection(p: Promise<unknown>): Promise<ValidationError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  return err as ValidationError;
}

describe('validation before sending', () => {
  it('names the operation and the missing required parameter', async () => {
    const { transport, docker } = client();
    const err = await rejection(docker.api.ContainerCreate({} as never));
    expect(err.message).toMatch(/ContainerCreate: missing required parameter "body"/);
    expect(err.operationId).toBe('ContainerCreate');
    expect(err.parameter).toBe('body');
    expect(err.code).toBe('VALIDATION');
    expect(transport.requests).toHaveLength(0);
  });

  it('refuses unknown parameter names, listing the known ones', async () => {
    const { transport, docker } = client();
    const err = await rejection(docker.api.ContainerList({ al: true } as never));
    expect(err.parameter).toBe('al');
    expect(err.message).toMatch(/unknown parameter "al".*all/);
    expect(transport.requests).toHaveLength(0);
  });

  it('refuses wrong primitive types', async () => {
    const { transport, docker } = client();
    expect((await rejection(docker.api.ContainerList({ all: 'yes' } as never))).message).toMatch(/"all" must be a boolean, not string "yes"/);
    expect((await rejection(docker.api.ContainerList({ limit: 1.5 } as never))).message).toMatch(/"limit" must be an integer/);
    expect((await rejection(docker.api.ContainerInspect({ id: 42 } as never))).message).toMatch(/"id" must be a string/);
    expect((await rejection(docker.api.ContainerCreate({ body: 'x' } as never))).message).toMatch(/"body" must be an object/);
    expect((await rejection(docker.api.ImageLoad({ imagesTarball: 12 } as never))).message).toMatch(/must be a Buffer/);
    expect((await rejection(docker.api.ImageGetAll({ names: ['a', 3] } as never))).message).toMatch(/only strings/);
    expect(transport.requests).toHaveLength(0);
  });

  it('refuses values outside an enum', async () => {
    const { transport, docker } = client();
    const err = await rejection(docker.api.ImageBuild({ version: '3' as never }));
    expect(err.parameter).toBe('version');
    expect(err.message).toMatch(/must be one of "1", "2"/);
    const listErr = await rejection(docker.api.SystemDataUsage({ type: ['container', 'disk'] as never }));
    expect(listErr.parameter).toBe('type');
    expect(transport.requests).toHaveLength(0);
  });

  it('treats undefined values as absent', async () => {
    const { transport, docker } = client();
    await docker.api.ContainerList({ all: undefined, filters: undefined });
    expect(transport.calls[0]!.path).toBe('/v1.41/containers/json');
  });

  it('refuses a params value that is not an object', async () => {
    const { docker } = client();
    await rejection(docker.api.ContainerList('all' as never));
    await rejection(docker.containers.inspect('x', 'y' as never));
  });

  it('refuses an unknown operation name', async () => {
    const { docker } = client();
    const api = docker.api as unknown as Record<string, unknown>;
    expect(api.NoSuchOperation).toBeUndefined();
  });
});

describe('client options', () => {
  it('refuses hosts it cannot use', () => {
    for (const host of ['ftp://x', 'unix://relative.sock', 'tcp://h:99999', 'garbage', 'tcp://h:1\r\n']) {
      expect(() => new Docker({ host })).toThrow(ValidationError);
    }
  });

  it('reads DOCKER_HOST from the environment and defaults to the system socket', () => {
    expect(new Docker({ env: {} }).address).toBe('unix:///var/run/docker.sock');
    expect(new Docker({ env: { DOCKER_HOST: 'tcp://10.0.0.1' } }).address).toBe('tcp://10.0.0.1:2375');
    expect(new Docker({ env: { DOCKER_HOST: 'tcp://10.0.0.1' }, host: 'unix:///run/x.sock' }).address).toBe('unix:///run/x.sock');
    expect(new Docker({ host: 'tcp://h', tls: {} }).address).toBe('tcp://h:2376');
    expect(new Docker({ host: 'https://[::1]:3000' }).address).toBe('https://[::1]:3000');
  });
});

describe('parameters required in some versions only', () => {
  it('asks for the one the version in use has (GetPluginPrivileges: name until 1.26, remote from 1.27)', async () => {
    const transport = new FakeTransport(() => json([]));
    const d41 = new Docker({ transport, apiVersion: '1.41' });
    await d41.plugins.privileges({ remote: 'x/plugin' });
    await expect(d41.plugins.privileges({})).rejects.toMatchObject({ name: 'ValidationError', parameter: 'remote' });
    await expect(d41.plugins.privileges({ name: 'x/plugin' })).rejects.toMatchObject({ name: 'ApiVersionError', parameter: 'name' });
    const d26 = new Docker({ transport, apiVersion: '1.26' });
    await d26.plugins.privileges({ name: 'x/plugin' });
    await expect(d26.plugins.privileges({})).rejects.toMatchObject({ name: 'ValidationError', parameter: 'name' });
    expect(transport.calls.map((c) => c.path)).toEqual(['/v1.41/plugins/privileges?remote=x%2Fplugin', '/v1.26/plugins/privileges?name=x%2Fplugin']);
  });
});
