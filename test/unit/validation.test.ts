import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Docker, ValidationError } from '../../src/index.js';
import { readConfigFile } from '../../src/config/docker-config.js';
import { describeValue, isSecretName } from '../../src/errors.js';
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

describe('credentials never appear in an error', () => {
  /** The error's message, its string form and what util.inspect shows (stack, cause, fields). */
  function everything(err: unknown): string {
    return `${(err as Error).message}\n${String(err)}\n${inspect(err, { depth: 5 })}`;
  }

  it('login with a password where the auth object goes', async () => {
    const { transport, docker } = client();
    const err = await rejection(docker.system.login('S3cr3tP@ss' as never));
    expect(err.parameter).toBe('authConfig');
    expect(err.message).toBe('SystemAuth: parameter "authConfig" must be an object (sent as JSON), not a string (value not shown)');
    expect(everything(err)).not.toContain('S3cr3tP@ss');
    // the whole params object given as the password
    expect(everything(await rejection(docker.api.SystemAuth('S3cr3tP@ss' as never)))).not.toContain('S3cr3tP@ss');
    expect(transport.requests).toHaveLength(0);
  });

  it('push with a bad X-Registry-Auth value', async () => {
    const { transport, docker } = client();
    const number = await rejection(docker.images.push('me/app', { auth: 31415926535 as never }).wait());
    expect(number.parameter).toBe('X-Registry-Auth');
    expect(number.message).toMatch(/"X-Registry-Auth" must be a string or an object \(sent as JSON\), not a number \(value not shown/);
    expect(everything(number)).not.toContain('31415926535');
    const injected = await rejection(docker.api.ImagePush({ name: 'me/app', 'X-Registry-Auth': 'S3cr3tP@ss\r\nX-Evil: 1' }));
    expect(everything(injected)).not.toContain('S3cr3tP@ss');
    const config = await rejection(docker.api.ImageBuild({ 'X-Registry-Config': 27182818284 as never }));
    expect(everything(config)).not.toContain('27182818284');
    expect(transport.calls).toHaveLength(0);
  });

  it('SecretCreate with a wrong-typed Data or body', async () => {
    const { transport, docker } = client();
    const data = await rejection(docker.secrets.create({ body: { Name: 'db', Data: 1234567890123 as never } }));
    expect(data).toMatchObject({ parameter: 'body', operationId: 'SecretCreate' });
    expect(data.message).toMatch(/field "Data" must be a base64 string .*not a number \(value not shown/);
    expect(everything(data)).not.toContain('1234567890123');
    const buffer = await rejection(docker.secrets.create({ body: { Name: 'db', Data: Buffer.from('S3cr3tP@ss') as never } }));
    expect(buffer.message).toMatch(/not a Buffer/);
    expect(everything(buffer)).not.toContain('S3cr3tP@ss');
    const body = await rejection(docker.secrets.create({ body: 'S3cr3tP@ss' as never }));
    expect(everything(body)).not.toContain('S3cr3tP@ss');
    // a config's Data is checked too (not a secret: its value may be shown)
    expect((await rejection(docker.configs.create({ body: { Name: 'c', Data: 42 as never } }))).message).toMatch(/field "Data" must be a base64 string.*not number 42/);
    expect(transport.calls).toHaveLength(0);
    // a right Data passes
    await docker.secrets.create({ body: { Name: 'db', Data: Buffer.from('S3cr3tP@ss').toString('base64') } });
    expect(transport.calls).toHaveLength(1);
  });

  it('a host URL with a password', () => {
    const err = (() => {
      try {
        new Docker({ env: { DOCKER_HOST: 'tcp://me:S3cr3tP@ss@10.0.0.1:2375' } });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain('host "tcp://me:***@10.0.0.1:2375"');
    expect(everything(err)).not.toContain('S3cr3tP');
    expect(everything(err)).not.toContain('ss@');
  });

  it("config.json that does not parse: V8's quote of the text around the error is left out", () => {
    const dir = mkdtempSync(join(tmpdir(), 'dockhand-secret-'));
    try {
      writeFileSync(join(dir, 'config.json'), '{"auths":{"r":{"x":tru,"auth":"c2VjcmV0OnBhc3M="}}}');
      let err: unknown;
      try {
        readConfigFile({ DOCKER_CONFIG: dir });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      // the parser's own words differ by runtime (V8: "Unexpected token", Bun: "JSON Parse error")
      expect((err as Error).message).toMatch(/config\.json is not valid JSON: /);
      expect(everything(err)).not.toContain('"auth');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one helper shows values, and hides those of credential names', () => {
    for (const name of ['password', 'authConfig', 'X-Registry-Auth', 'X-Registry-Config', 'identitytoken', 'RegistryToken', 'secret', 'credentials', 'UnlockKey']) {
      expect(isSecretName(name)).toBe(true);
    }
    for (const name of ['all', 'author', 'filters', 'name', 'since']) expect(isSecretName(name)).toBe(false);
    expect(describeValue('abc')).toBe('string "abc"');
    expect(describeValue('abc', true)).toBe('a string (value not shown)');
    expect(describeValue(12, true)).toBe('a number (value not shown)');
    expect(describeValue(true, true)).toBe('boolean true');
    expect(describeValue(10n)).toBe('bigint 10');
    expect(describeValue('x'.repeat(100))).toBe(`string "${'x'.repeat(64)}…"`);
    expect(describeValue(Buffer.from('a'))).toBe('a Buffer');
  });
});
