/**
 * Tar helpers shared by the archive and build operations: a sorted, streaming directory walker,
 * a packer that adds files, folders and symlinks to a tar-stream pack one entry at a time (each
 * awaited, so a slow reader holds the walk back), and a safe extractor that never writes outside
 * its target directory and never follows a symlink while writing.
 */
import type { Stats } from 'node:fs';
import { constants as FS, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type * as TarStream from 'tar-stream';
import { DockerError, ValidationError } from '../errors.js';
import { streamFailure } from './failure.js';

/** Bytes read from a file per chunk when packing. */
const READ_CHUNK = 64 * 1024;

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

/**
 * Walks a directory depth-first with `fs.promises.opendir`, each folder's names sorted, parents
 * before their children. The root itself is not yielded. `descend(rel)` decides whether to enter
 * a subdirectory (default: always). Only the names of the folders on the current path are held.
 */
export async function* walkTree(root: string, descend?: (rel: string, stat: Stats) => boolean, relRoot = ''): AsyncGenerator<WalkEntry, void, undefined> {
  const names: string[] = [];
  const dir = await fsp.opendir(root);
  for await (const d of dir) names.push(d.name);
  names.sort(byName);
  for (const name of names) {
    const abs = path.join(root, name);
    const rel = relRoot ? `${relRoot}/${name}` : name;
    let stat: Stats;
    try {
      stat = await fsp.lstat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while walking
      throw err;
    }
    yield { rel, abs, stat };
    if (stat.isDirectory() && (!descend || descend(rel, stat))) yield* walkTree(abs, descend, rel);
  }
}

type Pack = TarStream.Pack;

/** tar-stream, loaded on first use (a process that never touches an archive never pays for it). */
async function tarStream(): Promise<typeof TarStream> {
  const m = (await import('tar-stream')) as typeof TarStream & { default?: typeof TarStream };
  return m.default ?? m;
}
type Sink = ReturnType<Pack['entry']>;
type Header = Parameters<Pack['entry']>[0];

/** Adds one entry and resolves once tar-stream has taken all of it (data included). */
function addEntry(pack: Pack, header: Header, write?: (sink: Sink, finished: Promise<void>) => Promise<void>): Promise<void> {
  let sink!: Sink;
  const finished = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
  finished.catch(() => undefined);
  if (!write) return finished;
  return write(sink, finished).then(
    () => finished,
    (err: unknown) => {
      sink.destroy(err as Error);
      throw err;
    },
  );
}

/** Writes `chunk`, waiting for the sink to drain (or to fail) when it is full. */
async function writeChunk(sink: Sink, chunk: Buffer, finished: Promise<void>): Promise<void> {
  if (sink.write(chunk)) return;
  await Promise.race([new Promise<void>((resolve) => sink.once('drain', () => resolve())), finished]);
}

/**
 * Adds a file, folder or symlink to `pack` under `name` (a folder gets a trailing slash).
 * Modes and mtimes are kept, owners are 0:0. Files are read in chunks from a handle opened
 * with O_NOFOLLOW, so a file swapped for a symlink after the walk is refused, not followed.
 * Sockets, FIFOs and devices are skipped: returns false for them.
 */
export async function packPath(pack: Pack, name: string, abs: string, stat: Stats): Promise<boolean> {
  const base = { uid: 0, gid: 0, uname: '', gname: '', mode: stat.mode & 0o7777, mtime: stat.mtime };
  if (stat.isDirectory()) {
    await addEntry(pack, { ...base, name: name.endsWith('/') ? name : `${name}/`, type: 'directory' });
    return true;
  }
  if (stat.isSymbolicLink()) {
    await addEntry(pack, { ...base, name, type: 'symlink', linkname: await fsp.readlink(abs) });
    return true;
  }
  if (!stat.isFile()) return false;
  const fh = await fsp.open(abs, FS.O_RDONLY | FS.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new DockerError(`${abs} is no longer a regular file`, { code: 'FILE_CHANGED' });
    const size = st.size;
    const header: Header = { ...base, name, type: 'file', size, mode: st.mode & 0o7777, mtime: st.mtime };
    await addEntry(pack, header, async (sink, finished) => {
      let position = 0;
      while (position < size) {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - position));
        const { bytesRead } = await fh.read(buf, 0, buf.length, position);
        if (bytesRead === 0) throw new DockerError(`${abs} shrank while it was being read (${position} of ${size} bytes)`, { code: 'FILE_CHANGED' });
        position += bytesRead;
        await writeChunk(sink, bytesRead === buf.length ? buf : buf.subarray(0, bytesRead), finished);
      }
      sink.end(undefined);
    });
  } finally {
    await fh.close();
  }
  return true;
}

export interface PackStream {
  /** The tar bytes, as a Node Readable; destroying it stops the producer. */
  readonly stream: Readable;
  /** Settles when the producer is done: rejects with the producer's own error (e.g. EACCES). */
  readonly done: Promise<void>;
}

/**
 * Runs `produce` against a fresh tar-stream pack and exposes the archive as a Node Readable.
 * Nothing is read ahead: `produce` awaits each entry, and the pack only takes more bytes as the
 * reader pulls. A failure of `produce` destroys the stream with that error.
 */
export function packStream(produce: (pack: Pack) => Promise<void>): PackStream {
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined);
  async function* archive(): AsyncGenerator<Buffer> {
    const pack = (await tarStream()).pack();
    void (async () => {
      try {
        await produce(pack);
        pack.finalize();
        settle.resolve();
      } catch (err) {
        pack.destroy(err as Error); // the loop below throws it: the stream is destroyed with it
        settle.reject(err);
      }
    })();
    yield* pack as AsyncIterable<Buffer>;
  }
  return { stream: Readable.from(archive(), { objectMode: false }), done };
}

/** An entry the extractor refuses: it would land outside the target, or write through a symlink. */
export function unsafeArchive(message: string, operationId?: string): DockerError {
  return new DockerError(message, { code: 'UNSAFE_ARCHIVE', ...(operationId ? { operationId } : {}) });
}

/** A failure while reading an archive: dockhand's errors pass, others become STREAM_FAILED with cause. */
function archiveFailure(err: unknown, operationId: string | undefined): Error {
  if (err instanceof DockerError) return err;
  if ((err as Error)?.message === 'Unexpected end of data') {
    return new DockerError(`${operationId ? `${operationId}: ` : ''}the archive ended in the middle of an entry: the connection was closed early`, {
      code: 'STREAM_TRUNCATED',
      ...(operationId ? { operationId } : {}),
      cause: err,
    });
  }
  if (operationId) return streamFailure(err, operationId, undefined);
  return new DockerError(`the archive stream failed: ${(err as Error)?.message ?? String(err)}`, { code: 'STREAM_FAILED', cause: err });
}

/**
 * Writes `source` into the extractor, waiting for 'drain' whenever it is full, and ends it;
 * `onChunk` counts the bytes. Rejects with the source's error (or a premature close).
 *
 * Reads with the async iterator, never pipe() or a 'data' listener. Those read in flowing mode:
 * after backpressure, one buffered chunk per read(), and an undici body resumes its HTTP parser
 * on each such read. undici's resume takes everything waiting on the socket as one concatenated
 * buffer (socket.read()), copies it into the parser, parses one 32 KiB chunk of the engine's
 * chunked answer, pauses again and unshifts the rest, and the emptied socket reads 64 KiB more
 * meanwhile: the backlog grows to tens of MB and every chunk copies it (a 50 MB copyFrom moved
 * 9-19 GB: 3-11 s instead of 0.3 s). The iterator takes all that is buffered per read, so a
 * resume parses a whole highWaterMark and the backlog stays under 128 KiB.
 */
async function feed(source: Readable, extract: TarStream.Extract, onChunk: (bytes: number) => void): Promise<void> {
  for await (const chunk of source as AsyncIterable<Buffer>) {
    onChunk(chunk.length);
    if (extract.write(chunk)) continue;
    await new Promise<void>((resolve) => {
      const go = (): void => {
        extract.off('drain', go);
        extract.off('close', go);
        resolve();
      };
      extract.on('drain', go);
      extract.on('close', go);
    });
    if (extract.destroyed) return; // the extraction failed: extractTar destroys the source
  }
  extract.end(undefined);
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

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
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
 * Owners are not changed. Devices and FIFOs are skipped.
 */
export async function extractTar(source: Readable, root: string, opts: ExtractOptions = {}): Promise<void> {
  const op = opts.operationId;
  const fromRoot = opts.base === '/';
  if (fromRoot) opts = { ...opts, base: '.' };
  for (const component of [opts.base, opts.renameTo]) {
    if (component !== undefined && (component === '' || component === '..' || /[/\0]/.test(component))) {
      throw new ValidationError(`extractTar: ${JSON.stringify(component)} is not a single path component`);
    }
  }
  if (opts.renameTo === '.') throw new ValidationError('extractTar: cannot rename to "."');
  const top = await fsp.realpath(root);
  const extract = (await tarStream()).extract();
  // Bytes read, to tell a whole archive (ending in two zero blocks) from a cut one.
  let received = 0;
  let lastEnd = 0;
  const onSourceError = (err: Error): void => void extract.destroy(archiveFailure(err, op));
  const onClose = (): void => {
    if (!source.readableEnded) extract.destroy(archiveFailure(Object.assign(new Error('the connection was closed in the middle of the archive'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }), op));
  };
  source.once('error', onSourceError);
  source.once('close', onClose);
  // Not source.pipe(extract) (see feed). The listeners above name a failure first.
  const feeding = feed(source, extract, (bytes) => void (received += bytes)).catch((err: unknown) => void extract.destroy(archiveFailure(err, op)));
  const dirs: { target: string; mode: number; mtime: Date | undefined }[] = [];

  /** Resolves an archive name to its absolute target, creating and checking its parent folders. */
  const place = async (archived: string, create: boolean): Promise<{ target: string; parts: string[] }> => {
    let name = archived;
    if (fromRoot) {
      if (!name.startsWith('/')) throw unsafeArchive(`archive entry ${JSON.stringify(name)} is not under "/"`, op);
      name = `.${name}`;
    }
    entryParts(name, op);
    const parts = entryParts(rebase(name, opts), op);
    const target = path.join(top, ...parts);
    const rel = path.relative(top, target);
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) throw unsafeArchive(`archive entry ${JSON.stringify(name)} resolves outside the target`, op);
    let at = top;
    for (let i = 0; i < parts.length - 1; i++) {
      at = path.join(at, parts[i]!);
      const st = await lstatOrNull(at);
      if (st === null) {
        if (!create) throw unsafeArchive(`archive entry ${JSON.stringify(name)} refers to a missing path`, op);
        await fsp.mkdir(at, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw unsafeArchive(`archive entry ${JSON.stringify(name)} would be written through the symbolic link ${JSON.stringify(path.relative(top, at))}`, op);
      } else if (!st.isDirectory()) {
        throw conflict(`archive entry ${JSON.stringify(name)}: ${JSON.stringify(path.relative(top, at))} is not a directory`, op);
      }
    }
    return { target, parts };
  };

  /** Removes a non-directory in the way; refuses to replace a directory. */
  const clear = async (target: string, name: string): Promise<void> => {
    const st = await lstatOrNull(target);
    if (st === null) return;
    if (st.isDirectory()) throw conflict(`cannot overwrite directory ${JSON.stringify(target)} with non-directory ${JSON.stringify(name)}`, op);
    await fsp.unlink(target);
  };

  try {
    for await (const entry of extract) {
      const h = entry.header;
      const offset = (h as { byteOffset?: number }).byteOffset ?? 0;
      lastEnd = offset + Math.ceil((h.size ?? 0) / 512) * 512;
      const name = h.name;
      const mode = (h.mode ?? 0o644) & 0o7777;
      switch (h.type) {
        case 'directory': {
          const { target } = await place(name, true);
          const st = await lstatOrNull(target);
          if (st === null) await fsp.mkdir(target, { mode: 0o700 });
          else if (st.isSymbolicLink()) throw unsafeArchive(`archive entry ${JSON.stringify(name)} would replace the symbolic link ${JSON.stringify(target)}`, op);
          else if (!st.isDirectory()) throw conflict(`cannot overwrite non-directory ${JSON.stringify(target)} with directory ${JSON.stringify(name)}`, op);
          dirs.push({ target, mode, mtime: h.mtime });
          break;
        }
        case 'file':
        case 'contiguous-file': {
          const { target, parts } = await place(name, true);
          if (parts.length === 0) throw conflict(`archive entry ${JSON.stringify(name)} would replace the target directory`, op);
          await clear(target, name);
          const fh = await fsp.open(target, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, 0o600);
          try {
            for await (const chunk of entry as AsyncIterable<Buffer>) {
              let off = 0;
              while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
            }
            await fh.chmod(mode);
            if (h.mtime) await fh.utimes(h.mtime, h.mtime);
          } finally {
            await fh.close();
          }
          continue; // the entry was consumed
        }
        case 'symlink': {
          const { target, parts } = await place(name, true);
          if (parts.length === 0) throw conflict(`archive entry ${JSON.stringify(name)} would replace the target directory`, op);
          await clear(target, name);
          await fsp.symlink(h.linkname ?? '', target);
          if (h.mtime) await fsp.lutimes(target, h.mtime, h.mtime).catch(() => undefined);
          break;
        }
        case 'link': {
          const { target, parts } = await place(name, true);
          if (parts.length === 0) throw conflict(`archive entry ${JSON.stringify(name)} would replace the target directory`, op);
          const { target: existing } = await place(h.linkname ?? '', false);
          const st = await lstatOrNull(existing);
          if (st === null || st.isDirectory()) throw unsafeArchive(`hard link ${JSON.stringify(name)} points to ${JSON.stringify(h.linkname)}, which is not a file of the archive`, op);
          await clear(target, name);
          await fsp.link(existing, target);
          break;
        }
        default:
          break; // devices, FIFOs: skipped
      }
      for await (const chunk of entry) void chunk; // drain what is left
    }
    await feeding;
    // tar-stream skips zero blocks: whatever followed the last entry was zeros. Fewer than two
    // (1024 bytes) means the archive was cut at an entry boundary.
    if (received - lastEnd < 1024) {
      throw new DockerError(`${op ? `${op}: ` : ''}the archive ended without its end-of-archive blocks (${received} bytes received): the connection was closed early`, {
        code: 'STREAM_TRUNCATED',
        ...(op ? { operationId: op } : {}),
      });
    }
  } catch (err) {
    source.destroy();
    extract.destroy();
    throw archiveFailure(err, op);
  } finally {
    source.off('error', onSourceError);
    source.off('close', onClose);
  }
  for (let i = dirs.length - 1; i >= 0; i--) {
    const d = dirs[i]!;
    await fsp.chmod(d.target, d.mode);
    if (d.mtime) await fsp.utimes(d.target, d.mtime, d.mtime);
  }
}
