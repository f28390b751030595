import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodePacket,
  decodeStatusResponse,
  framedDataPacket,
  encodePacket,
  encodeStatusResponse,
  ProtoError,
  ProtoWriter,
  readFields,
  type Packet,
  type Stat,
  type StatusResponse,
} from '../../src/buildkit/proto.js';
import { GrpcFrameDecoder, grpcFrame, GrpcError } from '../../src/buildkit/grpc.js';
import { goFileMode, posixMode, GO_DIR, GO_SYMLINK, GO_SETUID, GO_STICKY, GO_DEVICE, GO_CHARDEV, GO_PIPE } from '../../src/buildkit/filesync.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const safeInt = fc.integer({ min: -(2 ** 52), max: 2 ** 52 });
const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));

const statArb: fc.Arbitrary<Stat> = fc.record({
  path: fc.string({ unit: 'grapheme', maxLength: 40 }),
  mode: u32,
  uid: u32,
  gid: u32,
  size: safeInt,
  modTime: i64,
  linkname: fc.string({ maxLength: 20 }),
  devmajor: safeInt,
  devminor: safeInt,
  xattrs: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), bytes, { maxKeys: 3 }).map((d) => new Map(Object.entries(d))),
});

const packetArb: fc.Arbitrary<Packet> = fc.record({
  type: fc.integer({ min: 0, max: 4 }),
  stat: fc.option(statArb, { nil: undefined }),
  id: u32,
  data: bytes,
});

describe('protobuf codec', () => {
  it('fsutil Packet (with Stat) round-trips', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const back = decodePacket(encodePacket(p));
        expect(back.type).toBe(p.type);
        expect(back.id).toBe(p.id);
        expect(Buffer.compare(back.data, p.data)).toBe(0);
        if (p.stat === undefined) expect(back.stat).toBeUndefined();
        else expect(back.stat).toEqual(p.stat);
      }),
    );
  });

  it('a framed DATA packet is the same bytes as encodePacket + grpcFrame', () => {
    fc.assert(
      fc.property(u32, fc.uint8Array({ maxLength: 40000 }), (id, data) => {
        const expected = grpcFrame(encodePacket({ type: 2, id, data: Buffer.from(data) }));
        expect(framedDataPacket(id, data).equals(expected)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('encodes known bytes: varints, a negative int64, nested messages', () => {
    expect(new ProtoWriter().uint(1, 150).finish()).toEqual(Buffer.from([0x08, 0x96, 0x01]));
    expect(new ProtoWriter().uint(2, -1n).finish()).toEqual(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    expect(new ProtoWriter().string(2, 'testing').finish()).toEqual(Buffer.from([0x12, 0x07, ...Buffer.from('testing')]));
    // the empty STAT that ends a listing: just the type (0: not written) -> empty message
    expect(encodePacket({ type: 0, id: 0, data: Buffer.alloc(0) })).toEqual(Buffer.alloc(0));
    // a directory mode (bit 31) as a uint32 varint
    expect(decodePacket(encodePacket({ type: 0, id: 0, data: Buffer.alloc(0), stat: { path: 'd', mode: GO_DIR + 0o755, uid: 0, gid: 0, size: 0, modTime: 1n, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() } })).stat?.mode).toBe(GO_DIR + 0o755);
  });

  it('skips unknown fields of every wire type, refuses truncated input', () => {
    const buf = Buffer.concat([
      Buffer.from([0x08, 0x02]), // type = DATA
      Buffer.from([0x2d, 1, 2, 3, 4]), // field 5, fixed32
      Buffer.from([0x31, 1, 2, 3, 4, 5, 6, 7, 8]), // field 6, fixed64
      Buffer.from([0x3a, 0x01, 0x00]), // field 7, bytes
      Buffer.from([0x18, 0x07]), // ID = 7
    ]);
    expect(decodePacket(buf)).toMatchObject({ type: 2, id: 7 });
    expect(() => decodePacket(Buffer.from([0x22, 0x05, 0x01]))).toThrow(ProtoError);
    expect(() => [...readFields(Buffer.from([0x08, 0x80]))]).toThrow(ProtoError);
    expect(() => [...readFields(Buffer.from([0x0b]))]).toThrow(ProtoError); // wire type 3 (groups)
  });

  it('StatusResponse round-trips', () => {
    const ts = fc.option(fc.integer({ min: 0, max: 2 ** 41 }), { nil: undefined });
    const arb: fc.Arbitrary<StatusResponse> = fc.record({
      vertexes: fc.array(fc.record({ digest: fc.string(), inputs: fc.array(fc.string(), { maxLength: 2 }), name: fc.string(), cached: fc.boolean(), started: ts, completed: ts, error: fc.string() }), { maxLength: 3 }),
      statuses: fc.array(fc.record({ id: fc.string(), vertex: fc.string(), name: fc.string(), current: safeInt, total: safeInt, timestamp: ts, started: ts, completed: ts }), { maxLength: 3 }),
      logs: fc.array(fc.record({ vertex: fc.string(), timestamp: ts, stream: fc.integer({ min: 0, max: 2 }), msg: bytes }), { maxLength: 3 }),
      warnings: fc.array(fc.record({ vertex: fc.string(), level: fc.integer({ min: 0, max: 3 }), short: fc.string(), detail: fc.array(fc.string(), { maxLength: 2 }), url: fc.string() }), { maxLength: 2 }),
    });
    fc.assert(
      fc.property(arb, (r) => {
        expect(decodeStatusResponse(encodeStatusResponse(r))).toEqual(r);
      }),
    );
  });
});

describe('gRPC framing', () => {
  it('messages come out whole and in order, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 40 }), (messages, cuts) => {
        const wire = Buffer.concat(messages.map((m) => grpcFrame(Buffer.from(m))));
        const decoder = new GrpcFrameDecoder();
        const out: Buffer[] = [];
        let at = 0;
        let i = 0;
        while (at < wire.length) {
          const n = cuts[i++ % cuts.length]!;
          out.push(...decoder.push(wire.subarray(at, at + n)));
          at += n;
        }
        expect(out.map((b) => Buffer.from(b).toString('hex'))).toEqual(messages.map((m) => Buffer.from(m).toString('hex')));
        expect(decoder.pending).toBe(0);
      }),
    );
  });

  it('refuses a message over the limit and a compressed one', () => {
    const big = Buffer.alloc(5);
    big.writeUInt32BE(1000, 1);
    expect(() => new GrpcFrameDecoder(999).push(big)).toThrow(GrpcError);
    expect(() => new GrpcFrameDecoder().push(Buffer.from([1, 0, 0, 0, 0]))).toThrow(/compressed/);
  });
});

describe('Go FileMode', () => {
  it('maps POSIX types and special bits as os.FileMode does, and back', () => {
    expect(goFileMode(0o100644)).toBe(0o644);
    expect(goFileMode(0o040755)).toBe(GO_DIR + 0o755);
    expect(goFileMode(0o120777)).toBe(GO_SYMLINK + 0o777);
    expect(goFileMode(0o104755)).toBe(GO_SETUID + 0o755);
    expect(goFileMode(0o041777)).toBe(GO_DIR + GO_STICKY + 0o777);
    expect(goFileMode(0o060660)).toBe(GO_DEVICE + 0o660);
    expect(goFileMode(0o020666)).toBe(GO_DEVICE + GO_CHARDEV + 0o666);
    expect(goFileMode(0o010644)).toBe(GO_PIPE + 0o644);
    fc.assert(
      fc.property(fc.constantFrom(0o100000, 0o040000, 0o120000, 0o010000, 0o060000, 0o020000), fc.integer({ min: 0, max: 0o7777 }), (type, perm) => {
        expect(posixMode(goFileMode(type | perm))).toBe(type | perm);
      }),
    );
  });
});
