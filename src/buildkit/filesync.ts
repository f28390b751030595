/**
 * The sender side of fsutil's DiffCopy packet protocol (moby.filesync.v1.FileSync/DiffCopy):
 * one STAT per entry in byte-order depth-first walk (parents first, Go FileMode bits,
 * nanosecond mtimes), an empty STAT to end the listing, then the files the engine asks for
 * (REQ) as 32 KiB DATA chunks closed by an empty DATA, until its FIN (answered with FIN).
 * Excludes (`.dockerignore` syntax, `!` exceptions), include patterns and followpaths come from
 * the call's metadata, as the engine sends them.
 */
import type { Ignore } from '@balena/dockerignore';
import { closeSync, constants as fsc, openSync, promises as fsp, read as readCb, readSync, type BigIntStats } from 'node:fs';
import * as path from 'node:path';
import { couldMatchUnder } from '../operations/build.js';
import { GRPC_CANCELLED, GrpcError, GRPC_INTERNAL, GRPC_INVALID_ARGUMENT, type GrpcCall } from './grpc.js';
import { decodePacket, encodePacket, framedDataPacket, PACKET_DATA, PACKET_ERR, PACKET_FIN, PACKET_REQ, PACKET_STAT, type Stat } from './proto.js';

/** Bytes of file data per DATA packet (as fsutil). */
export const CHUNK = 32 * 1024;
/** Bytes read from a file at once (then sent in CHUNKs). */
const READ_SLICE = 8 * CHUNK;
/** Names of a folder stat'ed at once while walking. */
const STAT_BATCH = 32;
/** Files sent at the same time, their packets interleaved (as fsutil). */
const FILES_IN_FLIGHT = 4;

/** What a `dir-name` serves: a folder, or files held in memory (a Dockerfile given as text). */
export type SyncSource = { kind: 'dir'; root: string } | { kind: 'memory'; files: ReadonlyMap<string, Buffer> };

export type IgnoreFactory = (options?: { ignorecase?: boolean }) => Ignore;

// Go os.FileMode bits
export const GO_DIR = 2 ** 31;
export const GO_SYMLINK = 2 ** 27;
export const GO_DEVICE = 2 ** 26;
export const GO_PIPE = 2 ** 25;
export const GO_SOCKET = 2 ** 24;
export const GO_SETUID = 2 ** 23;
export const GO_SETGID = 2 ** 22;
export const GO_CHARDEV = 2 ** 21;
export const GO_STICKY = 2 ** 20;

/** A POSIX st_mode as Go's os.FileMode (what fsutil sends). */
export function goFileMode(stMode: number): number {
  let m = stMode & 0o777;
  switch (stMode & 0o170000) {
    case 0o040000: m += GO_DIR; break;
    case 0o120000: m += GO_SYMLINK; break;
    case 0o010000: m += GO_PIPE; break;
    case 0o140000: m += GO_SOCKET; break;
    case 0o060000: m += GO_DEVICE; break;
    case 0o020000: m += GO_DEVICE + GO_CHARDEV; break;
  }
  if (stMode & 0o4000) m += GO_SETUID;
  if (stMode & 0o2000) m += GO_SETGID;
  if (stMode & 0o1000) m += GO_STICKY;
  return m;
}

/** Go's FileMode back to POSIX st_mode (the receiving side of local outputs). */
export function posixMode(goMode: number): number {
  let m = goMode & 0o777;
  const has = (bit: number): boolean => Math.floor(goMode / bit) % 2 === 1;
  if (has(GO_DIR)) m |= 0o040000;
  else if (has(GO_SYMLINK)) m |= 0o120000;
  else if (has(GO_PIPE)) m |= 0o010000;
  else if (has(GO_SOCKET)) m |= 0o140000;
  else if (has(GO_DEVICE)) m |= has(GO_CHARDEV) ? 0o020000 : 0o060000;
  else m |= 0o100000;
  if (has(GO_SETUID)) m |= 0o4000;
  if (has(GO_SETGID)) m |= 0o2000;
  if (has(GO_STICKY)) m |= 0o1000;
  return m;
}

/** Byte-wise order of UTF-8 names (Go's string order), not JS's UTF-16 order. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The filter options of one DiffCopy call, read from its metadata. */
export interface SyncFilter {
  includes: string[];
  excludes: string[];
  followPaths: string[];
}

/** Metadata values, decoded when the engine flags them `<key>-encoded` (non-ASCII, buildkit 0.12+). */
export function metadataList(call: Pick<GrpcCall, 'metadata'>, key: string): string[] {
  const values = call.metadata(key);
  if (call.metadata(`${key}-encoded`)[0] !== '1') return values;
  return values.map((v) => {
    try {
      return decodeURIComponent(v.replace(/\+/g, ' '));
    } catch {
      throw new GrpcError(GRPC_INVALID_ARGUMENT, `${key}: a value is not URL-encoded`);
    }
  });
}


function cleanPattern(p: string): string {
  return path.posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
}


/** The path filter of a sync: excludes with exceptions, includes (which keep parent dirs). */
export class PathFilter {
  private readonly exclude: Ignore | undefined;
  private readonly exceptions: string[][];
  private readonly include: Ignore | undefined;
  private readonly includeSplit: string[][];

  constructor(factory: IgnoreFactory, excludes: readonly string[], includes: readonly string[]) {
    const ex = excludes.map((p) => p.trim()).filter((p) => p !== '' && !p.startsWith('#'));
    if (ex.length > 0) {
      this.exclude = factory({ ignorecase: false });
      this.exclude.add(ex);
    }
    this.exceptions = ex.filter((p) => p.startsWith('!')).map((p) => cleanPattern(p.slice(1).trim()).split('/'));
    const inc = includes.map(cleanPattern).filter((p) => p !== '' && p !== '.');
    if (inc.length > 0 || includes.some((p) => cleanPattern(p) === '.')) {
      if (!includes.some((p) => cleanPattern(p) === '.')) {
        this.include = factory({ ignorecase: false });
        this.include.add(inc);
      }
    }
    this.includeSplit = inc.map((p) => p.split('/'));
  }

  /** Is `rel` itself sent (when its parents are)? */
  sends(rel: string): boolean {
    if (this.include && !this.include.ignores(rel)) return false;
    return !this.exclude?.ignores(rel);
  }

  /** Enter folder `rel` (which may not be sent itself)? */
  descend(rel: string): boolean {
    if (this.sends(rel)) return true;
    const dir = rel.split('/');
    const excluded = this.exclude?.ignores(rel) ?? false;
    if (excluded && !this.exceptions.some((e) => couldMatchUnder(e, dir))) return false;
    if (this.include && !this.include.ignores(rel) && !this.includeSplit.some((p) => couldMatchUnder(p, dir))) return false;
    return true;
  }
}

/** followpaths with their symlinks resolved (each target added too), as fsutil's FollowLinks. */
export async function followLinks(root: string, paths: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  const visit = async (p: string, depth: number): Promise<void> => {
    const rel = cleanPattern(p);
    if (rel === '' || rel === '.' || rel.startsWith('../') || out.has(rel)) return;
    out.add(rel);
    if (depth > 255) return;
    const st = await fsp.lstat(path.join(root, ...rel.split('/'))).catch(() => undefined);
    if (!st?.isSymbolicLink()) return;
    const target = await fsp.readlink(path.join(root, ...rel.split('/')));
    const next = target.startsWith('/') ? target : path.posix.join(path.posix.dirname(rel), target);
    await visit(next, depth + 1);
  };
  for (const p of paths) await visit(p, 0);
  return [...out];
}

/** One entry to send: its stat, and where its data is read from (regular files only). */
export interface SyncEntry {
  stat: Stat;
  /** Absolute path of a regular file, or its content when held in memory. */
  data?: string | Buffer | undefined;
}

function statOf(rel: string, st: BigIntStats, linkname: string): Stat {
  const mode = goFileMode(Number(st.mode));
  const isDir = (Number(st.mode) & 0o170000) === 0o040000;
  const isDev = (Number(st.mode) & 0o170000) === 0o060000 || (Number(st.mode) & 0o170000) === 0o020000;
  const rdev = Number(st.rdev);
  return {
    path: rel,
    mode,
    uid: 0,
    gid: 0,
    size: isDir ? 0 : (Number(st.mode) & 0o170000) === 0o120000 ? Buffer.byteLength(linkname) : Number(st.size),
    modTime: st.mtimeNs,
    linkname,
    devmajor: isDev ? Math.floor(rdev / 256) & 0xfff : 0,
    devminor: isDev ? (rdev & 0xff) | ((rdev >> 12) & 0xfff00) : 0,
    xattrs: new Map(),
  };
}

/**
 * The entries of a folder, in the order fsutil sends them: depth first, each folder's names in
 * byte order, parents before children (a folder not sent itself is sent before its first sent
 * child). Hard links after the first: the first one's path as linkname, size 0. Sockets are
 * skipped. Only the folders on the current path are held.
 */
export async function* walkSource(source: SyncSource, filter: PathFilter): AsyncGenerator<SyncEntry, void, undefined> {
  if (source.kind === 'memory') {
    const now = BigInt(Date.now()) * 1_000_000n;
    const names = [...source.files.keys()].sort(compareBytes);
    for (const name of names) {
      if (!filter.sends(name)) continue;
      const data = source.files.get(name)!;
      yield { stat: { path: name, mode: 0o644, uid: 0, gid: 0, size: data.length, modTime: now, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() }, data };
    }
    return;
  }
  const seen = new Map<string, string>();
  const pending: SyncEntry[] = [];
  async function* walk(abs: string, relDir: string): AsyncGenerator<SyncEntry, void, undefined> {
    const names: string[] = [];
    const dir = await fsp.opendir(abs);
    for await (const d of dir) names.push(d.name);
    names.sort(compareBytes);
    // lstat a batch of names at once (the thread pool works in parallel), then walk them in order
    const lstat = (name: string): Promise<BigIntStats | undefined> =>
      fsp.lstat(path.join(abs, name), { bigint: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined; // removed while walking
        throw err;
      });
    let batch: Promise<BigIntStats | undefined>[] = [];
    for (let i = 0; i < names.length; i++) {
      if (i % STAT_BATCH === 0) {
        batch = names.slice(i, i + STAT_BATCH).map(lstat);
        for (const p of batch) p.catch(() => undefined);
      }
      const name = names[i]!;
      const childAbs = path.join(abs, name);
      const rel = relDir ? `${relDir}/${name}` : name;
      const st = await batch[i % STAT_BATCH]!;
      if (st === undefined) continue;
      const kind = Number(st.mode) & 0o170000;
      if (kind === 0o140000) continue;
      if (kind === 0o040000) {
        const sent = filter.sends(rel);
        if (!sent && !filter.descend(rel)) continue;
        const entry: SyncEntry = { stat: statOf(rel, st, '') };
        if (sent) {
          yield* flush();
          yield entry;
        } else {
          pending.push(entry);
        }
        const depth = pending.length;
        yield* walk(childAbs, rel);
        if (pending.length >= depth && !sent) pending.pop();
        continue;
      }
      if (!filter.sends(rel)) continue;
      let linkname = '';
      let data: string | undefined;
      if (kind === 0o120000) {
        linkname = await fsp.readlink(childAbs);
      } else if (kind === 0o100000) {
        data = childAbs;
        if (st.nlink > 1n) {
          const key = `${st.dev}:${st.ino}`;
          const first = seen.get(key);
          if (first !== undefined) {
            linkname = first;
            data = undefined;
          } else {
            seen.set(key, rel);
          }
        }
      }
      const stat = statOf(rel, st, linkname);
      if (kind === 0o100000 && linkname !== '') stat.size = 0;
      yield* flush();
      yield { stat, data };
    }
  }
  function* flush(): Generator<SyncEntry, void, undefined> {
    for (const p of pending.splice(0)) yield p;
  }
  yield* walk(source.root, '');
}

function packet(type: number, extra: { stat?: Stat; id?: number; data?: Buffer } = {}): Buffer {
  return encodePacket({ type, stat: extra.stat, id: extra.id ?? 0, data: extra.data ?? Buffer.alloc(0) });
}

/**
 * Frame buffers for DATA packets, reused once the HTTP/2 stream has written them. A new 32 KiB
 * buffer per packet is external memory V8 reclaims late (it collects on ~64 MB of external
 * growth): the process grew by ~64 MB on a 200 MB context. At most POOL_MAX are kept.
 */
const FRAME_SIZE = CHUNK + 32;
const POOL_MAX = 64;
const framePool: Buffer[] = [];
const takeFrame = (): Buffer => framePool.pop() ?? Buffer.allocUnsafeSlow(FRAME_SIZE);
const giveFrame = (b: Buffer): void => void (framePool.length < POOL_MAX && framePool.push(b));

/** Sends one DATA packet from a pooled frame buffer. */
function sendData(call: GrpcCall, id: number, data: Buffer): Promise<void> {
  const frame = takeFrame();
  return call.sendFramed(framedDataPacket(id, data, frame), () => giveFrame(frame));
}

/** `fs.read` on the thread pool: the number of bytes read. */
const readAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: null): Promise<number> =>
  new Promise((resolve, reject) => readCb(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));

/** Reads one file in CHUNK-sized DATA packets, then the empty DATA that ends it. */
async function sendFile(call: GrpcCall, id: number, data: string | Buffer, scratch: Buffer): Promise<void> {
  if (typeof data !== 'string') {
    for (let at = 0; at < data.length; at += CHUNK) await call.send(packet(PACKET_DATA, { id, data: data.subarray(at, at + CHUNK) }));
    await call.send(packet(PACKET_DATA, { id }));
    return;
  }
  // The open, the first read and the close are synchronous: most files fit in one READ_SLICE, and
  // three thread-pool round trips per file (open, read, close) left the sender idle most of the time
  // on a context of thousands of small files. Further slices of a big file are read on the pool.
  const fd = openSync(data, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0));
  try {
    for (let first = true; ; first = false) {
      // one read of up to READ_SLICE bytes into the worker's buffer, copied once into packets
      const buf = scratch;
      const bytesRead = first ? readSync(fd, buf, 0, READ_SLICE, null) : await readAsync(fd, buf, 0, READ_SLICE, null);
      if (bytesRead === 0) break;
      for (let at = 0; at < bytesRead; at += CHUNK) await sendData(call, id, buf.subarray(at, Math.min(at + CHUNK, bytesRead)));
      if (bytesRead < READ_SLICE) break;
    }
  } finally {
    try {
      closeSync(fd);
    } catch {
      // nothing to do: the file was read (or its error is the one thrown)
    }
  }
  await call.send(packet(PACKET_DATA, { id }));
}

/**
 * Serves one DiffCopy call: the walk and the file requests run together (both write to the
 * call, in whole packets); the call ends after the engine's FIN. A failure is sent as ERR and
 * reported as the call's status.
 */
export async function serveDiffCopy(call: GrpcCall, source: SyncSource, filter: PathFilter): Promise<void> {
  const files: (string | Buffer | undefined)[] = [];
  const queue: number[] = [];
  const waiting: (() => void)[] = [];
  let fin = false;
  let failure: unknown;
  const poke = (): void => {
    for (const w of waiting.splice(0)) w();
  };
  call.signal.addEventListener('abort', poke, { once: true });

  const reader = (async () => {
    for await (const m of call.messages()) {
      const p = decodePacket(m);
      if (p.type === PACKET_REQ) {
        queue.push(p.id);
        poke();
      } else if (p.type === PACKET_FIN) {
        // keep reading (not breaking out: that would reset the stream) until the engine ends its side
        fin = true;
        poke();
      } else if (p.type === PACKET_ERR) {
        throw new GrpcError(GRPC_CANCELLED, `error from receiver: ${p.data.toString('utf8')}`);
      }
    }
    if (!fin) throw new GrpcError(GRPC_CANCELLED, 'the receiver ended the call before FIN');
  })();
  reader.catch((err: unknown) => {
    failure ??= err;
    poke();
  });

  let walked = false;
  const walker = (async () => {
    for await (const e of walkSource(source, filter)) {
      if (failure !== undefined) return;
      files.push(e.data);
      await call.send(packet(PACKET_STAT, { stat: e.stat }));
    }
    await call.send(packet(PACKET_STAT));
    walked = true;
    poke();
  })();
  walker.catch((err: unknown) => {
    failure ??= err;
    poke();
  });

  const worker = async (): Promise<void> => {
    const scratch = Buffer.allocUnsafe(READ_SLICE);
    for (;;) {
      if (failure !== undefined) return;
      const id = queue.shift();
      if (id !== undefined) {
        const data = files[id];
        if (data === undefined) throw new GrpcError(GRPC_INVALID_ARGUMENT, `invalid file request ${id}`);
        await sendFile(call, id, data, scratch);
        continue;
      }
      if (fin && walked) return;
      if (call.signal.aborted) throw new GrpcError(GRPC_CANCELLED, 'the call was closed');
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
  try {
    const workers = Array.from({ length: FILES_IN_FLIGHT }, () =>
      worker().catch((err: unknown) => {
        failure ??= err;
        poke();
      }),
    );
    await Promise.all(workers);
    if (failure !== undefined) throw failure;
    await call.send(packet(PACKET_FIN));
  } catch (err) {
    if (!call.signal.aborted) {
      const message = err instanceof Error ? err.message : String(err);
      await call.send(packet(PACKET_ERR, { data: Buffer.from(message, 'utf8') })).catch(() => undefined);
    }
    if (err instanceof GrpcError) throw err;
    throw new GrpcError(GRPC_INTERNAL, `sending files failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
