/**
 * The generator's merged types (scripts/generate/merge-types.ts): one type per definition for every
 * API version, fields marked with when they came and went, matched by position and not by name.
 */
import { describe, expect, it } from 'vitest';
import { mergeTypes } from '../../scripts/generate/merge-types.js';
import { buildModel, type SpecFile } from '../../scripts/generate/model.js';
import { schemaToTs } from '../../scripts/generate/schema-to-ts.js';

/** A spec with one operation, ThingInspect, whose 200 answer is `result`. */
function spec(version: string, definitions: Record<string, object>, result: object = { $ref: '#/definitions/Thing' }): SpecFile {
  return {
    version,
    spec: { definitions, paths: { '/things/{id}/json': { get: { operationId: 'ThingInspect', parameters: [], responses: { 200: { schema: result } } } } } },
  };
}

function merged(specs: SpecFile[]) {
  const ops = buildModel(specs);
  const defs = mergeTypes(specs, ops);
  return { defs, result: ops[0]!.resultSchema! };
}

describe('merged result and body types (the generator step)', () => {
  it('keeps fields older versions had, and marks each field with the version that added or removed it', () => {
    const thing = (props: object) => ({ Thing: { type: 'object', properties: props } });
    const { defs } = merged([
      spec('1.25', thing({ Name: { type: 'string' }, IPAddress: { type: 'string' } })),
      spec('1.26', thing({ Name: { type: 'string' }, IPAddress: { type: 'string' }, Networks: { type: 'object' } })),
      spec('1.27', { Thing: { type: 'object', required: ['Networks'], properties: { Name: { type: 'string' }, Networks: { type: 'object' } } } }),
    ]);
    const ts = schemaToTs(defs.Thing);
    expect(ts).toContain('/** @deprecated Removed in API 1.27 */\n  IPAddress?: string;');
    // required in 1.27 but absent in 1.25: optional for code written against 1.25
    expect(ts).toContain('/** @since API 1.26 */\n  Networks?: Record<string, unknown>;');
    expect(ts).toMatch(/^\{\n  Name\?: string;/);
  });

  it('matches older versions by position, not by definition name (1.25 Config is not 1.55 Config)', () => {
    const older = {
      Config: { type: 'object', properties: { Image: { type: 'string' }, MacAddress: { type: 'string' } } },
      Thing: { type: 'object', properties: { Config: { $ref: '#/definitions/Config' } } },
    };
    const newer = {
      ContainerConfig: { type: 'object', properties: { Image: { type: 'string' } } },
      Config: { type: 'object', properties: { Spec: { type: 'object' } } }, // a swarm config, say
      Thing: { type: 'object', properties: { Config: { $ref: '#/definitions/ContainerConfig' } } },
    };
    const { defs } = merged([spec('1.25', older), spec('1.26', newer)]);
    expect(Object.keys(defs.ContainerConfig!.properties)).toEqual(['Image', 'MacAddress']);
    expect(Object.keys(defs.Config!.properties)).toEqual(['Spec']);
  });

  it('adds a dropped field to the allOf part it came from, keeps old enum values, and leaves the specs unchanged', () => {
    const older = {
      Resources: { type: 'object', properties: { Memory: { type: 'integer' }, KernelMemory: { type: 'integer' } } },
      Thing: { allOf: [{ $ref: '#/definitions/Resources' }, { type: 'object', properties: { Mode: { type: 'string', enum: ['a', 'old'] } } }] },
    };
    const newer = {
      Resources: { type: 'object', properties: { Memory: { type: 'integer' } } },
      Thing: { allOf: [{ $ref: '#/definitions/Resources' }, { type: 'object', properties: { Mode: { type: 'string', enum: ['a', 'b'] } } }] },
    };
    const specs = [spec('1.25', older), spec('1.26', newer)];
    const before = JSON.stringify(specs);
    const { defs } = merged(specs);
    expect(Object.keys(defs.Resources!.properties)).toEqual(['Memory', 'KernelMemory']);
    expect(defs.Resources!.properties.KernelMemory['x-dockhand-removed']).toBe('1.26');
    expect(defs.Thing!.allOf[1].properties.Mode.enum).toEqual(['a', 'b', 'old']);
    expect(JSON.stringify(specs)).toBe(before);
  });
});
