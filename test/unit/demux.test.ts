import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunked } from '../support/chunks.js';
import { demux, FrameParser, StreamError, StreamFormatError, type Frame } from '../../src/streams/demux.js';
import { FrameStream } from '../../src/streams/frames.js';

function frame(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = type;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}


async function collect(chunks: Buffer[]): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const f of demux(Readable.from(chunks))) frames.push({ stream: f.stream, data: Buffer.from(f.data) });
  return frames;
}

const arbFrames = fc.array(fc.record({ type: fc.constantFrom(0, 1, 2), data: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 30 });

describe('demux', () => {
  it('gives the same frames, in order, however the bytes are chunked (property)', async () => {
    await fc.assert(
      fc.asyncProperty(arbFrames, fc.array(fc.nat(), { maxLength: 40 }), async (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => frame(f.type, Buffer.from(f.data))));
        const got = await collect(chunked(bytes, cuts));
        expect(got).toEqual(frames.map((f) => ({ stream: f.type === 2 ? 'stderr' : 'stdout', data: Buffer.from(f.data) })));
      }),
      { numRuns: 300 },
    );
  });

  it('handles one-byte chunks and empty frames', async () => {
    const bytes = Buffer.concat([frame(1, Buffer.from('a')), frame(2, Buffer.alloc(0)), frame(1, Buffer.from('bc'))]);
    const got = await collect([...bytes].map((b) => Buffer.from([b])));
    expect(got.map((f) => `${f.stream}:${f.data}`)).toEqual(['stdout:a', 'stderr:', 'stdout:bc']);
  });

  it('returns payloads inside one chunk as views, without copying', () => {
    const bytes = Buffer.concat([frame(1, Buffer.from('hello')), frame(2, Buffer.from('world'))]);
    const frames = new FrameParser().push(bytes);
    expect(frames[0]!.data.buffer).toBe(bytes.buffer);
    expect(frames[1]!.data.toString()).toBe('world');
  });

  it('turns the engine error frame (type 3) into StreamError after the frames before it', async () => {
    const bytes = Buffer.concat([frame(1, Buffer.from('before')), frame(3, Buffer.from('exec failed: no such file\n')), frame(1, Buffer.from('after'))]);
    const seen: string[] = [];
    const err = await (async () => {
      for await (const f of demux(Readable.from([bytes]))) seen.push(f.data.toString());
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['before']);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).message).toBe('exec failed: no such file');
    expect((err as StreamError).code).toBe('STREAM_ERROR');
  });

  it('reports a truncated frame at the end as an error, not silence (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), async (data, cut) => {
        const bytes = frame(1, Buffer.from(data));
        const keep = 1 + (cut % (bytes.length - 1)); // at least one byte, never the whole frame
        const err = await collect([bytes.subarray(0, keep)]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StreamFormatError);
        expect((err as StreamFormatError).offset).toBe(0);
      }),
    );
  });

  it('refuses bytes that are not the multiplexed format, naming the offset', async () => {
    const bytes = Buffer.concat([frame(1, Buffer.from('ok')), Buffer.from('plain text, not a frame header')]);
    const err = await collect([bytes]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamFormatError);
    expect((err as StreamFormatError).offset).toBe(10);
  });
});

describe('FrameStream helpers', () => {
  const body = () => Readable.from([Buffer.concat([frame(1, Buffer.from('out ')), frame(2, Buffer.from('err')), frame(1, Buffer.from('more'))])]);

  it('collects text per stream', async () => {
    const s = new FrameStream(Promise.resolve({ body: body(), tty: false }), 'ContainerLogs');
    expect(await s.text()).toEqual({ stdout: 'out more', stderr: 'err' });
  });

  it('pipes into two writables and ends both', async () => {
    const { PassThrough } = await import('node:stream');
    const out = new PassThrough();
    const err = new PassThrough();
    const ended: string[] = [];
    out.on('finish', () => ended.push('out'));
    err.on('finish', () => ended.push('err'));
    const outText: Buffer[] = [];
    const errText: Buffer[] = [];
    out.on('data', (d: Buffer) => outText.push(d));
    err.on('data', (d: Buffer) => errText.push(d));
    await new FrameStream(Promise.resolve({ body: body(), tty: false }), 'ContainerLogs').pipe(out, err);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(outText).toString()).toBe('out more');
    expect(Buffer.concat(errText).toString()).toBe('err');
    expect(ended.sort()).toEqual(['err', 'out']);
  });

  it('passes TTY bytes through as stdout', async () => {
    const s = new FrameStream(Promise.resolve({ body: Readable.from([Buffer.from('\u0001raw\r\n')]), tty: true }), 'ContainerLogs');
    expect(await s.text()).toEqual({ stdout: '\u0001raw\r\n', stderr: '' });
  });

  it('closes the source when the loop stops early', async () => {
    const source = Readable.from((function* () {
      for (let i = 0; ; i++) yield frame(1, Buffer.from(String(i)));
    })());
    const s = new FrameStream(Promise.resolve({ body: source, tty: false }), 'ContainerLogs');
    for await (const f of s) if (f.data.toString() === '3') break;
    expect(source.destroyed).toBe(true);
  });
});
