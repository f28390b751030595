/**
 * Output as lines: split per stream across frame boundaries (a fake frame source, and the real
 * demultiplexer fed multiplexed bytes cut anywhere), `\r\n` endings, the last unterminated line
 * of each stream, multi-byte characters cut by a frame boundary, and overlong lines in pieces.
 */
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import type { Frame, StreamName } from '../../src/streams/demux.js';
import { FrameStream } from '../../src/streams/frames.js';
import { frameLines, LineSplitter, type Line } from '../../src/streams/lines.js';
import { chunked } from '../support/chunks.js';

/** A fake frame source: the given frames, each a separate chunk. */
async function* frames(list: Array<[StreamName, string | Buffer]>): AsyncGenerator<Frame> {
  for (const [stream, data] of list) yield { stream, data: typeof data === 'string' ? Buffer.from(data) : data };
}

async function linesOf(list: Array<[StreamName, string | Buffer]>, maxLineLength?: number): Promise<Line[]> {
  const out: Line[] = [];
  for await (const l of frameLines(frames(list), maxLineLength === undefined ? undefined : { maxLineLength })) out.push(l);
  return out;
}

function multiplexed(stream: StreamName, text: string | Buffer): Buffer {
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  const head = Buffer.alloc(8);
  head[0] = stream === 'stderr' ? 2 : 1;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

describe('lines', () => {
  it('keeps a partial line across frames, per stream, and delivers the last unterminated line of each at the end', async () => {
    const got = await linesOf([
      ['stdout', 'ab'],
      ['stderr', 'e1\ne'],
      ['stdout', 'c\nd'],
      ['stderr', '2'],
      ['stdout', 'e\n\nf'],
    ]);
    expect(got).toEqual([
      { stream: 'stderr', line: 'e1' },
      { stream: 'stdout', line: 'abc' },
      { stream: 'stdout', line: 'de' },
      { stream: 'stdout', line: '' },
      { stream: 'stdout', line: 'f' },
      { stream: 'stderr', line: 'e2' },
    ]);
  });

  it('drops the \\r of \\r\\n, also when the \\n comes in the next frame, and keeps a lone \\r', async () => {
    const got = await linesOf([
      ['stdout', 'one\r\ntwo\r'],
      ['stdout', '\nprogress 1\rprogress 2\r\n'],
      ['stdout', 'last\r'],
    ]);
    expect(got.map((l) => l.line)).toEqual(['one', 'two', 'progress 1\rprogress 2', 'last\r']);
  });

  it('decodes a multi-byte character cut in two by a frame boundary', async () => {
    const text = Buffer.from('héllo wörld ✓\n');
    const at = text.indexOf(0xc3) + 1; // inside é
    const got = await linesOf([
      ['stdout', text.subarray(0, at)],
      ['stdout', text.subarray(at, at + 9)],
      ['stdout', text.subarray(at + 9)],
    ]);
    expect(got).toEqual([{ stream: 'stdout', line: 'héllo wörld ✓' }]);
  });

  it('gives the same lines however multiplexed bytes are cut into chunks (property)', async () => {
    const arb = fc.array(
      fc.record({ stream: fc.constantFrom<StreamName>('stdout', 'stderr'), text: fc.stringMatching(/^[a-z\r\nü]{0,20}$/) }),
      { maxLength: 20 },
    );
    await fc.assert(
      fc.asyncProperty(arb, fc.array(fc.nat(), { maxLength: 30 }), async (parts, cuts) => {
        const bytes = Buffer.concat(parts.map((p) => multiplexed(p.stream, p.text)));
        const stream = new FrameStream(Promise.resolve({ body: Readable.from(chunked(bytes, cuts)), tty: false }), 'ContainerLogs');
        const got: Line[] = [];
        for await (const l of stream.lines()) got.push(l);
        // Expected: each stream's text joined and split at \n, \r of \r\n dropped.
        const expected: Line[] = [];
        for (const s of ['stdout', 'stderr'] as const) {
          const all = parts
            .filter((p) => p.stream === s)
            .map((p) => p.text)
            .join('');
          const pieces = all.split('\n');
          const last = pieces.pop()!;
          for (const p of pieces) expected.push({ stream: s, line: p.endsWith('\r') ? p.slice(0, -1) : p });
          if (last !== '') expected.push({ stream: s, line: last });
        }
        const byStream = (list: Line[], s: StreamName) => list.filter((l) => l.stream === s);
        expect(byStream(got, 'stdout')).toEqual(byStream(expected, 'stdout'));
        expect(byStream(got, 'stderr')).toEqual(byStream(expected, 'stderr'));
      }),
      { numRuns: 200 },
    );
  });

  it('treats TTY output as stdout lines', async () => {
    const body = new PassThrough();
    const stream = new FrameStream(Promise.resolve({ body, tty: true }), 'ContainerAttach');
    body.write('$ ls\r\nbin  et');
    body.write('c\r\n');
    body.end('exit');
    const got: Line[] = [];
    for await (const l of stream.lines()) got.push(l);
    expect(got).toEqual([
      { stream: 'stdout', line: '$ ls' },
      { stream: 'stdout', line: 'bin  etc' },
      { stream: 'stdout', line: 'exit' },
    ]);
  });

  it('delivers a line longer than maxLineLength in pieces flagged partial, never cutting a character', async () => {
    const got = await linesOf(
      [
        ['stdout', 'abcdefgh'],
        ['stdout', 'ijklm\nshort\n'],
        ['stderr', 'ééééé\n'], // 10 bytes
      ],
      6,
    );
    expect(got).toEqual([
      { stream: 'stdout', line: 'abcdef', partial: true },
      { stream: 'stdout', line: 'ghijkl', partial: true },
      { stream: 'stdout', line: 'm' },
      { stream: 'stdout', line: 'short' },
      { stream: 'stderr', line: 'ééé', partial: true },
      { stream: 'stderr', line: 'éé' },
    ]);
    // Joining the pieces gives the line back.
    expect(
      got
        .slice(0, 3)
        .map((l) => l.line)
        .join(''),
    ).toBe('abcdefghijklm');
  });

  it('keeps memory bounded for an endless line (pieces come while it streams)', async () => {
    const splitter = new LineSplitter({ maxLineLength: 1024 });
    let pieces = 0;
    for (let i = 0; i < 1000; i++) {
      for (const l of splitter.push('stdout', Buffer.alloc(100, 'x'))) {
        expect(l.partial).toBe(true);
        expect(l.line.length).toBe(1024);
        pieces++;
      }
    }
    expect(pieces).toBe(Math.floor(100_000 / 1024));
    expect(splitter.end()).toEqual([{ stream: 'stdout', line: 'x'.repeat(100_000 % 1024) }]);
  });

  it('passes the source error on after the lines before it', async () => {
    async function* failing(): AsyncGenerator<Frame> {
      yield { stream: 'stdout', data: Buffer.from('ok\npart') };
      throw new Error('boom');
    }
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const l of frameLines(failing())) got.push(l.line);
      })(),
    ).rejects.toThrow('boom');
    expect(got).toEqual(['ok']);
  });

  it('ends the source when the loop breaks', async () => {
    let finished = false;
    async function* source(): AsyncGenerator<Frame> {
      try {
        for (let i = 0; ; i++) yield { stream: 'stdout', data: Buffer.from(`line ${i}\n`) };
      } finally {
        finished = true;
      }
    }
    for await (const l of frameLines(source())) if (l.line === 'line 3') break;
    expect(finished).toBe(true);
  });

  it('refuses a bad maxLineLength at once', () => {
    expect(() => frameLines(frames([]), { maxLineLength: 0 })).toThrow(ValidationError);
    expect(() => new LineSplitter({ maxLineLength: 1.5 })).toThrow(/maxLineLength/);
  });
});
