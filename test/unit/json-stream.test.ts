import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunked } from '../support/chunks.js';
import { StreamFormatError } from '../../src/streams/demux.js';
import { jsonMessages } from '../../src/streams/json-stream.js';

async function parse(chunks: Buffer[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const m of jsonMessages(Readable.from(chunks))) out.push(m);
  return out;
}


const arbMessage = fc.dictionary(
  fc.string({ maxLength: 8 }),
  fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 }), { maxKeys: 3 })),
  { maxKeys: 6 },
);

describe('JSON message streams', () => {
  for (const [name, join] of [
    ['newline-delimited', (ms: unknown[]) => ms.map((m) => `${JSON.stringify(m)}\n`).join('')],
    ['concatenated', (ms: unknown[]) => ms.map((m) => JSON.stringify(m)).join('')],
    ['json-seq', (ms: unknown[]) => ms.map((m) => `\u001e${JSON.stringify(m)}\n`).join('')],
    ['CRLF with blank lines', (ms: unknown[]) => ms.map((m) => `${JSON.stringify(m)}\r\n\r\n`).join('')],
  ] as const) {
    it(`parses ${name} messages however they are chunked (property)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(arbMessage, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), async (messages, cuts) => {
          const bytes = Buffer.from(join(messages), 'utf8');
          expect(await parse(chunked(bytes, cuts))).toEqual(messages);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('keeps multi-byte characters split across chunks intact', async () => {
    const bytes = Buffer.from('{"status":"Ünïcödé ✓ 🐳"}\n');
    expect(await parse([...bytes].map((b) => Buffer.from([b])))).toEqual([{ status: 'Ünïcödé ✓ 🐳' }]);
  });

  it('handles braces and escaped quotes inside strings', async () => {
    expect(await parse([Buffer.from('{"a":"}{\\"]["}{"b":"\\\\"}')])).toEqual([{ a: '}{"][' }, { b: '\\' }]);
  });

  it('yields the good messages, then a typed error naming the offset of a bad line', async () => {
    const text = '{"a":1}\n{"b":2}\nnot json at all\n{"c":3}\n';
    const seen: unknown[] = [];
    const err = await (async () => {
      for await (const m of jsonMessages(Readable.from([Buffer.from(text)]))) seen.push(m);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([{ a: 1 }, { b: 2 }]);
    expect(err).toBeInstanceOf(StreamFormatError);
    expect((err as StreamFormatError).offset).toBe(16);
    expect((err as Error).message).toMatch(/bad JSON message at byte 16: "not json at all"/);
  });

  it('reports a malformed object with its offset', async () => {
    const err = await parse([Buffer.from('{"a":1}{"b":}')]).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StreamFormatError', offset: 7 });
  });

  it('reports a stream cut inside a message', async () => {
    const err = await parse([Buffer.from('{"a":1}\n{"b":')]).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StreamFormatError', offset: 8 });
    expect((err as Error).message).toMatch(/ended inside a message/);
  });
});
