/**
 * Files in and out of containers: stat a path, read or write a tar of it, and `docker cp` in both
 * directions (`copyTo`, `copyFrom`) with the CLI's semantics, streamed both ways.
 */
import type { Stats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { DockerError, NotFoundError, ValidationError } from '../errors.js';
import type { PutContainerArchiveParams } from '../generated/api.js';
import { deadline, raceSignal } from '../request/abort.js';
import type { CallOptions, UploadBody } from '../request/types.js';
import { extractTar, packPath, packStream, walkTree } from '../streams/tar.js';
import type { OperationContext } from './context.js';

/** The header the engine sends with a container path's stat, base64 JSON. */
export const PATH_STAT_HEADER = 'x-docker-container-path-stat';

/** Go's os.ModeDir and os.ModeSymlink bits, as the engine reports modes. */
const GO_MODE_DIR = 0x80000000;
const GO_MODE_SYMLINK = 0x08000000;

/** A container path's stat, as the engine reports it. */
export interface PathStat {
  /** Base name of the path (`.` for `dir/.`). */
  name: string;
  size: number;
  /** Go FileMode bits: permissions (`mode & 0o777`) plus type bits (dir 1<<31, symlink 1<<27, ...). */
  mode: number;
  /** Modification time, RFC 3339. */
  mtime: string;
  /** For a symlink, the absolute path in the container it resolves to; else ''. */
  linkTarget: string;
  isDirectory: boolean;
  isSymlink: boolean;
}

export interface PutArchiveOptions {
  /** Fail instead of replacing a directory with a non-directory or the reverse. */
  noOverwriteDirNonDir?: boolean;
  /** Give the files the container user's uid/gid (API 1.39+). */
  copyUIDGID?: boolean;
}

function need(value: unknown, parameter: string, what: string, operationId: string): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new ValidationError(`${what}: ${parameter} must be a non-empty string`, { parameter, operationId });
  }
  if (value.includes('\0')) throw new ValidationError(`${what}: ${parameter} must not contain NUL`, { parameter, operationId });
}

function checkOptions(options: unknown, what: string): CallOptions | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ValidationError(`${what}: options must be an object`, { parameter: 'options' });
  }
  return options as CallOptions;
}

/**
 * Runs a helper of several requests with one deadline: `timeout` and `signal` cover all of it. A
 * failure of the local file system (a missing source, no permission, a full disk) comes out as a
 * DockerError `LOCAL_IO` with the system error as `cause` (its `code`, `path`, `syscall`).
 */
export async function whole(options: unknown, what: string, operationId: string, work: (options: CallOptions) => Promise<void>): Promise<void> {
  const run = deadline(checkOptions(options, what));
  try {
    await raceSignal(work(run.options), run.signal, operationId);
  } catch (err) {
    throw localFailure(err, what, operationId);
  } finally {
    run.done();
  }
}

/** A Node system error (ENOENT, EACCES, ENOSPC, ...) as a DockerError `LOCAL_IO`; anything else as it is. */
export function localFailure(err: unknown, what: string, operationId: string): unknown {
  if (err instanceof DockerError || !(err instanceof Error)) return err;
  const { code, syscall } = err as NodeJS.ErrnoException;
  if (typeof code !== 'string' || typeof syscall !== 'string') return err;
  return new DockerError(`${what}: ${err.message}`, { code: 'LOCAL_IO', operationId, cause: err });
}

/** Decodes the engine's path-stat header. */
export function decodePathStat(value: string | undefined, operationId = 'ContainerArchiveInfo'): PathStat {
  if (!value) throw new DockerError(`${operationId}: the engine sent no ${PATH_STAT_HEADER} header`, { code: 'BAD_RESPONSE', operationId });
  let raw: { name?: unknown; size?: unknown; mode?: unknown; mtime?: unknown; linkTarget?: unknown };
  try {
    raw = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch (err) {
    throw new DockerError(`${operationId}: the ${PATH_STAT_HEADER} header is not base64 JSON`, { code: 'BAD_RESPONSE', operationId, cause: err });
  }
  if (typeof raw !== 'object' || raw === null || typeof raw.mode !== 'number') {
    throw new DockerError(`${operationId}: the ${PATH_STAT_HEADER} header has no mode`, { code: 'BAD_RESPONSE', operationId });
  }
  const mode = raw.mode >>> 0;
  return {
    name: typeof raw.name === 'string' ? raw.name : '',
    size: typeof raw.size === 'number' ? raw.size : 0,
    mode,
    mtime: typeof raw.mtime === 'string' ? raw.mtime : '',
    linkTarget: typeof raw.linkTarget === 'string' ? raw.linkTarget : '',
    isDirectory: (mode & GO_MODE_DIR) !== 0,
    isSymlink: (mode & GO_MODE_SYMLINK) !== 0,
  };
}

/** Stats a path in a container (HEAD archive). A missing path or container: NotFoundError. */
export async function statPath(ctx: OperationContext, id: string, containerPath: string, options?: CallOptions): Promise<PathStat> {
  need(id, 'id', 'statPath', 'ContainerArchiveInfo');
  need(containerPath, 'path', 'statPath', 'ContainerArchiveInfo');
  const opts = checkOptions(options, 'statPath');
  const headers = await ctx.call('ContainerArchiveInfo', { id, path: containerPath }, opts);
  return decodePathStat(headers[PATH_STAT_HEADER]);
}

/** A tar of a container path (a file, or a folder and everything under it), with its stat. */
export async function getArchive(ctx: OperationContext, id: string, containerPath: string, options?: CallOptions): Promise<{ stat: PathStat; stream: Readable }> {
  need(id, 'id', 'getArchive', 'ContainerArchive');
  need(containerPath, 'path', 'getArchive', 'ContainerArchive');
  const opts = checkOptions(options, 'getArchive');
  const stream = await ctx.call('ContainerArchive', { id, path: containerPath }, opts);
  try {
    return { stat: decodePathStat(stream.headers?.[PATH_STAT_HEADER], 'ContainerArchive'), stream };
  } catch (err) {
    stream.destroy();
    throw err;
  }
}

/** Extracts a tar into a container folder (which must exist). */
export async function putArchive(
  ctx: OperationContext,
  id: string,
  containerPath: string,
  tar: UploadBody,
  opts: PutArchiveOptions = {},
  options?: CallOptions,
): Promise<void> {
  need(id, 'id', 'putArchive', 'PutContainerArchive');
  need(containerPath, 'path', 'putArchive', 'PutContainerArchive');
  if (typeof opts !== 'object' || opts === null) throw new ValidationError('putArchive: opts must be an object', { parameter: 'opts' });
  for (const [k, v] of Object.entries(opts)) {
    if (k !== 'noOverwriteDirNonDir' && k !== 'copyUIDGID') throw new ValidationError(`putArchive: unknown option "${k}"`, { parameter: k });
    if (v !== undefined && typeof v !== 'boolean') throw new ValidationError(`putArchive: ${k} must be a boolean`, { parameter: k });
  }
  const callOptions = checkOptions(options, 'putArchive');
  const params: PutContainerArchiveParams = { id, path: containerPath, inputStream: tar };
  // Both flags default to false on the engine: send them only when set, so copyUIDGID: false
  // works on engines older than 1.39 too.
  if (opts.noOverwriteDirNonDir) params.noOverwriteDirNonDir = '1';
  if (opts.copyUIDGID) params.copyUIDGID = '1';
  await ctx.call('PutContainerArchive', params, callOptions);
}

/** `dir/` and `dir/.` ask for a folder; `dir/.` (or `.`) also means "its contents". */
function trailing(p: string, sep: string): { assertsDir: boolean; contents: boolean } {
  const last = p.at(-1) ?? '';
  const contents = p === '.' || (last === '.' && sep.includes(p.at(-2) ?? ''));
  return { assertsDir: contents || sep.includes(last), contents };
}

/** A container path made absolute and cleaned (no trailing slash except for `/`). */
function containerAbs(p: string): string {
  const n = path.posix.normalize(p.startsWith('/') ? p : `/${p}`);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** The first component of the entries in the archive of a container path. */
export function archiveRoot(requested: string): string {
  if (/^\/+$/.test(requested)) return '/';
  if (requested === '.' || requested.endsWith('/.')) return '.';
  return path.posix.basename(containerAbs(requested)) || '/';
}

async function statOrUndefined(ctx: OperationContext, id: string, p: string, options?: CallOptions): Promise<PathStat | undefined> {
  try {
    return await statPath(ctx, id, p, options);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

function copyConflict(message: string): DockerError {
  return new DockerError(message, { code: 'COPY_CONFLICT' });
}

/**
 * Copies a local file or folder (recursively) into a container, like `docker cp local id:path`:
 * - `containerPath` an existing folder: copied into it, under the local basename;
 * - otherwise created as `containerPath` (its parent folder must exist): a file or folder named
 *   after containerPath's basename; an existing file is replaced by a file;
 * - `local/.` copies a folder's contents; a trailing `/` on containerPath asserts a folder.
 * Symlinks are copied as symlinks (a containerPath that is a symlink is followed, once); modes
 * and mtimes are kept; files get the container's root as owner. Streamed: one entry at a time.
 */
export async function copyTo(ctx: OperationContext, id: string, localPath: string, containerPath: string, options?: CallOptions): Promise<void> {
  need(id, 'id', 'copyTo', 'PutContainerArchive');
  need(localPath, 'localPath', 'copyTo', 'PutContainerArchive');
  need(containerPath, 'containerPath', 'copyTo', 'PutContainerArchive');
  await whole(options, 'copyTo', 'PutContainerArchive', (opts) => copyToWithin(ctx, id, localPath, containerPath, opts));
}

async function copyToWithin(ctx: OperationContext, id: string, localPath: string, containerPath: string, opts: CallOptions): Promise<void> {

  const local = trailing(localPath, path.sep === '/' ? '/' : '/\\');
  const src = path.resolve(localPath);
  // Like the CLI, a trailing slash follows a symlinked folder; otherwise the symlink is copied.
  const srcStat: Stats = local.assertsDir ? await fsp.stat(src) : await fsp.lstat(src);
  if (!srcStat.isFile() && !srcStat.isDirectory() && !srcStat.isSymbolicLink()) {
    throw new ValidationError(`copyTo: ${localPath} is not a file, folder or symlink`, { parameter: 'localPath' });
  }
  if (local.contents && !srcStat.isDirectory()) throw new ValidationError(`copyTo: ${localPath} is not a folder`, { parameter: 'localPath' });

  const remote = trailing(containerPath, '/');
  let dstPath = containerAbs(containerPath);
  let dst = await statOrUndefined(ctx, id, dstPath, opts);
  if (dst?.isSymlink && dst.linkTarget) {
    dstPath = containerAbs(dst.linkTarget);
    dst = await statOrUndefined(ctx, id, dstPath, opts);
  }

  let uploadDir: string;
  /** Name of the copied root in the archive; undefined: the contents go straight into uploadDir. */
  let rootName: string | undefined;
  if (dst?.isDirectory) {
    uploadDir = dstPath;
    rootName = local.contents ? undefined : path.basename(src);
  } else if (dst && srcStat.isDirectory()) {
    throw copyConflict(`copyTo: cannot copy the folder ${localPath} onto the file ${containerPath}`);
  } else if (!dst && remote.assertsDir && !srcStat.isDirectory()) {
    throw new NotFoundError(`copyTo: the destination folder ${containerPath} does not exist`, { operationId: 'PutContainerArchive' });
  } else {
    if (dstPath === '/') throw copyConflict('copyTo: cannot replace /');
    uploadDir = path.posix.dirname(dstPath);
    rootName = path.posix.basename(dstPath);
    const parent = await statOrUndefined(ctx, id, uploadDir, opts);
    if (!parent) throw new NotFoundError(`copyTo: the folder ${uploadDir} does not exist in the container`, { operationId: 'PutContainerArchive' });
    if (!parent.isDirectory) throw copyConflict(`copyTo: ${uploadDir} is not a folder in the container`);
  }

  const { stream, done } = packStream(async (pack) => {
    if (rootName !== undefined) await packPath(pack, rootName, src, srcStat);
    if (!srcStat.isDirectory()) return;
    for await (const e of walkTree(src)) {
      await packPath(pack, rootName === undefined ? e.rel : `${rootName}/${e.rel}`, e.abs, e.stat);
    }
  });

  let failed = false;
  let first: unknown;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    first = err;
    stream.destroy();
  };
  await Promise.all([putArchive(ctx, id, uploadDir, stream, { noOverwriteDirNonDir: true }, opts).catch(fail), done.catch(fail)]);
  if (failed) throw first;
}

/**
 * Copies a container file or folder to the local disk, like `docker cp id:path local`:
 * - `localPath` an existing folder: copied into it, under the source's basename;
 * - otherwise created as `localPath` (its parent must exist); an existing file is replaced by a
 *   file; `id:dir/.` copies a folder's contents.
 * Files, folders, symlinks (created as symlinks, never followed) and hard links are written with
 * their modes and mtimes. Entries that are absolute, contain `..`, or would land outside the
 * target or go through a symlink are refused with DockerError code UNSAFE_ARCHIVE.
 */
export async function copyFrom(ctx: OperationContext, id: string, containerPath: string, localPath: string, options?: CallOptions): Promise<void> {
  need(id, 'id', 'copyFrom', 'ContainerArchive');
  need(containerPath, 'containerPath', 'copyFrom', 'ContainerArchive');
  need(localPath, 'localPath', 'copyFrom', 'ContainerArchive');
  await whole(options, 'copyFrom', 'ContainerArchive', (opts) => copyFromWithin(ctx, id, containerPath, localPath, opts));
}

async function copyFromWithin(ctx: OperationContext, id: string, containerPath: string, localPath: string, opts: CallOptions): Promise<void> {

  const local = trailing(localPath, path.sep === '/' ? '/' : '/\\');
  const dst = path.resolve(localPath);
  const dstStat = await fsp.stat(dst).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });

  const remotePath = containerPath.startsWith('/') ? containerPath : `/${containerPath}`;
  const { stat, stream } = await getArchive(ctx, id, remotePath, opts);
  try {
    // The entries are named after the requested path, as `docker cp` reads them: its base name,
    // `/` for the root, `.` for dir/. (never the stat's name: Podman's names a symlink's target
    // and calls the root `.`).
    const srcBase = archiveRoot(remotePath);
    let root: string;
    let renameTo: string | undefined;
    if (dstStat?.isDirectory()) {
      root = dst;
    } else if (dstStat && stat.isDirectory) {
      throw copyConflict(`copyFrom: cannot copy the folder ${containerPath} onto the file ${localPath}`);
    } else if (!dstStat && local.assertsDir && !stat.isDirectory) {
      throw new NotFoundError(`copyFrom: the destination folder ${localPath} does not exist`, { operationId: 'ContainerArchive' });
    } else {
      root = path.dirname(dst);
      renameTo = path.basename(dst);
      const parent = await fsp.stat(root);
      if (!parent.isDirectory()) throw copyConflict(`copyFrom: ${root} is not a folder`);
    }
    await extractTar(stream, root, { base: srcBase, ...(renameTo !== undefined ? { renameTo } : {}), operationId: 'ContainerArchive' });
  } finally {
    stream.destroy();
  }
}
