import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emit } from '../../scripts/generate/emit.js';
import { buildModel, loadSpecs, type SpecFile } from '../../scripts/generate/model.js';
import { jsonQueryParams, renamedOperations } from '../../scripts/generate/names.js';
import { schemaToTs } from '../../scripts/generate/schema-to-ts.js';
import { API_VERSIONS, OPERATIONS, OPERATION_ALIASES } from '../../src/index.js';
import { versionKey } from '../../src/version.js';

const op = (id: string, params: object[] = [], extra: object = {}) => ({
  operationId: id,
  description: 'PROSE THAT MUST NOT LEAK',
  parameters: params,
  responses: { 200: { description: 'ok', schema: { $ref: '#/definitions/Thing' } } },
  ...extra,
});

function spec(version: string, paths: Record<string, object>): SpecFile {
  return {
    version,
    spec: {
      definitions: {
        Thing: {
          type: 'object',
          description: 'PROSE THAT MUST NOT LEAK',
          required: ['Id'],
          properties: { Id: { type: 'string' }, Note: { type: 'string', 'x-nullable': true }, Kind: { type: 'string', enum: ['a', 'b'] } },
        },
      },
      paths,
    },
  };
}

const small = [
  spec('1.25', {
    '/things/{id}/json': { get: op('ThingInspect', [{ name: 'id', in: 'path', type: 'string', required: true }, { name: 'old', in: 'query', type: 'boolean' }]) },
    '/things/{id}/archive': { head: op('ThingArchiveHead', [{ name: 'id', in: 'path', type: 'string', required: true }]) },
  }),
  spec('1.26', {
    '/things/{id}/json': {
      get: op('ThingInspect', [
        { name: 'id', in: 'path', type: 'string', required: true },
        { name: 'size', in: 'query', type: 'boolean', default: false, description: 'PROSE THAT MUST NOT LEAK' },
      ]),
    },
    '/things/create': { post: op('ThingCreate', [{ name: 'body', in: 'body', required: true, schema: { $ref: '#/definitions/Thing' } }]) },
  }),
];

describe('generator on small specs', () => {
  const model = buildModel(small);
  const byId = Object.fromEntries(model.map((o) => [o.id, o]));

  it('finds the first and last version of operations and parameters', () => {
    expect(byId.ThingInspect).toMatchObject({ method: 'GET', path: '/things/{id}/json', since: '1.25' });
    expect(byId.ThingInspect!.until).toBeUndefined();
    expect(byId.ThingCreate).toMatchObject({ since: '1.26', response: 'json', contentType: 'application/json' });
    expect(byId.ThingArchiveHead).toMatchObject({ since: '1.25', until: '1.25', response: 'head' });
    const params = Object.fromEntries(byId.ThingInspect!.params.map((p) => [p.name, p]));
    expect(params.id).toMatchObject({ in: 'path', required: true, since: '1.25' });
    expect(params.old).toMatchObject({ since: '1.25', until: '1.25' });
    expect(params.size).toMatchObject({ since: '1.26', default: false, type: 'boolean' });
  });

  it('writes types with required, optional, nullable and enum members, and no prose', () => {
    expect(schemaToTs(small[0]!.spec.definitions.Thing)).toBe('{\n  Id: string;\n  Note?: string | null;\n  Kind?: "a" | "b";\n}');
    expect(schemaToTs({ type: 'object', additionalProperties: { type: 'integer' } })).toBe('Record<string, number>');
    expect(schemaToTs({ allOf: [{ $ref: '#/definitions/A' }, { $ref: '#/definitions/B' }] })).toBe('A & B');
    expect(schemaToTs({ type: 'array', items: { type: 'string' }, 'x-nullable': true })).toBe('Array<string> | null');
  });

  it('refuses an operation with no friendly name', () => {
    expect(() => emit(model, small)).toThrow(/no friendly name for Thing/);
  });
});

describe('the generated table', () => {
  const ids = Object.keys(OPERATIONS);

  it('has every operation of the newest spec and the renamed archive aliases', () => {
    expect(ids).toHaveLength(109);
    expect(OPERATION_ALIASES).toEqual({
      ContainerArchiveHead: 'ContainerArchiveInfo',
      ContainerGetArchive: 'ContainerArchive',
      ContainerPutArchive: 'PutContainerArchive',
    });
    expect(API_VERSIONS).toHaveLength(31);
  });

  it('gives each version the operation count of its spec', () => {
    const expected: Record<string, number> = { '1.25': 94, '1.26': 96, '1.28': 96, '1.29': 97, '1.30': 103, '1.31': 105, '1.37': 105, '1.38': 106, '1.39': 106, '1.40': 107, '1.41': 107, '1.42': 108, '1.54': 108, '1.55': 109 };
    for (const [version, count] of Object.entries(expected)) {
      const v = versionKey(version);
      const available = ids.filter((id) => {
        const o = OPERATIONS[id as keyof typeof OPERATIONS];
        return versionKey(o.since) <= v && (!o.until || versionKey(o.until) >= v);
      });
      expect(available, version).toHaveLength(count);
    }
  });

  it('records facts checked by hand against the specs', () => {
    expect(OPERATIONS.ConfigList.since).toBe('1.30');
    expect(OPERATIONS.ImageAttestations.since).toBe('1.55');
    // undocumented in every spec: from scripts/generate/undocumented.ts
    expect(OPERATIONS.BuildCancel).toMatchObject({ method: 'POST', path: '/build/cancel', since: '1.38', response: 'empty' });
    expect(OPERATIONS.BuildCancel.params).toEqual([{ name: 'id', in: 'query', type: 'string', required: true, since: '1.38' }]);
    expect(OPERATIONS.ContainerStart).toMatchObject({ method: 'POST', path: '/containers/{id}/start', response: 'empty' });
    expect(OPERATIONS.ContainerStart.statuses).toContain(304);
    expect(OPERATIONS.ContainerLogs.response).toBe('multiplexed');
    expect(OPERATIONS.ExecStart.response).toBe('hijack');
    expect(OPERATIONS.ImageCreate.response).toBe('jsonStream');
    expect(OPERATIONS.ContainerExport.response).toBe('tar');
    expect(OPERATIONS.SystemPing.response).toBe('text');
    const stop = Object.fromEntries(OPERATIONS.ContainerStop.params.map((p) => [p.name, p]));
    expect(stop.signal).toMatchObject({ in: 'query', type: 'string', since: '1.42' });
    const list = Object.fromEntries(OPERATIONS.ContainerList.params.map((p) => [p.name, p]));
    expect(list.all).toMatchObject({ type: 'boolean', default: false });
    expect(list.filters!.json).toBe(true);
    const df = Object.fromEntries(OPERATIONS.SystemDataUsage.params.map((p) => [p.name, p]));
    expect(df.type!.enum).toEqual(['container', 'image', 'volume', 'build-cache']);
  });

  it('carries no description text from the specs', () => {
    const dir = join(import.meta.dirname, '../../src/generated');
    const text = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    for (const phrase of ['Return all containers', 'Name of the image to pull', 'Only one container can be', 'base64url-encoded auth configuration']) {
      expect(text).not.toContain(phrase);
    }
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8').startsWith('// Generated by scripts/generate')).toBe(true);
  });
});

describe('the generator on spec/ (the facts-only copy in the repository)', () => {
  const specs = loadSpecs(join(import.meta.dirname, '../../spec'));

  it('remakes src/generated byte for byte', () => {
    const files = emit(buildModel(specs), specs);
    const dir = join(import.meta.dirname, '../../src/generated');
    expect(Object.keys(files).sort()).toEqual(readdirSync(dir).sort());
    for (const [name, text] of Object.entries(files)) expect(text === readFileSync(join(dir, name), 'utf8'), name).toBe(true);
  });

  it('lists in jsonQueryParams only string query parameters the specs have', () => {
    const seen = new Set<string>();
    for (const { spec } of specs) {
      for (const item of Object.values<Record<string, { operationId?: string; parameters?: Array<Record<string, unknown>> }>>(spec.paths)) {
        for (const op of Object.values(item)) {
          if (!op.operationId) continue;
          const id = renamedOperations[op.operationId] ?? op.operationId;
          for (const p of op.parameters ?? []) if (p.in === 'query' && p.type === 'string') seen.add(`${id}.${String(p.name)}`);
        }
      }
    }
    const listed = Object.entries(jsonQueryParams).flatMap(([id, names]) => names.map((n) => `${id}.${n}`));
    expect(listed.length).toBe(27);
    expect(listed.filter((k) => !seen.has(k))).toEqual([]);
  });
});
