/**
 * The tar format, as dockhand writes and reads it: ustar headers, PAX extended headers (`x`) for
 * what ustar cannot hold (long or non-ASCII names and link targets, sizes of 8 GiB and more,
 * out-of-range times), and on reading also GNU long names (`L`, `K`), GNU base-256 numbers and
 * old (v7) headers. Written from the POSIX pax/ustar description; no code of another tar library.
 *
 * TarParser is a push parser: `consume(chunk, offset)` takes bytes as they arrive and calls its
 * handler synchronously for each entry and each piece of an entry's data. It holds at most one
 * header block and one extended header (MAX_EXTENDED_HEADER bytes), never an entry's data.
 */
import { DockerError } from '../errors.js';

export const BLOCK = 512;
/** Largest PAX or GNU long-name header read: a bigger one is refused, not buffered. */
export const MAX_EXTENDED_HEADER = 1024 * 1024;
/** Largest value of a 12-byte octal field (size, mtime): 8 GiB - 1. */
const MAX_OCTAL_12 = 0o77777777777;

export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface TarHeader {
  name: string;
  type: EntryType;
  /** The type flag as written, e.g. `0`, `5`, `3` (character device). */
  flag: string;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow the header. */
  size: number;
  /** Seconds since the epoch (may have a fraction, from PAX). */
  mtime: number;
  linkname: string;
}

/** A malformed or oversized archive. */
export function badArchive(message: string, operationId?: string): DockerError {
  return new DockerError(`${operationId ? `${operationId}: ` : ''}${message}`, { code: 'STREAM_FORMAT', ...(operationId ? { operationId } : {}) });
}

// ------------------------------------------------------------------------------------------------
// Writing

const ASCII = /^[\x01-\x7f]*$/;

function writeOctal(h: Buffer, offset: number, length: number, value: number): void {
  // length - 1 digits and a NUL
  h.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}

/** The checksum field: the sum of the header's bytes, with the field itself read as spaces. */
function checksum(h: Buffer, start: number): number {
  let sum = 8 * 0x20;
  for (let i = start; i < start + 148; i++) sum += h[i]!;
  for (let i = start + 156; i < start + BLOCK; i++) sum += h[i]!;
  return sum;
}

/** A PAX record, `<length> <key>=<value>\n`, where length counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  let len = bytes + String(bytes).length;
  if (String(len).length + bytes !== len) len = bytes + String(len).length;
  return `${len}${body}`;
}

/** Splits an ASCII path over ustar's prefix (155) and name (100) fields at a slash, or undefined. */
function splitUstar(name: string): [string, string] | undefined {
  if (name.length <= 100) return ['', name];
  if (name.length > 256) return undefined;
  // the prefix: the longest head up to a slash of at most 155 bytes leaving at most 100
  for (let i = Math.min(155, name.length - 1); i > 0; i--) {
    if (name[i] !== '/') continue;
    const rest = name.slice(i + 1);
    if (rest.length === 0 || rest.length > 100) return undefined;
    return [name.slice(0, i), rest];
  }
  return undefined;
}

export interface HeaderInput {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode: number;
  size: number;
  /** Milliseconds since the epoch (Date.getTime or Stats.mtimeMs). */
  mtimeMs: number;
  linkname?: string;
}

const TYPE_FLAG = { file: 0x30, link: 0x31, symlink: 0x32, directory: 0x35 } as const;

/** Bytes the header blocks of `input` take (one block, or three or more with a PAX header). */
export function headerLength(input: HeaderInput): number {
  const pax = paxRecords(input);
  return pax === '' ? BLOCK : 2 * BLOCK + Math.ceil(Buffer.byteLength(pax) / BLOCK) * BLOCK;
}

function paxRecords(input: HeaderInput): string {
  let pax = '';
  if (!ASCII.test(input.name) || splitUstar(input.name) === undefined) pax += paxRecord('path', input.name);
  const link = input.linkname ?? '';
  if (!ASCII.test(link) || link.length > 100) pax += paxRecord('linkpath', link);
  if (input.size > MAX_OCTAL_12) pax += paxRecord('size', String(input.size));
  const mtime = Math.floor(input.mtimeMs / 1000);
  if (mtime < 0 || mtime > MAX_OCTAL_12) pax += paxRecord('mtime', String(mtime));
  return pax;
}

function writeUstar(h: Buffer, at: number, name: string, flag: number, mode: number, size: number, mtime: number, linkname: string): void {
  h.fill(0, at, at + BLOCK);
  const split = ASCII.test(name) ? splitUstar(name) : undefined;
  if (split) {
    h.write(split[1], at, 100, 'latin1');
    if (split[0]) h.write(split[0], at + 345, 155, 'latin1');
  } else {
    h.write(name.replace(/[^\x01-\x7f]/g, '_'), at, 100, 'latin1'); // the PAX path holds the real one
  }
  writeOctal(h, at + 100, 8, mode & 0o7777);
  writeOctal(h, at + 108, 8, 0);
  writeOctal(h, at + 116, 8, 0);
  writeOctal(h, at + 124, 12, size > MAX_OCTAL_12 ? 0 : size);
  writeOctal(h, at + 136, 12, mtime < 0 || mtime > MAX_OCTAL_12 ? 0 : mtime);
  h[at + 156] = flag;
  if (linkname) h.write(ASCII.test(linkname) ? linkname : linkname.replace(/[^\x01-\x7f]/g, '_'), at + 157, 100, 'latin1');
  h.write('ustar\x0000', at + 257, 8, 'latin1');
  writeOctal(h, at + 329, 8, 0);
  writeOctal(h, at + 337, 8, 0);
  h.write(`${checksum(h, at).toString(8).padStart(6, '0')}\0 `, at + 148, 8, 'latin1');
}

/**
 * Writes the header blocks of `input` into `out` at `at` (headerLength(input) bytes): a PAX
 * header first when needed, then the ustar header. Returns the offset after them.
 */
export function writeHeader(out: Buffer, at: number, input: HeaderInput): number {
  const mtime = Math.floor(input.mtimeMs / 1000);
  const pax = paxRecords(input);
  if (pax !== '') {
    const data = Buffer.from(pax, 'utf8');
    const base = input.name.replace(/\/+$/, '').split('/').pop() ?? '';
    const paxName = `PaxHeader/${base.replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100);
    writeUstar(out, at, paxName, 0x78, 0o644, data.length, mtime < 0 || mtime > MAX_OCTAL_12 ? 0 : mtime, '');
    at += BLOCK;
    data.copy(out, at);
    const padded = Math.ceil(data.length / BLOCK) * BLOCK;
    out.fill(0, at + data.length, at + padded);
    at += padded;
  }
  writeUstar(out, at, input.name, TYPE_FLAG[input.type], input.mode, input.size, mtime, input.linkname ?? '');
  return at + BLOCK;
}

// ------------------------------------------------------------------------------------------------
// Reading

/** A NUL-terminated field as a string. */
function field(h: Buffer, offset: number, length: number, encoding: BufferEncoding = 'utf8'): string {
  let end = offset;
  const stop = offset + length;
  while (end < stop && h[end] !== 0) end++;
  return h.toString(encoding, offset, end);
}

/** A numeric field: octal (spaces or NULs around it), or GNU base-256 when the high bit is set. */
function numeric(h: Buffer, offset: number, length: number, what: string, operationId: string | undefined): number {
  const first = h[offset]!;
  if (first & 0x80) {
    if (first === 0xff) throw badArchive(`the archive has a negative ${what}`, operationId);
    let value = first & 0x7f;
    for (let i = offset + 1; i < offset + length; i++) {
      value = value * 256 + h[i]!;
      if (value > Number.MAX_SAFE_INTEGER) throw badArchive(`the archive has a ${what} too large to read`, operationId);
    }
    return value;
  }
  let i = offset;
  const end = offset + length;
  while (i < end && (h[i] === 0x20 || h[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = h[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw badArchive(`the archive has a malformed ${what} field`, operationId);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (h[i] !== 0x20 && h[i] !== 0) throw badArchive(`the archive has a malformed ${what} field`, operationId);
  return digits === 0 ? 0 : value;
}

function isZeroBlock(h: Buffer, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

/** Overrides a PAX header gives for the next entry. */
interface Extended {
  path?: string;
  linkpath?: string;
  size?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
}

const DECIMAL = /^[0-9]+$/;
const TIME = /^-?[0-9]+(\.[0-9]+)?$/;

function parsePax(data: Buffer, into: Extended, operationId: string | undefined): void {
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break; // padding some writers leave
    const space = data.indexOf(0x20, at);
    if (space < 0 || space - at > 8) throw badArchive('the archive has a malformed PAX record', operationId);
    const lenText = data.toString('latin1', at, space);
    const len = Number(lenText);
    if (!DECIMAL.test(lenText) || len <= space - at + 1 || at + len > data.length || data[at + len - 1] !== 0x0a) {
      throw badArchive('the archive has a malformed PAX record', operationId);
    }
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq <= 0) throw badArchive('the archive has a malformed PAX record', operationId);
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    switch (key) {
      case 'path':
        into.path = value;
        break;
      case 'linkpath':
        into.linkpath = value;
        break;
      case 'size':
      case 'uid':
      case 'gid': {
        const n = Number(value);
        if (!DECIMAL.test(value) || !Number.isSafeInteger(n)) throw badArchive(`the archive has a malformed PAX ${key}`, operationId);
        into[key] = n;
        break;
      }
      case 'mtime':
        if (!TIME.test(value)) throw badArchive('the archive has a malformed PAX mtime', operationId);
        into.mtime = Number(value);
        break;
      default:
        break; // atime, ctime, uname, gname, charset, comments, vendor keys
    }
    at += len;
  }
}

export interface TarHandler {
  /** An entry's header; its data (header.size bytes) follows through data(). */
  entry(header: TarHeader): void;
  /** A piece of the current entry's data: a view of the input chunk, valid during the call only unless kept. */
  data(piece: Buffer, last: boolean): void;
}

const enum State {
  Header,
  Data,
  Padding,
  Extended,
  Zero,
  End,
}

/**
 * A push parser. Feed it with consume(chunk, offset) until it returns chunk.length (it stops
 * early only when the handler asks it to, by setting `paused`); call finish() at the end of the
 * input to learn whether the archive was whole.
 */
export class TarParser {
  /** Set by the handler (from entry() or data()) to stop consume() after the current step. */
  paused = false;
  /** Bytes consumed so far. */
  position = 0;
  private state = State.Header;
  private readonly block = Buffer.alloc(BLOCK);
  private blockFill = 0;
  private remaining = 0;
  private padding = 0;
  private extended: Buffer | undefined;
  private extendedFill = 0;
  private extendedKind = 0;
  private pending: Extended = {};
  private gnuName: string | undefined;
  private gnuLink: string | undefined;

  constructor(
    private readonly handler: TarHandler,
    private readonly operationId?: string,
  ) {}

  /** Whether two zero blocks were read (the end-of-archive marker). */
  get ended(): boolean {
    return this.state === State.End;
  }

  /** Parses `chunk` from `offset`; returns where it stopped (chunk.length unless paused). */
  consume(chunk: Buffer, offset = 0): number {
    const len = chunk.length;
    let at = offset;
    while (at < len && !this.paused) {
      switch (this.state) {
        case State.Header:
        case State.Zero: {
          let h: Buffer;
          let hAt: number;
          if (this.blockFill === 0 && len - at >= BLOCK) {
            h = chunk;
            hAt = at;
            at += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.blockFill, len - at);
            chunk.copy(this.block, this.blockFill, at, at + n);
            this.blockFill += n;
            at += n;
            if (this.blockFill < BLOCK) break;
            this.blockFill = 0;
            h = this.block;
            hAt = 0;
          }
          this.position += BLOCK;
          this.header(h, hAt);
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, len - at);
          this.remaining -= n;
          this.position += n;
          const piece = chunk.subarray(at, at + n);
          at += n;
          if (this.remaining === 0) this.state = this.padding > 0 ? State.Padding : State.Header;
          this.handler.data(piece, this.remaining === 0);
          break;
        }
        case State.Padding: {
          const n = Math.min(this.padding, len - at);
          this.padding -= n;
          this.position += n;
          at += n;
          if (this.padding === 0) this.state = State.Header;
          break;
        }
        case State.Extended: {
          const buf = this.extended!;
          const n = Math.min(buf.length - this.extendedFill, len - at);
          chunk.copy(buf, this.extendedFill, at, at + n);
          this.extendedFill += n;
          this.position += n;
          at += n;
          if (this.extendedFill === buf.length) this.extendedDone();
          break;
        }
        case State.End:
          this.position += len - at;
          return len; // what follows the end marker (record padding) is not read
      }
    }
    return at;
  }

  /** Throws STREAM_TRUNCATED unless the archive ended with its end-of-archive blocks. */
  finish(): void {
    if (this.state === State.End) return;
    const op = this.operationId;
    const where = this.state === State.Header && this.blockFill === 0 ? 'without its end-of-archive blocks' : 'in the middle of an entry';
    throw new DockerError(`${op ? `${op}: ` : ''}the archive ended ${where} (${this.position} bytes): the connection was closed early`, {
      code: 'STREAM_TRUNCATED',
      ...(op ? { operationId: op } : {}),
    });
  }

  private header(h: Buffer, at: number): void {
    const op = this.operationId;
    if (isZeroBlock(h, at)) {
      if (this.state === State.Zero) this.state = State.End;
      else this.state = State.Zero;
      return;
    }
    if (this.state === State.Zero) throw badArchive('the archive has data after an end-of-archive block', op);
    const stored = numeric(h, at + 148, 8, 'checksum', op);
    let unsigned = 8 * 0x20;
    let signed = 8 * 0x20;
    for (let i = at; i < at + BLOCK; i++) {
      if (i >= at + 148 && i < at + 156) continue;
      const b = h[i]!;
      unsigned += b;
      signed += b > 127 ? b - 256 : b;
    }
    if (stored !== unsigned && stored !== signed) throw badArchive(`the archive has a header with a bad checksum at byte ${this.position - BLOCK}`, op);

    const flag = h[at + 156] === 0 ? '0' : String.fromCharCode(h[at + 156]!);
    const size = numeric(h, at + 124, 12, 'size', op);
    if (!Number.isSafeInteger(size)) throw badArchive('the archive has an entry too large to read', op);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_EXTENDED_HEADER) throw badArchive(`the archive has an extended header of ${size} bytes (at most ${MAX_EXTENDED_HEADER} are read)`, op);
      this.extended = Buffer.alloc(size);
      this.extendedFill = 0;
      this.extendedKind = flag.charCodeAt(0);
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      this.state = State.Extended;
      if (size === 0) this.extendedDone();
      return;
    }

    const magic = h.toString('latin1', at + 257, at + 263);
    const ustar = magic === 'ustar\0'; // POSIX: a prefix field (GNU's magic "ustar  " keeps times there)
    let name = field(h, at, 100);
    if (ustar) {
      const prefix = field(h, at + 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const ext = this.pending;
    if (this.gnuName !== undefined) name = this.gnuName;
    if (ext.path !== undefined) name = ext.path;
    let linkname = field(h, at + 157, 100);
    if (this.gnuLink !== undefined) linkname = this.gnuLink;
    if (ext.linkpath !== undefined) linkname = ext.linkpath;
    const entrySize = ext.size ?? size;
    const header: TarHeader = {
      name,
      type: 'other',
      flag,
      mode: numeric(h, at + 100, 8, 'mode', op),
      uid: ext.uid ?? numeric(h, at + 108, 8, 'uid', op),
      gid: ext.gid ?? numeric(h, at + 116, 8, 'gid', op),
      size: entrySize,
      mtime: ext.mtime ?? numeric(h, at + 136, 12, 'mtime', op),
      linkname,
    };
    this.pending = {};
    this.gnuName = undefined;
    this.gnuLink = undefined;
    switch (flag) {
      case '0':
      case '7':
        header.type = name.endsWith('/') ? 'directory' : 'file'; // a v7 folder: a file named with a slash
        break;
      case '5':
        header.type = 'directory';
        break;
      case '2':
        header.type = 'symlink';
        break;
      case '1':
        header.type = 'link';
        break;
      default:
        header.type = 'other'; // devices, FIFOs, sparse files, vendor types: skipped
    }
    // Links, folders and devices carry no data; a size on them (some writers set one) is skipped.
    this.remaining = entrySize;
    this.padding = (BLOCK - (entrySize % BLOCK)) % BLOCK;
    this.state = entrySize > 0 ? State.Data : State.Header;
    this.handler.entry(header);
  }

  private extendedDone(): void {
    const data = this.extended!;
    this.extended = undefined;
    this.state = this.padding > 0 ? State.Padding : State.Header;
    switch (this.extendedKind) {
      case 0x78: // x
        parsePax(data, this.pending, this.operationId);
        break;
      case 0x4c: // L
        this.gnuName = field(data, 0, data.length);
        break;
      case 0x4b: // K
        this.gnuLink = field(data, 0, data.length);
        break;
      default:
        break; // g: global PAX headers are read and ignored
    }
  }
}
