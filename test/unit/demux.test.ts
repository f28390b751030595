import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunked } from '../support/chunks.js';
import { demux, FrameParser, MAX_FRAME_BUFFER, StreamError, StreamFormatError, type Frame } from '../../src/streams/demux.js';
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

/** Parses `chunks` with one FrameParser: per-stream bytes, the frames, and the error at the end. */
function parse(chunks: Buffer[]): { stdout: string; stderr: string; frames: Frame[]; error: string | undefined; offset: number | undefined; name: string | undefined } {
  const parser = new FrameParser();
  const frames: Frame[] = [];
  for (const c of chunks) frames.push(...parser.push(c));
  parser.end();
  const text = (s: string) => Buffer.concat(frames.filter((f) => f.stream === s).map((f) => f.data)).toString('latin1');
  const err = parser.error;
  return { stdout: text('stdout'), stderr: text('stderr'), frames, error: err?.message, offset: (err as StreamFormatError | undefined)?.offset, name: err?.name };
}

/** Every way to cut `bytes` into one, two or three chunks. */
function* everySplit(bytes: Buffer): Generator<Buffer[]> {
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) yield [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
  }
}

/** Frames merged into runs of one stream, empty ones dropped: what stays the same when large frames come in pieces. */
function runs(frames: Array<{ stream: string; data: Buffer }>): Array<{ stream: string; data: string }> {
  const out: Array<{ stream: string; data: string }> = [];
  for (const f of frames) {
    if (f.data.length === 0) continue;
    const last = out.at(-1);
    if (last && last.stream === f.stream) last.data += f.data.toString('latin1');
    else out.push({ stream: f.stream, data: f.data.toString('latin1') });
  }
  return out;
}

describe('FrameParser offsets and counts', () => {
  const good = Buffer.concat([frame(1, Buffer.from('hello')), frame(2, Buffer.alloc(0)), frame(2, Buffer.from('oops'))]);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a payload cut short', Buffer.concat([good, frame(1, Buffer.from('0123456789')).subarray(0, 8 + 6)]), /^multiplexed stream ended inside a frame: 6 of its 10 payload bytes came \(frame at byte 33\)$/],
    ['a header cut short', Buffer.concat([good, frame(2, Buffer.from('abc')).subarray(0, 5)]), /^multiplexed stream ended inside a frame: 5 of its 8 header bytes came \(frame at byte 33\)$/],
    ['a bad header', Buffer.concat([good, Buffer.from('plain text here')]), /^not a multiplexed stream: bad frame header at byte 33$/],
    ['an engine error frame', Buffer.concat([good, frame(3, Buffer.from('exec failed\n')), frame(1, Buffer.from('after'))]), /^exec failed$/],
    ['a clean end', good, /^$/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`reports ${what} with the same message and offset however the bytes are split`, () => {
      const whole = parse([bytes]);
      expect(whole.error ?? '').toMatch(message);
      expect(whole.stdout).toBe('hello');
      expect(whole.stderr).toBe('oops');
      let splits = 0;
      for (const chunks of everySplit(bytes)) {
        const got = parse(chunks);
        expect({ ...got, frames: undefined }).toEqual({ ...whole, frames: undefined });
        expect(got.frames.map((f) => `${f.stream}:${f.data.toString()}`)).toEqual(whole.frames.map((f) => `${f.stream}:${f.data.toString()}`));
        splits++;
      }
      expect(splits).toBe(((bytes.length + 1) * (bytes.length + 2)) / 2);
    });
  }

  it('counts the bytes of a large frame cut short exactly, for any chunking (property)', () => {
    const payload = Buffer.alloc(3 * MAX_FRAME_BUFFER + 17, 'q');
    const bytes = Buffer.concat([frame(2, Buffer.from('e')), frame(1, payload).subarray(0, 8 + 2 * MAX_FRAME_BUFFER + 5)]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
        const got = parse(chunked(bytes, cuts));
        expect(got.error).toBe(`multiplexed stream ended inside a frame: ${2 * MAX_FRAME_BUFFER + 5} of its ${payload.length} payload bytes came (frame at byte 9)`);
        expect(got.offset).toBe(9);
        expect(got.stdout.length).toBe(2 * MAX_FRAME_BUFFER + 5);
        expect(got.stderr).toBe('e');
      }),
      { numRuns: 100 },
    );
  });
});

describe('FrameParser with large frames', () => {
  const arbLarge = fc.array(
    fc.record({
      type: fc.constantFrom(0, 1, 2),
      size: fc.oneof(fc.nat({ max: 300 }), fc.integer({ min: MAX_FRAME_BUFFER - 2, max: MAX_FRAME_BUFFER + 2 }), fc.integer({ min: 0, max: 4 * MAX_FRAME_BUFFER })),
      fill: fc.integer({ min: 32, max: 126 }),
    }),
    { maxLength: 8 },
  );

  it('gives the same bytes per stream, in the same order, however the bytes are chunked (property)', async () => {
    await fc.assert(
      fc.asyncProperty(arbLarge, fc.array(fc.nat(), { maxLength: 40 }), async (specs, cuts) => {
        const frames = specs.map((f) => ({ stream: f.type === 2 ? 'stderr' : 'stdout', data: Buffer.alloc(f.size, f.fill) }));
        const bytes = Buffer.concat(specs.map((f, i) => frame(f.type, frames[i]!.data)));
        const got = await collect(chunked(bytes, cuts));
        expect(runs(got)).toEqual(runs(frames));
        // frames that fit in the assembly buffer keep their boundaries; only larger ones may come in pieces
        if (specs.every((f) => f.size <= MAX_FRAME_BUFFER)) expect(got).toEqual(frames);
      }),
      { numRuns: 60 },
    );
  });

  it('passes a large frame on in pieces as views of the chunks, assembling only small split frames', () => {
    const parser = new FrameParser();
    const big = frame(1, Buffer.alloc(200_000, 'b'));
    const first = big.subarray(0, 100_008);
    const out1 = parser.push(first);
    expect(out1).toHaveLength(1);
    expect(out1[0]!.data.length).toBe(100_000);
    expect(out1[0]!.data.buffer).toBe(big.buffer); // a view, not a copy
    const out2 = parser.push(big.subarray(100_008));
    expect(out2.map((f) => f.data.length)).toEqual([100_000]);
    const small = frame(2, Buffer.from('split small frame'));
    expect(parser.push(small.subarray(0, 12))).toEqual([]);
    expect(parser.push(small.subarray(12)).map((f) => `${f.stream}:${f.data}`)).toEqual(['stderr:split small frame']);
    parser.end();
    expect(parser.error).toBeUndefined();
  });

  it('streams a header claiming 0xFFFFFFF0 bytes without allocating it, then reports the truncated frame', async () => {
    const head = Buffer.alloc(8);
    head[0] = 1;
    head.writeUInt32BE(0xfffffff0, 4);
    const data = Buffer.alloc(1024 * 1024, 'd');
    const chunks = [head.subarray(0, 3), Buffer.concat([head.subarray(3), data.subarray(0, 1000)])];
    for (let at = 1000; at < data.length; at += 65_536) chunks.push(data.subarray(at, Math.min(at + 65_536, data.length)));
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const parser = new FrameParser();
    let received = 0;
    for (const c of chunks) {
      for (const f of parser.push(c)) {
        expect(f.stream).toBe('stdout');
        received += f.data.length;
      }
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    parser.end();
    expect(received).toBe(data.length);
    expect(parser.error).toBeInstanceOf(StreamFormatError);
    expect(parser.error!.message).toBe(`multiplexed stream ended inside a frame: ${data.length} of its ${0xfffffff0} payload bytes came (frame at byte 0)`);
    expect(peak - before).toBeLessThan(4 * 1024 * 1024);

    // the same through demux: the data arrives, then the error
    let streamed = 0;
    const err = await (async () => {
      for await (const f of demux(Readable.from(chunks))) streamed += f.data.length;
    })().catch((e: unknown) => e);
    expect(streamed).toBe(data.length);
    expect(err).toBeInstanceOf(StreamFormatError);
    expect((err as StreamFormatError).offset).toBe(0);
  });

  it('keeps at most MAX_FRAME_BUFFER bytes of an engine error frame, says it was cut, and reads no further', () => {
    const message = Buffer.alloc(1024 * 1024, 'e');
    const bytes = Buffer.concat([frame(1, Buffer.from('before')), frame(3, message)]);
    for (const size of [4096, 100_000, bytes.length]) {
      const parser = new FrameParser();
      const seen: string[] = [];
      let pushed = 0;
      for (let at = 0; at < bytes.length && !parser.error; at += size) {
        for (const f of parser.push(bytes.subarray(at, at + size))) seen.push(f.data.toString());
        pushed = at + size;
      }
      expect(seen).toEqual(['before']);
      expect(parser.error).toBeInstanceOf(StreamError);
      expect(parser.error!.message).toMatch(/^e+ … \(the engine's error message was cut: 65536 of its 1048576 bytes kept\)$/);
      expect(parser.error!.message.length).toBeLessThanOrEqual(4096);
      expect(pushed).toBeLessThan(bytes.length + size); // stopped once the kept part was read (for small chunks: early)
      if (size === 4096) expect(pushed).toBeLessThan(14 + MAX_FRAME_BUFFER + 2 * size);
      expect(parser.push(Buffer.from('more'))).toEqual([]);
    }
  });

  it('keeps an engine error frame of exactly MAX_FRAME_BUFFER bytes whole, split or not', () => {
    const bytes = frame(3, Buffer.alloc(MAX_FRAME_BUFFER, 'x'));
    for (const chunks of [[bytes], [bytes.subarray(0, 100), bytes.subarray(100)]]) {
      const got = parse(chunks);
      expect(got.name).toBe('StreamError');
      expect(got.error).toMatch(/^x{4096}… \(61440 more characters\)$/);
    }
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

  it('pipes with { end: false }: writes everything and leaves both writables open', async () => {
    const { PassThrough } = await import('node:stream');
    const out = new PassThrough();
    const err = new PassThrough();
    const text: Record<string, string> = { out: '', err: '' };
    out.on('data', (d: Buffer) => (text.out += d.toString()));
    err.on('data', (d: Buffer) => (text.err += d.toString()));
    await new FrameStream(Promise.resolve({ body: body(), tty: false }), 'ContainerLogs').pipe(out, err, { end: false });
    await new Promise((r) => setImmediate(r));
    expect(text).toEqual({ out: 'out more', err: 'err' });
    expect([out.writableEnded, err.writableEnded]).toEqual([false, false]);
    out.write('still open');
    await new Promise((r) => setImmediate(r));
    expect(text.out).toBe('out morestill open');
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
