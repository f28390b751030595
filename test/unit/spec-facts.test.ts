import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatJson, specFacts } from '../../scripts/spec-facts.js';

const specDir = join(import.meta.dirname, '../../spec');
// sorted: readdir order is the file system's (and Bun's), not alphabetical
const files = readdirSync(specDir).filter((f) => /^v\d+\.\d+\.json$/.test(f)).sort();
const version = (f: string): string => /^v(\d+\.\d+)\.json$/.exec(f)![1]!;
const minor = (f: string): number => Number(version(f).split('.')[1]);
const specs: Array<[string, any]> = files.map((f) => [f, JSON.parse(readFileSync(join(specDir, f), 'utf8'))]);

// Objects whose keys are names (a property, definition, path, status code or header may be called
// `description`); objects whose content is data (enum members, defaults, Go types, required lists).
const NAME_MAPS = new Set(['properties', 'definitions', 'paths', 'responses', 'headers', 'parameters', 'securityDefinitions']);
const DATA = new Set(['enum', 'default', 'x-go-type', 'required']);
const PROSE = ['description', 'summary', 'example', 'examples', 'externalDocs', 'x-logo', 'x-example'];

/** Every key in a keyword position, with its path. */
function keywordKeys(value: unknown, path: string, names: boolean, out: Array<[string, string]>): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => keywordKeys(v, `${path}[${i}]`, false, out));
    return;
  }
  if (!value || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (!names) out.push([k, path]);
    if (!names && DATA.has(k)) continue;
    keywordKeys(v, `${path}/${k}`, !names && NAME_MAPS.has(k) && !Array.isArray(v), out);
  }
}

function strings(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => strings(v, out));
}

describe('spec/: the facts-only copy of the specs', () => {
  it('has the 31 versions 1.25–1.55, with the sources, license and notice beside them', () => {
    expect(files.map(version)).toEqual(Array.from({ length: 31 }, (_, i) => `1.${25 + i}`));
    const sources = readFileSync(join(specDir, 'SOURCES.md'), 'utf8');
    for (const f of files) expect(sources).toContain(`| \`${f}\` | \`api/docs/v${version(f)}.yaml\` |`);
    expect(sources).toContain('b985e2313a8676e18072b442911fc8f64f17d440');
    const sha = (name: string): string => createHash('sha256').update(readFileSync(join(specDir, name))).digest('hex');
    expect(sources).toContain(sha('LICENSE'));
    expect(sources).toContain(sha('NOTICE'));
    expect(readFileSync(join(specDir, 'LICENSE'), 'utf8')).toContain('Apache License');
    expect(readFileSync(join(specDir, 'NOTICE'), 'utf8')).toContain('Docker, Inc.');
  });

  it.each(specs)('%s keeps no prose keyword', (_f, spec) => {
    const keys: Array<[string, string]> = [];
    keywordKeys(spec, '', false, keys);
    expect(keys.length).toBeGreaterThan(1000);
    expect(keys.filter(([k]) => PROSE.includes(k))).toEqual([]);
    // Only the keywords scripts/spec-facts.ts keeps: a new one (an x- extension with text) would show here.
    const x = new Set(keys.map(([k]) => k).filter((k) => k.startsWith('x-')));
    for (const k of x) expect(['x-nullable', 'x-omitempty', 'x-go-name', 'x-go-type', 'x-go-package', 'x-displayName']).toContain(k);
  });

  it.each(specs)('%s holds no sentence: every string is short, one line, at most three words', (_f, spec) => {
    const all: string[] = [];
    strings(spec, all);
    expect(all.length).toBeGreaterThan(1000);
    const prose = all.filter((s) => s.length > 100 || /\n/.test(s) || /[.:;!?] [A-Z]/.test(s) || s.trim().split(/\s+/).length > 3);
    expect(prose).toEqual([]);
  });

  it.each(specs)('%s carries the facts the generator reads', (f, spec) => {
    const v = minor(f);
    expect(spec.swagger).toBe('2.0');
    expect(spec.info).toEqual({ title: 'Docker Engine API', version: version(f) });
    expect(spec.basePath).toBe(`/v${version(f)}`);
    // operationIds: the counts SOURCES.md gives per version.
    const ids = Object.values<Record<string, { operationId?: string }>>(spec.paths).flatMap((item) => Object.values(item).map((op) => op.operationId).filter(Boolean));
    const count = v <= 25 ? 94 : v <= 28 ? 96 : v === 29 ? 97 : v === 30 ? 103 : v <= 39 ? 105 : v <= 41 ? 106 : v <= 54 ? 107 : 108;
    expect(ids).toHaveLength(count);
    // ContainerCreate: body schema refs, required body, content types, response status codes.
    const create = spec.paths['/containers/create'].post;
    expect(create.operationId).toBe('ContainerCreate');
    expect(create.consumes).toEqual(['application/json', 'application/octet-stream']);
    const body = create.parameters.find((p: { in: string }) => p.in === 'body');
    expect(body).toMatchObject({ name: 'body', in: 'body', required: true });
    const config = v < 30 ? 'Config' : 'ContainerConfig';
    expect(body.schema.allOf[0]).toEqual({ $ref: `#/definitions/${config}` });
    expect(body.schema.allOf[1].properties.HostConfig).toEqual({ $ref: '#/definitions/HostConfig' });
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '400', '404', '409', '500']));
    // x-nullable, an enum, a default, a query parameter with its type.
    expect(spec.definitions[config].properties.StopTimeout).toMatchObject({ type: 'integer', 'x-nullable': true });
    expect(spec.definitions.RestartPolicy.properties.Name.enum).toEqual(expect.arrayContaining(['always', 'unless-stopped', 'on-failure']));
    const list = spec.paths['/containers/json'].get;
    expect(list.parameters.find((p: { name: string }) => p.name === 'all')).toEqual({ name: 'all', in: 'query', type: 'boolean', default: false });
    expect(list.parameters.find((p: { name: string }) => p.name === 'filters')).toEqual({ name: 'filters', in: 'query', type: 'string' });
    expect(spec.definitions.Resources.properties.BlkioWeight).toEqual({ type: 'integer', minimum: 0, maximum: 1000 });
    // A property named `description` is a field name, not prose: kept.
    const search = spec.paths['/images/search'].get.responses['200'].schema.items;
    expect(search.properties.description).toEqual({ type: 'string' });
    // Responses without a schema keep their status code.
    expect(spec.paths['/containers/{id}/start'].post.responses['204']).toEqual({});
  });

  it('writes lines of at most 100 columns', () => {
    for (const f of files) {
      const long = readFileSync(join(specDir, f), 'utf8').split('\n').filter((l) => l.length > 100);
      expect(long, f).toEqual([]);
    }
  });
});

describe('scripts/spec-facts.ts', () => {
  const upstream = {
    swagger: '2.0',
    basePath: '/v1.99',
    info: { title: 'Docker Engine API', version: '1.99', 'x-logo': { url: 'https://example.invalid/logo.png' }, description: 'The Engine API. Long text.' },
    tags: [{ name: 'Thing', 'x-displayName': 'Things', description: 'Things are things.' }],
    definitions: {
      description: { type: 'string', description: 'A definition named description.', example: 'x' },
      Thing: {
        type: 'object',
        title: 'Thing',
        description: 'PROSE',
        required: ['description'],
        example: { description: 'PROSE' },
        properties: {
          description: { type: 'string', description: 'PROSE', 'x-nullable': true },
          summary: { type: 'string', enum: ['a. B', 'c'], default: 'c', 'x-go-name': 'Summary' },
          Items: { type: 'array', items: { $ref: '#/definitions/description', description: 'PROSE' }, example: ['PROSE'] },
        },
      },
    },
    paths: {
      '/things/{id}': {
        get: {
          summary: 'PROSE',
          description: 'PROSE',
          operationId: 'ThingInspect',
          externalDocs: { url: 'https://example.invalid' },
          parameters: [{ name: 'id', in: 'path', required: true, type: 'string', description: 'PROSE' }],
          responses: {
            200: { description: 'PROSE', schema: { $ref: '#/definitions/Thing' }, examples: { 'application/json': { description: 'PROSE' } } },
            204: { description: 'PROSE', headers: { description: { type: 'string', description: 'PROSE' } } },
          },
        },
      },
    },
  };

  it('drops prose in keyword positions and keeps names, data and facts, in upstream order', () => {
    expect(specFacts(upstream)).toEqual({
      swagger: '2.0',
      basePath: '/v1.99',
      info: { title: 'Docker Engine API', version: '1.99' },
      tags: [{ name: 'Thing', 'x-displayName': 'Things' }],
      definitions: {
        description: { type: 'string' },
        Thing: {
          type: 'object',
          title: 'Thing',
          required: ['description'],
          properties: {
            description: { type: 'string', 'x-nullable': true },
            summary: { type: 'string', enum: ['a. B', 'c'], default: 'c', 'x-go-name': 'Summary' },
            Items: { type: 'array', items: { $ref: '#/definitions/description' } },
          },
        },
      },
      paths: {
        '/things/{id}': {
          get: {
            operationId: 'ThingInspect',
            parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }],
            responses: { 200: { schema: { $ref: '#/definitions/Thing' } }, 204: { headers: { description: { type: 'string' } } } },
          },
        },
      },
    });
    expect(Object.keys(specFacts(upstream).definitions as object)).toEqual(['description', 'Thing']);
  });

  it('stops at a key it does not know, so a new keyword is classified before it is copied', () => {
    const withNew = { ...upstream, definitions: { Thing: { type: 'string', 'x-deprecation-note': 'Use Other. It is better.' } } };
    expect(() => specFacts(withNew)).toThrow(/unknown key "x-deprecation-note" at definitions\/Thing/);
    expect(() => specFacts({ ...upstream, host: 'localhost', securityDefinitions: {}, mystery: 1 })).toThrow(/unknown key "mystery"/);
    expect(() => specFacts({ openapi: '3.0.0' })).toThrow(/not a swagger 2.0 document/);
  });

  it('refuses integers that JSON.parse could not read exactly', () => {
    expect(() => specFacts({ ...upstream, definitions: { N: { type: 'integer', default: 2 ** 63 } } })).toThrow(/beyond what JSON.parse reads exactly/);
  });

  it('formats JSON that parses back to the same value, short values on one line', () => {
    const facts = specFacts(upstream);
    const text = formatJson(facts);
    expect(JSON.parse(text)).toEqual(facts);
    expect(text).toContain('"200": {"schema":{"$ref":"#/definitions/Thing"}}');
    expect(text.split('\n').every((l) => l.length <= 100)).toBe(true);
    expect(formatJson([])).toBe('[]');
    expect(formatJson({ a: Array.from({ length: 40 }, (_, i) => i) })).toBe(`{\n  "a": [\n${Array.from({ length: 40 }, (_, i) => `    ${i}`).join(',\n')}\n  ]\n}`);
  });
});
