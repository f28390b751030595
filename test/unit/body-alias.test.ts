/**
 * One body name in the friendly groups: every JSON body goes under `body` as well as under its spec
 * name (`networkConfig`, `execConfig`, `volumeConfig`, `container`, `update`, `authConfig`,
 * `containerConfig`); what is sent is the same either way; both at once is a ValidationError.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Docker, OPERATIONS, ValidationError, type NetworksApi, type OperationId } from '../../src/index.js';
import { FRIENDLY } from '../../src/generated/friendly.js';
import { FakeTransport, json, type Recorded } from '../support/fake-transport.js';

function client(): { transport: FakeTransport; docker: Docker } {
  const transport = new FakeTransport(() => json({ Id: 'x', Warning: '' }, 201));
  return { transport, docker: new Docker({ transport, apiVersion: '1.41' }) };
}

/** What reached the engine: method, path and body of every call. */
const sent = (calls: Recorded[]): Array<[string, string, unknown]> => calls.map((r) => [r.method, r.path, r.bodyText === undefined ? undefined : JSON.parse(r.bodyText)]);

/** The same call made with the spec name and with `body`: the same requests. */
async function same(spec: (d: Docker) => Promise<unknown>, alias: (d: Docker) => Promise<unknown>): Promise<Array<[string, string, unknown]>> {
  const a = client();
  const b = client();
  await spec(a.docker);
  await alias(b.docker);
  expect(sent(b.transport.calls)).toEqual(sent(a.transport.calls));
  expect(a.transport.calls.length).toBeGreaterThan(0);
  return sent(b.transport.calls);
}

describe('the body alias', () => {
  it('networks.create({ body }) sends what { networkConfig } sends', async () => {
    const requests = await same(
      (d) => d.networks.create({ networkConfig: { Name: 'n', Labels: { a: 'b' } } }),
      (d) => d.networks.create({ body: { Name: 'n', Labels: { a: 'b' } } }),
    );
    expect(requests).toEqual([['POST', '/v1.41/networks/create', { Name: 'n', Labels: { a: 'b' } }]]);
  });

  it('with path parameters: exec.create, networks.connect, containers.update', async () => {
    expect(
      await same(
        (d) => d.exec.create('c1', { execConfig: { Cmd: ['ls'], AttachStdout: true } }),
        (d) => d.exec.create('c1', { body: { Cmd: ['ls'], AttachStdout: true } }),
      ),
    ).toEqual([['POST', '/v1.41/containers/c1/exec', { Cmd: ['ls'], AttachStdout: true }]]);
    expect(
      await same(
        (d) => d.networks.connect('net', { container: { Container: 'c1' } }),
        (d) => d.networks.connect('net', { body: { Container: 'c1' } }),
      ),
    ).toEqual([['POST', '/v1.41/networks/net/connect', { Container: 'c1' }]]);
    expect(
      await same(
        (d) => d.containers.update('c1', { update: { Memory: 1 << 26 } }),
        (d) => d.containers.update('c1', { body: { Memory: 1 << 26 } }),
      ),
    ).toEqual([['POST', '/v1.41/containers/c1/update', { Memory: 1 << 26 }]]);
  });

  it('volumes.create and images.commit (an optional body)', async () => {
    await same(
      (d) => d.volumes.create({ volumeConfig: { Name: 'v' } }),
      (d) => d.volumes.create({ body: { Name: 'v' } }),
    );
    await same(
      (d) => d.images.commit({ container: 'c1', containerConfig: { Env: ['A=1'] } }),
      (d) => d.images.commit({ container: 'c1', body: { Env: ['A=1'] } }),
    );
  });

  it('operations whose spec name is already `body` are unchanged (containers.create)', async () => {
    const { transport, docker } = client();
    await docker.containers.create({ name: 'x', body: { Image: 'busybox' } });
    expect(sent(transport.calls)).toEqual([['POST', '/v1.41/containers/create?name=x', { Image: 'busybox' }]]);
  });

  it('the body validator checks an aliased body as its own: field errors name the spec name', async () => {
    const { transport, docker } = client();
    const err = await docker.networks.create({ body: { Name: 'n', Drivr: 'bridge' } as never }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/networkConfig\.Drivr is not a field .*did you mean Driver\?/);
    expect(transport.calls).toEqual([]);
  });

  it('both names in one call: ValidationError, nothing sent', async () => {
    const { transport, docker } = client();
    const err = await docker.networks
      .create({ body: { Name: 'a' }, networkConfig: { Name: 'b' } } as never)
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ parameter: 'body', operationId: 'NetworkCreate' });
    expect((err as Error).message).toBe('networks.create: give the body as `body` or as `networkConfig`, not both');
    expect(transport.calls).toEqual([]);
  });

  it('every friendly method with a JSON body named otherwise takes `body` (the table, not a list)', () => {
    const aliased: string[] = [];
    for (const [group, methods] of Object.entries(FRIENDLY)) {
      for (const [method, [id]] of Object.entries(methods)) {
        const body = OPERATIONS[id as OperationId].params.find((p) => p.in === 'body' && p.type === 'object');
        if (body && body.name !== 'body') aliased.push(`${group}.${method}:${body.name}`);
      }
    }
    expect(aliased.sort()).toEqual(
      [
        'containers.update:update',
        'exec.create:execConfig',
        'exec.start:execStartConfig',
        'images.commit:containerConfig',
        'networks.connect:container',
        'networks.create:networkConfig',
        'networks.disconnect:container',
        'system.auth:authConfig',
        'volumes.create:volumeConfig',
      ].sort(),
    );
  });

  it('types: either name is accepted, both is a compile error (checked by tsc)', () => {
    type CreateParams = Parameters<NetworksApi['create']>[0];
    expectTypeOf<{ body: { Name: string } }>().toMatchTypeOf<CreateParams>();
    expectTypeOf<{ networkConfig: { Name: string } }>().toMatchTypeOf<CreateParams>();
    expectTypeOf<{ body: { Name: string }; networkConfig: { Name: string } }>().not.toMatchTypeOf<CreateParams>();
    // a required body is required under one of its names
    expectTypeOf<{ checkDuplicate?: boolean }>().not.toMatchTypeOf<CreateParams>();
  });
});
