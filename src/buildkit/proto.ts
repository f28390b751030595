/**
 * A small protobuf (proto3) codec for the few flat messages of the BuildKit session: health,
 * fsutil packets, auth, secrets, ssh and the progress `StatusResponse`. Field numbers are
 * interface facts of the public .proto files (moby/buildkit, tonistiigi/fsutil, grpc health);
 * the code is dockhand's own. Unknown fields are skipped, as proto3 requires.
 */

/** A malformed protobuf message. */
export class ProtoError extends Error {
  constructor(message: string) {
    super(`protobuf: ${message}`);
    this.name = 'ProtoError';
  }
}

const EMPTY: Buffer = Buffer.alloc(0);
const WIRE_VARINT = 0;
const WIRE_64 = 1;
const WIRE_LEN = 2;
const WIRE_32 = 5;

/** Builds one message; nested messages are built by a child writer and added as bytes. */
export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }

  private varint(value: bigint | number): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Buffer.from(bytes));
  }

  private smallVarint(v: number): void {
    if (v < 0x80) {
      this.push(Buffer.from([v]));
      return;
    }
    this.varint(v);
  }

  private tag(field: number, wire: number): void {
    this.smallVarint((field << 3) | wire);
  }

  /** An unsigned or signed (two's complement, as int64/int32) integer; 0 is not written. */
  uint(field: number, value: number | bigint | undefined): this {
    if (value === undefined || value === 0 || value === 0n) return this;
    this.tag(field, WIRE_VARINT);
    if (typeof value === 'number' && value >= 0 && value < 0x80000000) this.smallVarint(value);
    else this.varint(value);
    return this;
  }

  bool(field: number, value: boolean | undefined): this {
    return value ? this.uint(field, 1) : this;
  }

  bytes(field: number, value: Uint8Array | undefined, always = false): this {
    if (value === undefined || (value.length === 0 && !always)) return this;
    this.tag(field, WIRE_LEN);
    this.smallVarint(value.length);
    this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return this;
  }

  string(field: number, value: string | undefined): this {
    if (value === undefined || value === '') return this;
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** A nested message (written even when empty, so its presence is kept). */
  message(field: number, value: ProtoWriter | undefined): this {
    if (value === undefined) return this;
    return this.bytes(field, value.finish(), true);
  }

  finish(): Buffer {
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
  }
}

/** One field as read: its number, wire type and value (integers as bigint, LEN as bytes). */
export type ProtoField = { field: number; wire: 0 | 1 | 5; value: bigint } | { field: number; wire: 2; value: Buffer };

/** The fields of one message, in order. Throws ProtoError on a truncated or malformed message. */
export function* readFields(buf: Buffer): Generator<ProtoField, void, undefined> {
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= buf.length) throw new ProtoError('truncated varint');
      const b = buf[at++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new ProtoError('varint longer than 10 bytes');
    }
  };
  while (at < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new ProtoError('field number 0');
    switch (wire) {
      case WIRE_VARINT:
        yield { field, wire, value: varint() };
        break;
      case WIRE_64:
        if (at + 8 > buf.length) throw new ProtoError('truncated fixed64');
        yield { field, wire, value: buf.readBigUInt64LE(at) };
        at += 8;
        break;
      case WIRE_32:
        if (at + 4 > buf.length) throw new ProtoError('truncated fixed32');
        yield { field, wire, value: BigInt(buf.readUInt32LE(at)) };
        at += 4;
        break;
      case WIRE_LEN: {
        const len = Number(varint());
        if (at + len > buf.length) throw new ProtoError('truncated length-delimited field');
        yield { field, wire, value: buf.subarray(at, at + len) };
        at += len;
        break;
      }
      default:
        throw new ProtoError(`unsupported wire type ${wire}`);
    }
  }
}

const asBytes = (f: ProtoField): Buffer => {
  if (f.wire !== WIRE_LEN) throw new ProtoError(`field ${f.field}: expected length-delimited`);
  return f.value;
};
const asInt = (f: ProtoField): bigint => {
  if (f.wire === WIRE_LEN) throw new ProtoError(`field ${f.field}: expected an integer`);
  return f.value;
};
/** int64 as a JS number (two's complement; precise below 2^53). */
const asInt64 = (f: ProtoField): number => Number(BigInt.asIntN(64, asInt(f)));
const asUint32 = (f: ProtoField): number => Number(BigInt.asUintN(32, asInt(f)));
const asString = (f: ProtoField): string => asBytes(f).toString('utf8');

// ---------------------------------------------------------------- grpc.health.v1

export const HEALTH_SERVING = 1;

export function encodeHealthCheckResponse(status: number): Buffer {
  return new ProtoWriter().uint(1, status).finish();
}

// ---------------------------------------------------------------- fsutil.types

export const PACKET_STAT = 0;
export const PACKET_REQ = 1;
export const PACKET_DATA = 2;
export const PACKET_FIN = 3;
export const PACKET_ERR = 4;

export interface Stat {
  path: string;
  /** Go os.FileMode bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Unix nanoseconds. */
  modTime: bigint;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

export interface Packet {
  type: number;
  stat?: Stat | undefined;
  id: number;
  data: Buffer;
}

export function encodeStat(s: Stat): ProtoWriter {
  const w = new ProtoWriter()
    .string(1, s.path)
    .uint(2, s.mode)
    .uint(3, s.uid)
    .uint(4, s.gid)
    .uint(5, s.size)
    .uint(6, s.modTime)
    .string(7, s.linkname)
    .uint(8, s.devmajor)
    .uint(9, s.devminor);
  for (const [k, v] of s.xattrs) w.message(10, new ProtoWriter().string(1, k).bytes(2, v));
  return w;
}

export function decodeStat(buf: Buffer): Stat {
  const s: Stat = { path: '', mode: 0, uid: 0, gid: 0, size: 0, modTime: 0n, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() };
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1: s.path = asString(f); break;
      case 2: s.mode = asUint32(f); break;
      case 3: s.uid = asUint32(f); break;
      case 4: s.gid = asUint32(f); break;
      case 5: s.size = asInt64(f); break;
      case 6: s.modTime = BigInt.asIntN(64, asInt(f)); break;
      case 7: s.linkname = asString(f); break;
      case 8: s.devmajor = asInt64(f); break;
      case 9: s.devminor = asInt64(f); break;
      case 10: {
        let key = '';
        let value: Buffer = EMPTY;
        for (const e of readFields(asBytes(f))) {
          if (e.field === 1) key = asString(e);
          else if (e.field === 2) value = asBytes(e);
        }
        s.xattrs.set(key, value);
        break;
      }
    }
  }
  return s;
}

export function encodePacket(p: Packet): Buffer {
  const w = new ProtoWriter().uint(1, p.type);
  if (p.stat) w.message(2, encodeStat(p.stat));
  return w.uint(3, p.id).bytes(4, p.data).finish();
}

/** Bytes of a varint. */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

/**
 * A DATA packet `{ type: DATA, ID: id, data }` as a whole gRPC message (5-byte prefix
 * included), built with one copy of `data`: the hot path of file transfers.
 */
export function framedDataPacket(id: number, data: Uint8Array, into?: Buffer): Buffer {
  const body = 2 + (id === 0 ? 0 : 1 + varintSize(id)) + (data.length === 0 ? 0 : 1 + varintSize(data.length) + data.length);
  // written into `into` when it is big enough (a reused buffer), else into a new one
  const out = into !== undefined && into.length >= 5 + body ? into.subarray(0, 5 + body) : Buffer.allocUnsafe(5 + body);
  out[0] = 0;
  out.writeUInt32BE(body, 1);
  let at = 5;
  out[at++] = 0x08; // field 1 (type), varint
  out[at++] = PACKET_DATA;
  if (id !== 0) {
    out[at++] = 0x18; // field 3 (ID), varint
    at = writeVarint(out, at, id);
  }
  if (data.length > 0) {
    out[at++] = 0x22; // field 4 (data), bytes
    at = writeVarint(out, at, data.length);
    out.set(data, at);
  }
  return out;
}

export function decodePacket(buf: Buffer): Packet {
  const p: Packet = { type: 0, id: 0, data: EMPTY };
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1: p.type = asUint32(f); break;
      case 2: p.stat = decodeStat(asBytes(f)); break;
      case 3: p.id = asUint32(f); break;
      case 4: p.data = asBytes(f); break;
    }
  }
  return p;
}

// ---------------------------------------------------------------- BytesMessage (filesend, ssh)

export function encodeBytesMessage(data: Uint8Array): Buffer {
  return new ProtoWriter().bytes(1, data).finish();
}

export function decodeBytesMessage(buf: Buffer): Buffer {
  let data: Buffer = EMPTY;
  for (const f of readFields(buf)) if (f.field === 1) data = asBytes(f);
  return data;
}

// ---------------------------------------------------------------- single-string requests

/** Field 1 as a string: Auth CredentialsRequest.Host, Secrets GetSecretRequest.ID, SSH CheckAgentRequest.ID. */
export function decodeFirstString(buf: Buffer): string {
  let s = '';
  for (const f of readFields(buf)) if (f.field === 1) s = asString(f);
  return s;
}

export function encodeCredentialsResponse(username: string, secret: string): Buffer {
  return new ProtoWriter().string(1, username).string(2, secret).finish();
}

export function encodeGetSecretResponse(data: Uint8Array): Buffer {
  return new ProtoWriter().bytes(1, data).finish();
}

// ---------------------------------------------------------------- moby.buildkit.v1.StatusResponse

export interface Timestamp {
  /** Milliseconds since the epoch (nanoseconds below a millisecond are dropped). */
  ms: number;
}

export interface VertexMessage {
  digest: string;
  inputs: string[];
  name: string;
  cached: boolean;
  started: number | undefined;
  completed: number | undefined;
  error: string;
}

export interface VertexStatusMessage {
  id: string;
  vertex: string;
  name: string;
  current: number;
  total: number;
  timestamp: number | undefined;
  started: number | undefined;
  completed: number | undefined;
}

export interface VertexLogMessage {
  vertex: string;
  timestamp: number | undefined;
  stream: number;
  msg: Buffer;
}

export interface VertexWarningMessage {
  vertex: string;
  level: number;
  short: string;
  detail: string[];
  url: string;
}

export interface StatusResponse {
  vertexes: VertexMessage[];
  statuses: VertexStatusMessage[];
  logs: VertexLogMessage[];
  warnings: VertexWarningMessage[];
}

/** google.protobuf.Timestamp as milliseconds since the epoch. */
function decodeTimestamp(buf: Buffer): number {
  let seconds = 0;
  let nanos = 0;
  for (const f of readFields(buf)) {
    if (f.field === 1) seconds = asInt64(f);
    else if (f.field === 2) nanos = asInt64(f);
  }
  return seconds * 1000 + Math.floor(nanos / 1e6);
}

function decodeVertex(buf: Buffer): VertexMessage {
  const v: VertexMessage = { digest: '', inputs: [], name: '', cached: false, started: undefined, completed: undefined, error: '' };
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1: v.digest = asString(f); break;
      case 2: v.inputs.push(asString(f)); break;
      case 3: v.name = asString(f); break;
      case 4: v.cached = asInt(f) !== 0n; break;
      case 5: v.started = decodeTimestamp(asBytes(f)); break;
      case 6: v.completed = decodeTimestamp(asBytes(f)); break;
      case 7: v.error = asString(f); break;
    }
  }
  return v;
}

function decodeVertexStatus(buf: Buffer): VertexStatusMessage {
  const s: VertexStatusMessage = { id: '', vertex: '', name: '', current: 0, total: 0, timestamp: undefined, started: undefined, completed: undefined };
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1: s.id = asString(f); break;
      case 2: s.vertex = asString(f); break;
      case 3: s.name = asString(f); break;
      case 4: s.current = asInt64(f); break;
      case 5: s.total = asInt64(f); break;
      case 6: s.timestamp = decodeTimestamp(asBytes(f)); break;
      case 7: s.started = decodeTimestamp(asBytes(f)); break;
      case 8: s.completed = decodeTimestamp(asBytes(f)); break;
    }
  }
  return s;
}

function decodeVertexLog(buf: Buffer): VertexLogMessage {
  const l: VertexLogMessage = { vertex: "", timestamp: undefined, stream: 0, msg: EMPTY };
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1: l.vertex = asString(f); break;
      case 2: l.timestamp = decodeTimestamp(asBytes(f)); break;
      case 3: l.stream = asInt64(f); break;
      case 4: l.msg = asBytes(f); break;
    }
  }
  return l;
}

function decodeVertexWarning(buf: Buffer): VertexWarningMessage {
  const w: VertexWarningMessage = { vertex: '', level: 0, short: '', detail: [], url: '' };
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1: w.vertex = asString(f); break;
      case 2: w.level = asInt64(f); break;
      case 3: w.short = asString(f); break;
      case 4: w.detail.push(asString(f)); break;
      case 5: w.url = asString(f); break;
    }
  }
  return w;
}

export function decodeStatusResponse(buf: Buffer): StatusResponse {
  const r: StatusResponse = { vertexes: [], statuses: [], logs: [], warnings: [] };
  for (const f of readFields(buf)) {
    switch (f.field) {
      case 1: r.vertexes.push(decodeVertex(asBytes(f))); break;
      case 2: r.statuses.push(decodeVertexStatus(asBytes(f))); break;
      case 3: r.logs.push(decodeVertexLog(asBytes(f))); break;
      case 4: r.warnings.push(decodeVertexWarning(asBytes(f))); break;
    }
  }
  return r;
}

/** Builders for the StatusResponse shape (tests and fakes produce traces with these). */
export function encodeTimestamp(ms: number): ProtoWriter {
  return new ProtoWriter().uint(1, Math.floor(ms / 1000)).uint(2, (ms % 1000) * 1e6);
}

export function encodeStatusResponse(r: Partial<StatusResponse>): Buffer {
  const w = new ProtoWriter();
  for (const v of r.vertexes ?? []) {
    const m = new ProtoWriter().string(1, v.digest);
    for (const i of v.inputs) m.bytes(2, Buffer.from(i, 'utf8'), true); // repeated: empty elements are kept
    m.string(3, v.name).bool(4, v.cached);
    if (v.started !== undefined) m.message(5, encodeTimestamp(v.started));
    if (v.completed !== undefined) m.message(6, encodeTimestamp(v.completed));
    w.message(1, m.string(7, v.error));
  }
  for (const s of r.statuses ?? []) {
    const m = new ProtoWriter().string(1, s.id).string(2, s.vertex).string(3, s.name).uint(4, s.current).uint(5, s.total);
    if (s.timestamp !== undefined) m.message(6, encodeTimestamp(s.timestamp));
    if (s.started !== undefined) m.message(7, encodeTimestamp(s.started));
    if (s.completed !== undefined) m.message(8, encodeTimestamp(s.completed));
    w.message(2, m);
  }
  for (const l of r.logs ?? []) {
    const m = new ProtoWriter().string(1, l.vertex);
    if (l.timestamp !== undefined) m.message(2, encodeTimestamp(l.timestamp));
    w.message(3, m.uint(3, l.stream).bytes(4, l.msg));
  }
  for (const x of r.warnings ?? []) {
    const m = new ProtoWriter().string(1, x.vertex).uint(2, x.level).string(3, x.short);
    for (const d of x.detail) m.bytes(4, Buffer.from(d, 'utf8'), true);
    w.message(4, m.string(5, x.url));
  }
  return w.finish();
}
