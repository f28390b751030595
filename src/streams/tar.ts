/**
 * Tar helpers shared by the archive and build operations: a sorted directory walker, a packer
 * that turns files, folders and symlinks into tar bytes, and a safe extractor that never writes
 * outside its target directory and never follows a symlink while writing. The format itself
 * (headers, PAX, GNU long names) is in tar-format.ts.
 *
 * Speed: small files (up to SYNC_FILE_MAX) are read and written with one synchronous
 * open/read/close (or open/write/fchmod/futimes/close) each, straight into (or out of) the tar
 * bytes: no copy, no promise, no thread-pool hop per file. The event loop gets its turn after each
 * BATCH of packed bytes and each chunk of extracted input, so it is never held for long. Large
 * files are read in READ_CHUNK pieces with one read ahead, and written with writev of what has
 * arrived, bounded by WRITE_QUEUE_MAX; backpressure holds both sides.
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DockerError, ValidationError } from '../errors.js';
import { streamFailure } from './failure.js';
import { BLOCK, TarParser, headerLength, writeHeader, type HeaderInput, type TarHandler, type TarHeader } from './tar-format.js';

const FS = fs.constants;
const fsp = fs.promises;

/** Packed bytes gathered before they are handed to the stream. */
const BATCH = 1024 * 1024;
/** Files up to this size are read (and written) with one synchronous call. */
const SYNC_FILE_MAX = 256 * 1024;
/** Larger files are read in pieces of this size. */
const READ_CHUNK = 512 * 1024;
/** Bytes the packed stream buffers ahead of its reader. */
const HIGH_WATER = 1024 * 1024;
/** Most bytes of a large extracted file waiting to be written before the input is paused. */
const WRITE_QUEUE_MAX = 8 * 1024 * 1024;
/** Extracted files up to this size are gathered and written with one write. */
const SMALL_WRITE_MAX = 1024 * 1024;
/** Most small extracted files being written at once (the input pauses beyond). */
const SMALL_IN_FLIGHT = 32;

/** A path found by walkTree: `rel` is relative to the walked root, with forward slashes. */
export interface WalkEntry {
  readonly rel: string;
  readonly abs: string;
  /** lstat: a symlink is reported as a symlink, never followed. */
  readonly stat: Stats;
}

/** Names sorted by code unit, the same order on every machine. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function lstatOrNull(p: string): Stats | null {
  return fs.lstatSync(p, { throwIfNoEntry: false }) ?? null;
}

/**
 * Walks a directory depth-first, each folder's names sorted, parents before their children. The
 * root itself is not yielded. `descend(rel)` decides whether to enter a subdirectory (default:
 * always). Folders are listed with `fs.promises.opendir`; each name is lstat'ed synchronously
 * (one quick call each). Only the names of the folders on the current path are held.
 */
export async function* walkTree(root: string, descend?: (rel: string, stat: Stats) => boolean, relRoot = ''): AsyncGenerator<WalkEntry, void, undefined> {
  const names: string[] = [];
  const dir = await fsp.opendir(root, { bufferSize: 256 });
  for await (const d of dir) names.push(d.name);
  names.sort(byName);
  for (const name of names) {
    const abs = path.join(root, name);
    const rel = relRoot ? `${relRoot}/${name}` : name;
    const stat = lstatOrNull(abs);
    if (stat === null) continue; // removed while walking
    yield { rel, abs, stat };
    if (stat.isDirectory() && (!descend || descend(rel, stat))) yield* walkTree(abs, descend, rel);
  }
}

function fileChanged(message: string): DockerError {
  return new DockerError(message, { code: 'FILE_CHANGED' });
}

/** Reads `length` bytes of `fd` at `position` into a new buffer; fails if the file ends first. */
function readPiece(fd: number, position: number, length: number, abs: string, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  return new Promise<Buffer>((resolve, reject) => {
    let got = 0;
    const more = (): void => {
      fs.read(fd, buf, got, length - got, position + got, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(fileChanged(`${abs} shrank while it was being read (${position + got} of ${size} bytes)`));
        got += n;
        if (got === length) resolve(buf);
        else more();
      });
    };
    more();
  });
}

/**
 * Produces tar bytes into a Node Readable. Entries are added one at a time (`add`); bytes are
 * gathered into BATCH-sized buffers and pushed, and `add` waits whenever the stream holds
 * HIGH_WATER bytes its reader has not taken.
 */
export class TarPack {
  readonly stream: Readable;
  private batch = Buffer.allocUnsafe(BATCH);
  private fill = 0;
  private wake: (() => void) | undefined;
  private wanted = true;
  /** Files with several links already packed: `dev:ino` -> archive name. */
  private readonly links = new Map<string, string>();

  /** `onFirstRead` runs when the stream is first read: the producer starts then. */
  constructor(onFirstRead?: () => void) {
    let first = onFirstRead;
    this.stream = new Readable({
      highWaterMark: HIGH_WATER,
      read: () => {
        this.wanted = true;
        if (first) {
          const start = first;
          first = undefined;
          start();
        }
        this.release();
      },
      destroy: (err, callback) => {
        this.release();
        callback(err);
      },
    });
  }

  private release(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private checkOpen(): void {
    if (this.stream.destroyed) throw new DockerError('the archive stream was closed before it was complete', { code: 'STREAM_FAILED' });
  }

  /** Hands `buf` to the stream; waits for its reader when it is full, else lets the event loop run once. */
  private async push(buf: Buffer): Promise<void> {
    this.checkOpen();
    if (this.stream.push(buf)) {
      await nextTurn();
    } else {
      this.wanted = false;
      await new Promise<void>((resolve) => {
        if (this.wanted || this.stream.destroyed) resolve();
        else this.wake = resolve;
      });
    }
    this.checkOpen();
  }

  /** Pushes the gathered bytes (a small remainder as a copy, so a mostly empty batch is not held). */
  private async flush(): Promise<void> {
    if (this.fill === 0) return;
    let out: Buffer;
    if (this.fill >= BATCH / 2) {
      out = this.batch.subarray(0, this.fill);
      this.batch = Buffer.allocUnsafe(BATCH);
    } else {
      out = Buffer.allocUnsafe(this.fill);
      this.batch.copy(out, 0, 0, this.fill);
    }
    this.fill = 0;
    await this.push(out);
  }

  /** Makes room for `n` bytes in the batch (n <= BATCH). */
  private async room(n: number): Promise<void> {
    if (this.fill + n > BATCH) await this.flush();
  }

  private async header(input: HeaderInput): Promise<void> {
    const length = headerLength(input);
    if (length > BATCH) {
      // a name of most of a megabyte: its own buffer
      await this.flush();
      const out = Buffer.allocUnsafe(length);
      writeHeader(out, 0, input);
      await this.push(out);
      return;
    }
    await this.room(length);
    this.fill = writeHeader(this.batch, this.fill, input);
  }

  private async zeros(n: number): Promise<void> {
    if (n === 0) return;
    await this.room(n);
    this.batch.fill(0, this.fill, this.fill + n);
    this.fill += n;
  }

  /**
   * Adds a file, folder or symlink under `name` (a folder gets a trailing slash). Modes and
   * mtimes are kept, owners are 0:0. A file with several links seen before is added as a hard
   * link to the first name it was packed under. Files are read from a descriptor opened with O_NOFOLLOW (and
   * O_NONBLOCK, so a FIFO swapped in is not waited on): a file replaced by a symlink or anything
   * else after the walk is refused (FILE_CHANGED), not followed. Sockets, FIFOs and devices are
   * skipped: returns false for them.
   */
  async add(name: string, abs: string, stat: Stats): Promise<boolean> {
    const mode = stat.mode & 0o7777;
    if (stat.isDirectory()) {
      await this.header({ name: name.endsWith('/') ? name : `${name}/`, type: 'directory', mode, size: 0, mtimeMs: stat.mtimeMs });
      return true;
    }
    if (stat.isSymbolicLink()) {
      await this.header({ name, type: 'symlink', mode, size: 0, mtimeMs: stat.mtimeMs, linkname: fs.readlinkSync(abs) });
      return true;
    }
    if (!stat.isFile()) return false;
    if (stat.nlink > 1) {
      // a hard link to a file already in the archive: a link entry, as tar and the docker CLI write
      const key = `${stat.dev}:${stat.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        await this.header({ name, type: 'link', mode, size: 0, mtimeMs: stat.mtimeMs, linkname: first });
        return true;
      }
      this.links.set(key, name);
    }
    const fd = fs.openSync(abs, FS.O_RDONLY | FS.O_NOFOLLOW | FS.O_NONBLOCK);
    let reading: Promise<unknown> | undefined;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw fileChanged(`${abs} is no longer a regular file`);
      const size = st.size;
      const input: HeaderInput = { name, type: 'file', mode: st.mode & 0o7777, size, mtimeMs: st.mtimeMs };
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (size <= SYNC_FILE_MAX && headerLength(input) + padded <= BATCH) {
        // header and data straight into the batch: one read, no copy
        await this.room(headerLength(input) + padded);
        const at = writeHeader(this.batch, this.fill, input);
        let got = 0;
        while (got < size) {
          const n = fs.readSync(fd, this.batch, at + got, size - got, got);
          if (n === 0) throw fileChanged(`${abs} shrank while it was being read (${got} of ${size} bytes)`);
          got += n;
        }
        this.batch.fill(0, at + size, at + padded);
        this.fill = at + padded;
        return true;
      }
      await this.header(input);
      await this.flush();
      let position = 0;
      let next: Promise<Buffer> | undefined = readPiece(fd, 0, Math.min(READ_CHUNK, size), abs, size);
      reading = next;
      while (next) {
        const piece: Buffer = await next;
        position += piece.length;
        next = position < size ? readPiece(fd, position, Math.min(READ_CHUNK, size - position), abs, size) : undefined;
        if (next) next.catch(() => undefined);
        reading = next;
        await this.push(piece);
      }
      await this.zeros(padded - size);
      return true;
    } finally {
      // a read still in flight (the stream failed) finishes before its descriptor is closed
      if (reading) await reading.catch(() => undefined);
      fs.closeSync(fd);
    }
  }

  /** Ends the archive: the two zero blocks, then the end of the stream. */
  async finish(): Promise<void> {
    await this.zeros(2 * BLOCK);
    await this.flush();
    this.checkOpen();
    this.stream.push(null);
  }
}

/** Adds a path to `pack` (see TarPack.add). */
export function packPath(pack: TarPack, name: string, abs: string, stat: Stats): Promise<boolean> {
  return pack.add(name, abs, stat);
}

export interface PackStream {
  /** The tar bytes, as a Node Readable; destroying it stops the producer. */
  readonly stream: Readable;
  /** Settles when the producer is done: rejects with the producer's own error (e.g. EACCES). */
  readonly done: Promise<void>;
}

/**
 * Runs `produce` against a fresh TarPack and exposes the archive as a Node Readable. The producer
 * starts when the stream is first read, and works at most HIGH_WATER bytes (plus a batch and a
 * read-ahead piece) ahead of the reader. A failure of `produce` destroys the stream with that
 * error.
 */
export function packStream(produce: (pack: TarPack) => Promise<void>): PackStream {
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined);
  let started = false;
  const pack: TarPack = new TarPack(() => {
    started = true;
    void (async () => {
      try {
        await produce(pack);
        await pack.finish();
        settle.resolve();
      } catch (err) {
        stream.destroy(err as Error);
        settle.reject(err);
      }
    })();
  });
  const stream = pack.stream;
  stream.on('error', () => undefined); // the consumer sees the error through its own listener or `done`
  // a stream destroyed before it was read: nothing was produced, nothing failed
  stream.once('close', () => {
    if (!started) settle.resolve();
  });
  return { stream, done };
}

/** An entry the extractor refuses: it would land outside the target, or write through a symlink. */
export function unsafeArchive(message: string, operationId?: string): DockerError {
  return new DockerError(message, { code: 'UNSAFE_ARCHIVE', ...(operationId ? { operationId } : {}) });
}

/** A failure while reading an archive: dockhand's errors pass, others become STREAM_FAILED with cause. */
function archiveFailure(err: unknown, operationId: string | undefined): Error {
  if (err instanceof DockerError) return err;
  if (operationId) return streamFailure(err, operationId, undefined);
  return new DockerError(`the archive stream failed: ${(err as Error)?.message ?? String(err)}`, { code: 'STREAM_FAILED', cause: err });
}

/** An entry that would replace a directory with a non-directory (or the reverse). */
function conflict(message: string, operationId?: string): DockerError {
  return new DockerError(message, { code: 'COPY_CONFLICT', ...(operationId ? { operationId } : {}) });
}

export interface ExtractOptions {
  /**
   * Every entry must lie under this first path component (`.` accepts any). Entries elsewhere
   * are refused as unsafe: the archive of one container path holds nothing else. `/` is the
   * archive of a container's root, whose names (only) are absolute: they are read as relative.
   */
  base?: string;
  /** Replaces the first path component `base` with this name (the `docker cp` rename). */
  renameTo?: string;
  /** For error messages. */
  operationId?: string;
}

/** The components of an entry name; refuses absolute names, `..` and NUL. */
function entryParts(name: string, operationId: string | undefined): string[] {
  if (name.includes('\0')) throw unsafeArchive(`archive entry ${JSON.stringify(name)} contains a NUL byte`, operationId);
  if (name.startsWith('/')) throw unsafeArchive(`archive entry ${JSON.stringify(name)} is an absolute path`, operationId);
  const raw = name.split('/');
  if (raw.includes('..')) throw unsafeArchive(`archive entry ${JSON.stringify(name)} contains '..'`, operationId);
  return raw.filter((p) => p !== '' && p !== '.');
}

/**
 * Applies `base` / `renameTo` to a name already checked by entryParts. With base `.` (the
 * archive of `dir/.`), every entry is accepted and `renameTo` becomes its first component.
 */
function rebase(name: string, opts: ExtractOptions): string {
  const base = opts.base;
  if (base === undefined) return name;
  const raw = name.split('/').filter((p) => p !== '');
  if (base === '.') {
    while (raw[0] === '.') raw.shift();
    if (opts.renameTo !== undefined) raw.unshift(opts.renameTo);
    return raw.join('/');
  }
  while (raw.length > 1 && raw[0] === '.') raw.shift(); // a leading "./" some writers add
  if (raw[0] !== base) throw unsafeArchive(`archive entry ${JSON.stringify(name)} is not under ${JSON.stringify(base)}`, opts.operationId);
  if (opts.renameTo !== undefined) raw[0] = opts.renameTo;
  return raw.join('/');
}

/** A large file's data is written once this much has arrived (or at its end): few, large writes. */
const WRITE_BATCH_MIN = 1024 * 1024;

/**
 * Writes a file as its data arrives: one writev of everything queued at a time, started once
 * WRITE_BATCH_MIN bytes wait (or when `until` is called), so 64 KB input chunks make 1 MB writes.
 */
export class FileWriter {
  private queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  private failure: unknown;
  private waiters: { resolve: () => void; reject: (err: unknown) => void; below: number }[] = [];

  constructor(readonly fd: number) {}

  /** Bytes received and not written yet. */
  get pending(): number {
    return this.queued;
  }

  push(piece: Buffer): void {
    if (this.failure !== undefined) return;
    this.queue.push(piece);
    this.queued += piece.length;
    if (!this.writing && this.queued >= WRITE_BATCH_MIN) this.write();
  }

  private write(): void {
    const bufs = this.queue;
    this.queue = [];
    this.writing = true;
    fs.writev(this.fd, bufs, (err, written) => {
      this.writing = false;
      if (err) {
        this.failure = err;
        this.queue = [];
        this.queued = 0;
      } else {
        this.queued -= written;
        // a short write: put back what was not written, in front
        let total = 0;
        for (const b of bufs) total += b.length;
        if (written < total) {
          let skip = written;
          const rest: Buffer[] = [];
          for (const b of bufs) {
            if (skip >= b.length) skip -= b.length;
            else {
              rest.push(skip > 0 ? b.subarray(skip) : b);
              skip = 0;
            }
          }
          this.queue = rest.concat(this.queue);
        }
      }
      if (this.queue.length > 0 && (this.queued >= WRITE_BATCH_MIN || this.waiters.length > 0)) this.write();
      this.settle();
    });
  }

  private settle(): void {
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.failure !== undefined) w.reject(this.failure);
      else if (this.queued <= w.below && (w.below > 0 || !this.writing)) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  /** Resolves once at most `below` bytes wait (0: all written); rejects with a write error. */
  until(below: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject, below });
      if (!this.writing && this.queue.length > 0 && this.failure === undefined) this.write();
      this.settle();
    });
  }
}

/** Why a source closed without its end: its own error, else a premature close. */
function closedEarly(source: Readable): unknown {
  return source.errored ?? Object.assign(new Error('the stream was closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Reads `source` with 'data' listeners (no promise and no copy per chunk, as the async iterator's
 * read() would make): `end` at its end, `fail` on its error or a close before its end. A source
 * that already ended or was destroyed before the call fires none of its events again: `end` or
 * `fail` is called at once. `stop()` removes the listeners; the 'error' one stays, so a later
 * error of a destroyed source cannot crash the process.
 */
function follow(source: Readable, on: { data(chunk: Buffer): void; end(): void; fail(err: unknown): void }): { stop(): void } {
  const onClose = (): void => {
    if (!source.readableEnded) on.fail(closedEarly(source));
  };
  const following = {
    stop(): void {
      source.off('data', on.data);
      source.off('end', on.end);
      source.off('close', onClose);
    },
  };
  source.on('error', on.fail);
  if (source.readableEnded) on.end();
  else if (source.destroyed) on.fail(closedEarly(source));
  else {
    source.on('data', on.data);
    source.on('end', on.end);
    source.on('close', onClose);
  }
  return following;
}

/** Most bytes of a streamed answer held in memory, unwritten, before the answer is paused. */
const SAVE_QUEUE_MAX = 4 * 1024 * 1024;

/**
 * Writes all of `source` to the open descriptor `fd` (from its current position), in writes of
 * at least WRITE_BATCH_MIN bytes, pausing `source` while more than SAVE_QUEUE_MAX bytes wait for
 * the disk. Resolves once everything is written; rejects after any write in flight has finished
 * (so `fd` can be closed) with the write's system error (the source is then destroyed), or the
 * source's failure as a dockhand stream error (STREAM_FAILED, AbortError, ...).
 */
export function writeStreamToFd(source: Readable, fd: number, operationId: string): Promise<void> {
  const writer = new FileWriter(fd);
  return new Promise<void>((resolve, reject) => {
    let finished = false;
    let waiting = false;
    let following: { stop(): void } | undefined;
    const failed = (err: unknown): void => finish(streamFailure(err, operationId, undefined));
    const finish = (err?: unknown): void => {
      if (finished) return;
      finished = true;
      following?.stop();
      if (err === undefined) return resolve();
      source.destroy();
      writer.until(0).then(() => reject(err), () => reject(err));
    };
    const onData = (chunk: Buffer): void => {
      writer.push(chunk);
      if (!waiting && writer.pending > SAVE_QUEUE_MAX) {
        waiting = true;
        source.pause();
        writer.until(SAVE_QUEUE_MAX / 2).then(() => {
          waiting = false;
          if (!finished) source.resume();
        }, finish);
      }
    };
    const onEnd = (): void => {
      writer.until(0).then(() => finish(), finish);
    };
    following = follow(source, { data: onData, end: onEnd, fail: failed });
  });
}

/** Sets mode and times on an open file, then closes it (the descriptor is closed on failure too). */
function finishFileSync(fd: number, mode: number, mtime: number): void {
  try {
    fs.fchmodSync(fd, mode);
    fs.futimesSync(fd, mtime, mtime);
  } finally {
    fs.closeSync(fd);
  }
}

interface PendingDir {
  target: string;
  mode: number;
  mtime: number;
}

/** The entry handler of extractTar: every rule of its description, with synchronous metadata calls. */
class Extractor implements TarHandler {
  readonly dirs: PendingDir[] = [];
  /** Folders made or found (lstat) to be real folders during this extraction. */
  private readonly verified = new Set<string>();
  /** What to do with the current entry's data. */
  private sink: { kind: 'skip' } | { kind: 'small'; target: string; name: string; header: TarHeader; buf: Buffer | undefined; fill: number } | { kind: 'large'; writer: FileWriter; header: TarHeader } = { kind: 'skip' };
  /** Something to wait for before more input is parsed (set with parser.paused). */
  wait: Promise<void> | undefined;
  /** An open large file, closed by abort() after a failure. */
  private open: FileWriter | undefined;
  /** Small files being written on the thread pool, the first failure among them, and a waiter. */
  private inFlight = 0;
  private inFlightBytes = 0;
  private failure: unknown;
  private drained: (() => void) | undefined;
  parser!: TarParser;

  constructor(
    private readonly top: string,
    private readonly opts: ExtractOptions,
    private readonly fromRoot: boolean,
  ) {
    this.verified.add(top);
  }

  private get op(): string | undefined {
    return this.opts.operationId;
  }

  /** Resolves an archive name to its absolute target, creating and checking its parent folders. */
  private place(archived: string, create: boolean): { target: string; parts: string[] } {
    const op = this.op;
    let name = archived;
    if (this.fromRoot) {
      if (!name.startsWith('/')) throw unsafeArchive(`archive entry ${JSON.stringify(name)} is not under "/"`, op);
      name = `.${name}`;
    }
    entryParts(name, op);
    const parts = entryParts(rebase(name, this.opts), op);
    const target = path.join(this.top, ...parts);
    const rel = path.relative(this.top, target);
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) throw unsafeArchive(`archive entry ${JSON.stringify(name)} resolves outside the target`, op);
    let at = this.top;
    for (let i = 0; i < parts.length - 1; i++) {
      at = path.join(at, parts[i]!);
      if (this.verified.has(at)) continue;
      const st = lstatOrNull(at);
      if (st === null) {
        if (!create) throw unsafeArchive(`archive entry ${JSON.stringify(name)} refers to a missing path`, op);
        fs.mkdirSync(at, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw unsafeArchive(`archive entry ${JSON.stringify(name)} would be written through the symbolic link ${JSON.stringify(path.relative(this.top, at))}`, op);
      } else if (!st.isDirectory()) {
        throw conflict(`archive entry ${JSON.stringify(name)}: ${JSON.stringify(path.relative(this.top, at))} is not a directory`, op);
      }
      this.verified.add(at);
    }
    return { target, parts };
  }

  /** Removes a non-directory in the way; refuses to replace a directory. */
  private clear(target: string, name: string): void {
    const st = lstatOrNull(target);
    if (st === null) return;
    if (st.isDirectory()) throw conflict(`cannot overwrite directory ${JSON.stringify(target)} with non-directory ${JSON.stringify(name)}`, this.op);
    fs.unlinkSync(target);
  }

  /** A non-directory entry's target; the target folder itself cannot be replaced. */
  private leaf(name: string): string {
    const { target, parts } = this.place(name, true);
    if (parts.length === 0) throw conflict(`archive entry ${JSON.stringify(name)} would replace the target directory`, this.op);
    return target;
  }

  private createFile(target: string, name: string): number {
    this.clear(target, name);
    return fs.openSync(target, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, 0o600);
  }

  /**
   * Creates the file here and now (the safety checks and O_EXCL | O_NOFOLLOW are synchronous),
   * then writes it, sets its mode and times and closes it on the thread pool, up to
   * SMALL_IN_FLIGHT files at a time, so the input keeps flowing while the disk works.
   */
  private writeSmall(target: string, name: string, header: TarHeader, data: Buffer): void {
    const fd = this.createFile(target, name);
    const mode = header.mode & 0o7777;
    const mtime = header.mtime;
    this.inFlight++;
    this.inFlightBytes += data.length;
    const done = (err: NodeJS.ErrnoException | null): void => {
      this.inFlight--;
      this.inFlightBytes -= data.length;
      if (err && this.failure === undefined) this.failure = err;
      const wake = this.drained;
      if (wake && (this.belowHalf() || this.inFlight === 0 || this.failure !== undefined)) {
        this.drained = undefined;
        wake();
      }
    };
    const close = (first: NodeJS.ErrnoException | null): void => fs.close(fd, (err) => done(first ?? err));
    const write = (off: number): void => {
      if (off >= data.length) {
        fs.fchmod(fd, mode, (err) => {
          if (err) return close(err);
          fs.futimes(fd, mtime, mtime, close);
        });
        return;
      }
      fs.write(fd, data, off, data.length - off, null, (err, n) => (err ? close(err) : write(off + n)));
    };
    write(0);
    if (this.inFlight >= SMALL_IN_FLIGHT || this.inFlightBytes >= WRITE_QUEUE_MAX) {
      this.wait = this.settled(false);
      this.parser.paused = true;
    }
  }

  private belowHalf(): boolean {
    return this.inFlight < SMALL_IN_FLIGHT / 2 && this.inFlightBytes < WRITE_QUEUE_MAX / 2;
  }

  /** Resolves when fewer files are in flight (`all`: none); rejects with the first write error. */
  settled(all: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.failure !== undefined) return reject(this.failure);
        if (this.inFlight === 0 || (!all && this.belowHalf())) return resolve();
        this.drained = check;
      };
      check();
    });
  }

  entry(h: TarHeader): void {
    const op = this.op;
    const name = h.name;
    this.sink = { kind: 'skip' };
    switch (h.type) {
      case 'directory': {
        const { target } = this.place(name, true);
        if (!this.verified.has(target)) {
          const st = lstatOrNull(target);
          if (st === null) fs.mkdirSync(target, { mode: 0o700 });
          else if (st.isSymbolicLink()) throw unsafeArchive(`archive entry ${JSON.stringify(name)} would replace the symbolic link ${JSON.stringify(target)}`, op);
          else if (!st.isDirectory()) throw conflict(`cannot overwrite non-directory ${JSON.stringify(target)} with directory ${JSON.stringify(name)}`, op);
          this.verified.add(target);
        }
        this.dirs.push({ target, mode: h.mode & 0o7777, mtime: h.mtime });
        return;
      }
      case 'file': {
        const target = this.leaf(name);
        if (h.size === 0) {
          this.writeSmall(target, name, h, Buffer.alloc(0));
        } else if (h.size <= SMALL_WRITE_MAX) {
          this.sink = { kind: 'small', target, name, header: h, buf: undefined, fill: 0 };
        } else {
          const writer = new FileWriter(this.createFile(target, name));
          this.open = writer;
          this.sink = { kind: 'large', writer, header: h };
        }
        return;
      }
      case 'symlink': {
        const target = this.leaf(name);
        this.clear(target, name);
        fs.symlinkSync(h.linkname, target);
        try {
          fs.lutimesSync(target, h.mtime, h.mtime);
        } catch {
          // not every system sets a symlink's times
        }
        return;
      }
      case 'link': {
        const target = this.leaf(name);
        const { target: existing } = this.place(h.linkname, false);
        const st = lstatOrNull(existing);
        if (st === null || st.isDirectory()) throw unsafeArchive(`hard link ${JSON.stringify(name)} points to ${JSON.stringify(h.linkname)}, which is not a file of the archive`, op);
        this.clear(target, name);
        fs.linkSync(existing, target);
        return;
      }
      default:
        return; // devices, FIFOs: skipped
    }
  }

  data(piece: Buffer, last: boolean): void {
    const sink = this.sink;
    if (sink.kind === 'skip') return;
    if (sink.kind === 'small') {
      if (sink.buf === undefined && last) {
        this.sink = { kind: 'skip' };
        this.writeSmall(sink.target, sink.name, sink.header, piece); // all of it in one piece: no copy
        return;
      }
      sink.buf ??= Buffer.allocUnsafe(sink.header.size);
      piece.copy(sink.buf, sink.fill);
      sink.fill += piece.length;
      if (last) {
        this.sink = { kind: 'skip' };
        this.writeSmall(sink.target, sink.name, sink.header, sink.buf);
      }
      return;
    }
    sink.writer.push(piece);
    if (last) {
      this.sink = { kind: 'skip' };
      const { writer, header } = sink;
      this.wait = writer.until(0).then(() => {
        this.open = undefined;
        finishFileSync(writer.fd, header.mode & 0o7777, header.mtime);
      });
      this.parser.paused = true;
    } else if (sink.writer.pending > WRITE_QUEUE_MAX) {
      this.wait = sink.writer.until(WRITE_QUEUE_MAX / 2);
      this.parser.paused = true;
    }
  }

  /** After a failure: closes an open file once its writes are done. */
  async abort(): Promise<void> {
    await this.settled(true).catch(() => undefined);
    const writer = this.open;
    this.open = undefined;
    if (!writer) return;
    await writer.until(0).catch(() => undefined);
    fs.closeSync(writer.fd);
  }
}

/**
 * Feeds `source` to the parser with a 'data' listener (no promise and no copy per chunk, as the
 * async iterator's read() would make): when the extractor asks to wait (its writes are behind),
 * the source is paused and the rest of the chunk is parsed once the wait is over. Resolves at the
 * source's end; rejects with the first failure of the source, the parser or a write.
 */
function feedParser(source: Readable, parser: TarParser, extractor: Extractor): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let finished = false;
    let waiting = false;
    let ended = false;
    let following: { stop(): void } | undefined;
    const finish = (err?: unknown): void => {
      if (finished) return;
      finished = true;
      following?.stop();
      if (err === undefined) resolve();
      else reject(err);
    };
    const feed = (chunk: Buffer, from: number): void => {
      let at = from;
      try {
        while (at < chunk.length) {
          at = parser.consume(chunk, at);
          if (parser.paused) {
            parser.paused = false;
            const wait = extractor.wait;
            extractor.wait = undefined;
            if (wait) {
              waiting = true;
              source.pause();
              const rest = at;
              wait.then(() => {
                if (finished) return;
                waiting = false;
                feed(chunk, rest);
                if (finished || waiting) return;
                if (ended) finish();
                else source.resume();
              }, finish);
              return;
            }
          }
        }
      } catch (err) {
        finish(err);
      }
    };
    const onData = (chunk: Buffer): void => feed(chunk, 0);
    const onEnd = (): void => {
      ended = true;
      if (!waiting) finish();
    };
    following = follow(source, { data: onData, end: onEnd, fail: finish });
  });
}

/**
 * Extracts a tar into `root` (an existing directory), safely:
 * - names that are absolute, contain `..`, or leave the expected base are refused (UNSAFE_ARCHIVE);
 * - every existing directory on an entry's way must be a real directory: an entry that would go
 *   through a symlink (one already there, or one the archive made) is refused (UNSAFE_ARCHIVE);
 * - files are created with O_EXCL | O_NOFOLLOW after removing what was there (never written
 *   through a symlink); symlinks are created as symlinks, never followed; hard links must point
 *   inside `root`;
 * - a directory never replaces a non-directory nor the reverse (COPY_CONFLICT), as `docker cp`;
 * - modes (& 0o7777) and mtimes are kept; folders get theirs at the end, deepest first.
 * Owners are not changed. Devices and FIFOs are skipped. A malformed archive is STREAM_FORMAT, a
 * cut one STREAM_TRUNCATED.
 */
export async function extractTar(source: Readable, root: string, opts: ExtractOptions = {}): Promise<void> {
  const op = opts.operationId;
  const onSourceError = (): void => undefined; // the loop below reads the error
  source.on('error', onSourceError);
  const fromRoot = opts.base === '/';
  if (fromRoot) opts = { ...opts, base: '.' };
  try {
    for (const component of [opts.base, opts.renameTo]) {
      if (component !== undefined && (component === '' || component === '..' || /[/\0]/.test(component))) {
        throw new ValidationError(`extractTar: ${JSON.stringify(component)} is not a single path component`);
      }
    }
    if (opts.renameTo === '.') throw new ValidationError('extractTar: cannot rename to "."');
  } catch (err) {
    source.off('error', onSourceError);
    throw err;
  }
  const top = await fsp.realpath(root).catch((err: unknown) => {
    source.off('error', onSourceError);
    throw err;
  });
  const extractor = new Extractor(top, opts, fromRoot);
  const parser = new TarParser(extractor, op);
  extractor.parser = parser;
  try {
    await feedParser(source, parser, extractor);
    if (extractor.wait) await extractor.wait;
    parser.finish();
    await extractor.settled(true);
  } catch (err) {
    source.destroy();
    await extractor.abort();
    throw archiveFailure(err, op);
  } finally {
    source.off('error', onSourceError);
  }
  for (let i = extractor.dirs.length - 1; i >= 0; i--) {
    const d = extractor.dirs[i]!;
    fs.chmodSync(d.target, d.mode);
    fs.utimesSync(d.target, d.mtime, d.mtime);
  }
}
