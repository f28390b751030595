import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Docker, ValidationError } from '../../src/index.js';
import { encodeAuthHeader, encodePathSegment, normalizeFilters } from '../../src/request/encode.js';
import { FakeTransport, json } from '../support/fake-transport.js';

function client(handler = () => json({})) {
  const transport = new FakeTransport(handler);
  return { transport, docker: new Docker({ transport, apiVersion: '1.41' }) };
}

describe('path parameters', () => {
  it('percent-encodes an id so it cannot reach another endpoint', async () => {
    const { transport, docker } = client();
    await docker.containers.inspect('../images/json');
    expect(transport.calls[0]!.path).toBe('/v1.41/containers/..%2Fimages%2Fjson/json');
  });

  it('keeps image names with slashes and tags inside one segment', async () => {
    const { transport, docker } = client();
    await docker.images.inspect('library/busybox:1.36');
    expect(transport.calls[0]!.path).toBe('/v1.41/images/library%2Fbusybox%3A1.36/json');
  });

  it('refuses empty, "." and ".." ids before sending', async () => {
    const { transport, docker } = client();
    for (const id of ['', '.', '..']) {
      await expect(docker.containers.start(id)).rejects.toBeInstanceOf(ValidationError);
    }
    expect(transport.calls).toHaveLength(0);
  });

  it('round-trips any string through one path segment (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'binary' }), (s) => {
        const enc = encodePathSegment(s);
        expect(enc).not.toMatch(/[/?#\s]/);
        expect(decodeURIComponent(enc)).toBe(s);
      }),
    );
  });
});

describe('query parameters', () => {
  it('sends booleans as 1/0, integers as digits, and filters as JSON of lists', async () => {
    const { transport, docker } = client(() => json([]));
    await docker.containers.list({ all: true, size: false, limit: 5, filters: { label: 'a=b', status: ['running', 'exited'] } });
    const url = new URL(transport.calls[0]!.path, 'http://x');
    expect(url.pathname).toBe('/v1.41/containers/json');
    expect(url.searchParams.get('all')).toBe('1');
    expect(url.searchParams.get('size')).toBe('0');
    expect(url.searchParams.get('limit')).toBe('5');
    expect(JSON.parse(url.searchParams.get('filters')!)).toEqual({ label: ['a=b'], status: ['running', 'exited'] });
  });

  it('passes a filters string through untouched', async () => {
    const { transport, docker } = client(() => json([]));
    await docker.images.list({ filters: '{"dangling":["true"]}' });
    expect(new URL(transport.calls[0]!.path, 'http://x').searchParams.get('filters')).toBe('{"dangling":["true"]}');
  });

  it('sends lists as repeated keys, as the engine reads them', async () => {
    const { transport, docker } = client(() => ({ status: 200, body: '' }));
    await docker.api.ImageCreate({ fromSrc: '-', repo: 'x', changes: ['CMD ["/bin/sh"]', 'ENV A=1,2'], inputImage: Buffer.from('') });
    const url = new URL(transport.calls[0]!.path, 'http://x');
    expect(url.searchParams.getAll('changes')).toEqual(['CMD ["/bin/sh"]', 'ENV A=1,2']);
  });

  it('sends a string the engine also reads as a list (build tags) once or repeated', async () => {
    const { transport, docker } = client(() => ({ status: 200, body: '' }));
    await docker.api.ImageBuild({ t: 'one:1' });
    await docker.api.ImageBuild({ t: ['a:1', 'b:2'] });
    const [one, two] = transport.calls.map((c) => new URL(c.path, 'http://x').searchParams);
    expect(one!.getAll('t')).toEqual(['one:1']);
    expect(two!.getAll('t')).toEqual(['a:1', 'b:2']);
    await expect(docker.api.ContainerList({ filters: 3 } as never)).rejects.toMatchObject({ parameter: 'filters' });
  });

  it('encodes JSON-valued strings given as objects (buildargs, labels)', async () => {
    const { transport, docker } = client(() => ({ status: 200, body: '' }));
    await docker.api.ImageBuild({ buildargs: { A: '1' }, labels: { 'x.y': 'z' }, t: 'img:1' });
    const url = new URL(transport.calls[0]!.path, 'http://x');
    expect(JSON.parse(url.searchParams.get('buildargs')!)).toEqual({ A: '1' });
    expect(JSON.parse(url.searchParams.get('labels')!)).toEqual({ 'x.y': 'z' });
    expect(url.searchParams.get('t')).toBe('img:1');
  });

  it('normalises filter values into lists and keeps maps of booleans', () => {
    expect(normalizeFilters({ a: 'x', b: ['y'], c: { z: true }, d: undefined })).toEqual({ a: ['x'], b: ['y'], c: { z: true } });
  });
});

describe('headers and bodies', () => {
  it('sends JSON bodies with their content type', async () => {
    const { transport, docker } = client(() => json({ Id: 'abc', Warnings: [] }, 201));
    const created = await docker.containers.create({ name: 'web', body: { Image: 'x', Cmd: ['true'] } });
    expect(created.Id).toBe('abc');
    const req = transport.calls[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1.41/containers/create?name=web');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.bodyText!)).toEqual({ Image: 'x', Cmd: ['true'] });
  });

  it('encodes an auth object as padded base64url JSON', async () => {
    const auth = { username: 'u', password: 'p?>~', serveraddress: 'localhost:5000' };
    const { transport, docker } = client(() => ({ status: 200, body: '' }));
    await docker.api.ImagePush({ name: 'localhost:5000/x', 'X-Registry-Auth': auth });
    const header = transport.calls[0]!.headers['x-registry-auth']!;
    expect(header).toBe(encodeAuthHeader(auth));
    expect(header).not.toMatch(/[+/]/);
    expect(header.length % 4).toBe(0);
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual(auth);
  });

  it('refuses header values with CR or LF', async () => {
    const { transport, docker } = client();
    await expect(docker.api.ImagePush({ name: 'x', 'X-Registry-Auth': 'abc\r\nX-Evil: 1' })).rejects.toMatchObject({
      name: 'ValidationError',
      parameter: 'X-Registry-Auth',
    });
    expect(transport.calls).toHaveLength(0);
  });

  it('sends uploads as given, with the archive content type', async () => {
    const { transport, docker } = client(() => ({ status: 200, body: '' }));
    const tar = Buffer.alloc(1024);
    await docker.api.PutContainerArchive({ id: 'c1', path: '/tmp', inputStream: tar });
    const req = transport.calls[0]!;
    expect(req.method).toBe('PUT');
    expect(req.body).toBe(tar);
    expect(req.headers['content-type']).toBe('application/x-tar');
    expect(new URL(req.path, 'http://x').searchParams.get('path')).toBe('/tmp');
  });
});

describe('an optional body the engine still wants', () => {
  it('ImageCommit without a body sends {} as JSON (Podman refuses an empty body; Docker takes either)', async () => {
    const { transport, docker } = client(() => json({ Id: 'sha256:' + 'a'.repeat(64) }));
    await docker.api.ImageCommit({ container: 'c1', repo: 'x' });
    const sent = transport.calls[0]!;
    expect(sent.path).toBe('/v1.41/commit?container=c1&repo=x');
    expect(sent.body).toBe('{}');
    expect(sent.headers['content-type']).toBe('application/json');
  });
});
