import { describe, expect, it } from 'vitest';
import { bodyTable, buildBodyModel } from '../../scripts/generate/body-schema.js';
import type { SpecFile } from '../../scripts/generate/model.js';
import { ApiVersionError, Docker, ValidationError } from '../../src/index.js';
import { FakeTransport, json } from '../support/fake-transport.js';

/** A spec with one operation, ThingCreate, whose body is `body`, and these definitions. */
function spec(version: string, definitions: Record<string, object>, body: object = { $ref: '#/definitions/Thing' }): SpecFile {
  return {
    version,
    spec: {
      definitions,
      paths: { '/things/create': { post: { operationId: 'ThingCreate', parameters: [{ name: 'body', in: 'body', schema: body }], responses: { 201: {} } } } },
    },
  };
}

const compile = (specs: SpecFile[], undocumented: Record<string, Record<string, string>> = {}) =>
  bodyTable(buildBodyModel(specs), specs.map((s) => s.version), undocumented);

describe('compiling bodies from the specs (the generator step)', () => {
  it('gives each field the first and last version that has it, relative to its type', () => {
    const thing = (props: object) => ({ Thing: { type: 'object', description: 'PROSE', properties: props } });
    const table = compile([
      spec('1.25', thing({ Name: { type: 'string' }, Old: { type: 'integer' } })),
      spec('1.26', thing({ Name: { type: 'string' }, Old: { type: 'integer' }, New: { type: 'boolean' } })),
      spec('1.27', thing({ Name: { type: 'string' }, New: { type: 'boolean' } })),
    ]);
    expect(table.types).toEqual({ Thing: { Name: 's', New: 'b +1.26', Old: 'i -1.26' } });
    expect(table.roots).toEqual({ ThingCreate: ['body', '@Thing'] });
    expect(JSON.stringify(table)).not.toContain('PROSE');
  });

  it('merges allOf parts, names inline types by where they sit, and keeps renamed definitions as one type', () => {
    const old = { Config: { type: 'object', properties: { Image: { type: 'string' } } } };
    const now = { ContainerConfig: { type: 'object', properties: { Image: { type: 'string' }, Tty: { type: 'boolean' } } } };
    const body = (ref: string) => ({ allOf: [{ $ref: `#/definitions/${ref}` }, { type: 'object', properties: { Host: { type: 'object', properties: { Memory: { type: 'integer' } } } } }] });
    const table = compile([spec('1.25', old, body('Config')), spec('1.26', now, body('ContainerConfig'))]);
    expect(table.roots.ThingCreate).toEqual(['body', '@ThingCreateBody']);
    expect(table.types).toEqual({ ThingCreateBody: { Host: '@ThingCreateBody.Host', Image: 's', Tty: 'b +1.26' }, 'ThingCreateBody.Host': { Memory: 'i' } });
  });

  it('gives enum values added later their own version, maps and arrays their item shapes, required fields their mark', () => {
    const thing = (types: string[], required: string[]) => ({
      Thing: {
        type: 'object',
        required,
        properties: {
          Type: { type: 'string', enum: types },
          Labels: { type: 'object', additionalProperties: { type: 'string' } },
          Mounts: { type: 'array', items: { $ref: '#/definitions/Mount' } },
          Free: { type: 'object' },
        },
      },
      Mount: { type: 'object', properties: { Target: { type: 'string' } } },
    });
    const table = compile([spec('1.25', thing(['bind', 'gone'], [])), spec('1.26', thing(['bind', 'image'], ['Type']))]);
    expect(table.types.Thing).toEqual({ Free: 'o', Labels: '{s', Mounts: '[@Mount', Type: '=bind|image+1.26|gone-1.25 !1.26' });
  });

  it('merges undocumented fields, and refuses one the specs have', () => {
    const defs = { Thing: { type: 'object', properties: { Mode: { type: 'string', enum: ['a'] } } } };
    expect(compile([spec('1.25', defs)], { Thing: { Extra: 'b', Mode: '=' } }).types.Thing).toEqual({ Extra: 'b', Mode: '=a|' });
    expect(() => compile([spec('1.25', defs)], { Thing: { Mode: 's' } })).toThrow(/in the specs now/);
  });
});

function client(apiVersion = '1.41', validate?: 'full' | 'params') {
  const transport = new FakeTransport(() => json({ Id: 'c1', Warnings: [] }, 201));
  return { transport, docker: new Docker({ transport, apiVersion, ...(validate ? { validate } : {}) }) };
}

async function refusal(p: Promise<unknown>): Promise<ValidationError | ApiVersionError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toSatisfy((e) => e instanceof ValidationError || e instanceof ApiVersionError);
  return err as ValidationError | ApiVersionError;
}

const create = (docker: Docker, body: object) => docker.api.ContainerCreate({ body: body as never });

describe('JSON bodies, checked against the API version in use', () => {
  it('names an unknown field by its full path, with the field meant', async () => {
    const { transport, docker } = client();
    const err = await refusal(create(docker, { Image: 'x', HostConfig: { Memroy: 1 } }));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toBe('ContainerCreate: body.HostConfig.Memroy is not a field of HostConfig (did you mean Memory?)');
    expect(err.parameter).toBe('body.HostConfig.Memroy');
    expect((await refusal(create(docker, { image: 'x' }))).message).toMatch(/body\.image is not a field of ContainerCreateBody \(did you mean Image\?\)/);
    expect((await refusal(create(docker, { Image: 'x', Zzzzzz: 1 }))).message).toBe('ContainerCreate: body.Zzzzzz is not a field of ContainerCreateBody');
    expect(transport.requests).toHaveLength(0);
  });

  it('refuses a field the version in use lacks, naming the version that added it or last had it', async () => {
    const { transport, docker } = client('1.41');
    const added = await refusal(create(docker, { Image: 'x', HostConfig: { Annotations: { a: 'b' } } }));
    expect(added).toBeInstanceOf(ApiVersionError);
    expect(added.message).toBe('ContainerCreate: body.HostConfig.Annotations requires API >= 1.43; the API version in use is 1.41');
    expect(added).toMatchObject({ parameter: 'body.HostConfig.Annotations', required: '>= 1.43', current: '1.41', operationId: 'ContainerCreate' });
    const later = client('1.45');
    const dropped = await refusal(create(later.docker, { Image: 'x', HostConfig: { KernelMemory: 1 } }));
    expect(dropped).toMatchObject({ parameter: 'body.HostConfig.KernelMemory', required: '<= 1.41', current: '1.45' });
    expect(dropped.message).toBe('ContainerCreate: body.HostConfig.KernelMemory requires API <= 1.41; the API version in use is 1.45');
    expect(transport.requests).toHaveLength(0);
    expect(later.transport.requests).toHaveLength(0);
  });

  it('checks the version negotiated with the engine, once it is known', async () => {
    const transport = new FakeTransport(() => json({ Id: 'c1' }, 201), '1.41');
    const docker = new Docker({ transport });
    const err = await refusal(create(docker, { Image: 'x', HostConfig: { Annotations: {} } }));
    expect(err).toMatchObject({ current: '1.41', required: '>= 1.43' });
    expect(transport.calls).toHaveLength(0); // only the negotiation's /_ping went out
    await create(docker, { Image: 'x', HostConfig: { Memory: 1 } });
    expect(transport.calls).toHaveLength(1);
  });

  it('checks enums in nested objects and arrays of objects, and enum values by version', async () => {
    const { transport, docker } = client('1.41');
    const bad = await refusal(create(docker, { Image: 'x', HostConfig: { Mounts: [{ Type: 'bind', Target: '/a' }, { Type: 'bnd', Target: '/b' }] } }));
    expect(bad.message).toBe('ContainerCreate: body.HostConfig.Mounts[1].Type must be one of "bind", "npipe", "tmpfs", "volume", not string "bnd" (did you mean "bind"?)');
    const later = await refusal(create(docker, { Image: 'x', HostConfig: { Mounts: [{ Type: 'image', Target: '/i' }] } }));
    expect(later).toBeInstanceOf(ApiVersionError);
    expect(later.message).toBe('ContainerCreate: body.HostConfig.Mounts[0].Type "image" requires API >= 1.48; the API version in use is 1.41');
    const wrongItem = await refusal(create(docker, { Image: 'x', HostConfig: { Mounts: [{ Target: 3 }] } }));
    expect(wrongItem.message).toBe('ContainerCreate: body.HostConfig.Mounts[0].Target must be a string, not number 3');
    expect((await refusal(create(docker, { Image: 'x', HostConfig: { Mounts: { Target: '/a' } } }))).message).toMatch(/Mounts must be an array, not an object/);
    expect(transport.requests).toHaveLength(0);
  });

  it('checks maps: a label value must be a string', async () => {
    const { transport, docker } = client();
    const err = await refusal(create(docker, { Image: 'x', Labels: { 'com.example.ok': 'yes', 'com.example.n': 3 } }));
    expect(err.message).toBe('ContainerCreate: body.Labels["com.example.n"] must be a string, not number 3');
    expect(err.parameter).toBe('body.Labels["com.example.n"]');
    expect((await refusal(create(docker, { Image: 'x', Labels: ['a=b'] }))).message).toMatch(/body\.Labels must be an object \(a map\), not an array/);
    expect(transport.requests).toHaveLength(0);
  });

  it('checks types: integers, booleans, strings, objects', async () => {
    const { docker } = client();
    expect((await refusal(create(docker, { Image: 'x', HostConfig: { Memory: '1g' } }))).message).toBe('ContainerCreate: body.HostConfig.Memory must be an integer, not string "1g"');
    expect((await refusal(create(docker, { Image: 'x', HostConfig: { Memory: 1.5 } }))).message).toMatch(/must be an integer, not number 1\.5/);
    expect((await refusal(create(docker, { Image: 'x', Tty: 'true' }))).message).toMatch(/body\.Tty must be a boolean/);
    expect((await refusal(create(docker, { Image: 'x', HostConfig: [] }))).message).toMatch(/body\.HostConfig must be an object \(HostConfig\), not an array/);
    // int64 fields take integers beyond 2^53: JSON carries them as written
    await create(docker, { Image: 'x', HostConfig: { Memory: 2 ** 60 } });
  });

  it('accepts null for any field (Go decodes null as absent), and leaves undefined out', async () => {
    const { transport, docker } = client();
    await create(docker, { Image: 'x', Labels: null, Cmd: null, Tty: null, HostConfig: { Devices: null, Memory: null, RestartPolicy: null, Mounts: [null] }, NetworkingConfig: null, Nope: undefined });
    expect(transport.calls).toHaveLength(1);
  });

  it('merges allOf: ContainerCreate takes the fields of ContainerConfig and HostConfig beside them', async () => {
    const { transport, docker } = client();
    await create(docker, { Image: 'x', Cmd: ['true'], Env: ['A=1'], HostConfig: { Binds: ['/a:/b'] }, NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['a'] } } } });
    expect(transport.calls).toHaveLength(1);
    const update = await refusal(docker.api.ContainerUpdate({ id: 'c1', update: { Memory: 1, RestartPolicy: { Name: 'sometimes' } } as never }));
    expect(update.message).toMatch(/^ContainerUpdate: update\.RestartPolicy\.Name must be one of "", "no", "always", "unless-stopped", "on-failure", not string "sometimes"/);
  });

  it('checks required fields, where the version in use requires them', async () => {
    const { docker } = client('1.41');
    expect((await refusal(docker.api.NetworkCreate({ networkConfig: { Driver: 'bridge' } as never }))).message).toBe('NetworkCreate: networkConfig.Name is missing; NetworkCreateRequest requires it');
    // NetworkConnect's Container is required from 1.52 only
    await docker.api.NetworkConnect({ id: 'n', container: { EndpointConfig: {} } as never });
    const newer = client('1.52');
    expect((await refusal(newer.docker.api.NetworkConnect({ id: 'n', container: {} as never }))).parameter).toBe('container.Container');
  });

  it('checks every JSON body: exec, volumes, swarm, plugins, secrets', async () => {
    const { transport, docker } = client('1.41');
    expect((await refusal(docker.api.ContainerExec({ id: 'c', execConfig: { Cmd: 'ls' } as never }))).message).toBe('ContainerExec: execConfig.Cmd must be an array, not string "ls"');
    expect((await refusal(docker.api.VolumeCreate({ volumeConfig: { Name: 'v', DriverOpt: {} } as never }))).message).toMatch(/did you mean DriverOpts\?/);
    expect((await refusal(docker.api.SwarmInit({ body: { ListenAddr: '0.0.0.0', Spec: { Raft: { SnapshotInterval: 'x' } } } as never }))).parameter).toBe('body.Spec.Raft.SnapshotInterval');
    expect((await refusal(docker.api.PluginSet({ name: 'p', body: ['A=1', 2] as never }))).message).toBe('PluginSet: body[1] must be a string, not number 2');
    expect((await refusal(docker.api.ServiceCreate({ body: { TaskTemplate: { ContainerSpec: { Mounts: [{ Type: 'volume', Readonly: true }] } } } as never }))).message).toMatch(/body\.TaskTemplate\.ContainerSpec\.Mounts\[0\]\.Readonly is not a field of Mount \(did you mean ReadOnly\?\)/);
    expect((await refusal(docker.api.NodeUpdate({ id: 'n', version: 1, body: { Role: 'boss' } as never }))).parameter).toBe('body.Role');
    expect(transport.requests).toHaveLength(0);
  });

  it('never shows a credential', async () => {
    const { docker } = client('1.41');
    const auth = await refusal(docker.api.SystemAuth({ authConfig: { username: 'me', password: 1234 } as never }));
    expect(auth.message).toBe('SystemAuth: authConfig.password must be a string, not a number (value not shown)');
    const join = await refusal(docker.api.SwarmJoin({ body: { ListenAddr: 'a', RemoteAddrs: ['b'], JoinToken: 77 } as never }));
    expect(join.message).not.toContain('77');
  });

  it("validate: 'params' checks top-level parameters only (an engine newer than dockhand's specs, a fork's fields)", async () => {
    const { transport, docker } = client('1.41', 'params');
    await create(docker, { Image: 'x', HostConfig: { Memroy: 1, Annotations: { a: 'b' }, Mounts: [{ Type: 'image' }] }, Labels: { n: 3 } });
    expect(transport.calls).toHaveLength(1);
    expect(JSON.parse(transport.calls[0]!.bodyText!).HostConfig.Memroy).toBe(1);
    // top-level parameters are still checked
    expect((await refusal(docker.api.ContainerCreate({ body: { Image: 'x' }, nmae: 'x' } as never))).parameter).toBe('nmae');
    expect(() => new Docker({ transport, validate: 'none' as never })).toThrow(/option "validate" must be 'full'/);
  });
});
