/** Pull, import, push and load: progress streams that finish when the work finishes; save to a file. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { ValidationError } from '../errors.js';
import type { ImageCreateParams, ImageGetAllParams, ImageLoadParams, ImagePushParams } from '../generated/api.js';
import type { CreateImageInfo, PushImageInfo } from '../generated/types.js';
import type { CallOptions, RegistryAuth as AuthConfig, ResponseStream, UploadBody } from '../request/types.js';
import { ProgressStream, type ProgressMessage, type ProgressOptions } from '../streams/progress.js';
import { writeStreamToFd } from '../streams/tar.js';
import { localFailure, whole } from './archive.js';
import type { OperationContext, ParamsOf } from './context.js';

export type ProgressCallOptions = CallOptions & Pick<ProgressOptions, 'onProgress'>;

/** Splits `name[:tag][@digest]`; without tag or digest the tag is `latest`, as the docker CLI does. */
export function parseImageReference(ref: string): { name: string; tag?: string; digest?: string } {
  if (typeof ref !== 'string' || ref.trim() === '' || /\s/.test(ref)) {
    throw new ValidationError(`image reference ${JSON.stringify(ref)} is not a name like "busybox", "busybox:1.36" or "host:5000/app@sha256:..."`, { parameter: 'ref' });
  }
  const at = ref.indexOf('@');
  if (at >= 0) return { name: ref.slice(0, at), digest: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref, tag: 'latest' };
}

/** The operations that answer a JSON-message progress stream. */
export type ProgressOperation = 'ImageCreate' | 'ImagePush' | 'ImageLoad' | 'ImageBuild' | 'PluginPull' | 'PluginUpgrade' | 'PluginPush';

function progress<T extends ProgressMessage, K extends ProgressOperation = ProgressOperation>(ctx: OperationContext, operationId: K, params: ParamsOf<K>, options: ProgressCallOptions): ProgressStream<T> {
  const { onProgress, ...callOptions } = options;
  // every ProgressOperation resolves to a ResponseStream; TypeScript cannot narrow ResultOf<K> itself
  const response = ctx.call(operationId, params, callOptions) as Promise<ResponseStream>;
  return new ProgressStream<T>(response, operationId, { signal: options.signal, onProgress });
}

export interface PullParams extends Pick<ImageCreateParams, 'platform'> {
  /** Credentials for the registry (sent as X-Registry-Auth). */
  auth?: AuthConfig;
}

/** Pulls an image; await it to know it is complete, or iterate its progress messages. */
export function pullImage(ctx: OperationContext, ref: string, params: PullParams = {}, options: ProgressCallOptions = {}): ProgressStream<CreateImageInfo & ProgressMessage> {
  const { name, tag, digest } = parseImageReference(ref);
  const { auth, ...rest } = params;
  return progress(ctx, 'ImageCreate', {
    ...rest,
    fromImage: digest ? `${name}@${digest}` : name,
    ...(tag ? { tag } : {}),
    ...(auth ? { 'X-Registry-Auth': auth } : {}),
  }, options);
}

export type ImportParams = Pick<ImageCreateParams, 'repo' | 'tag' | 'message' | 'changes' | 'platform'>;

/** Imports a root filesystem tarball (bytes, a stream, or a URL the engine fetches) as an image. */
export function importImage(ctx: OperationContext, source: UploadBody | URL, params: ImportParams = {}, options: ProgressCallOptions = {}): ProgressStream<CreateImageInfo & ProgressMessage> {
  const from = source instanceof URL ? { fromSrc: source.href } : { fromSrc: '-', inputImage: source };
  return progress(ctx, 'ImageCreate', { ...params, ...from }, options);
}

export interface PushParams extends Omit<ImagePushParams, 'name' | 'X-Registry-Auth'> {
  auth?: AuthConfig;
}

/** Pushes an image (all its tags unless `tag` is given), with stored credentials unless `auth` is given. */
export function pushImage(ctx: OperationContext, name: string, params: PushParams = {}, options: ProgressCallOptions = {}): ProgressStream<PushImageInfo & ProgressMessage> {
  const { auth, ...rest } = params;
  return progress(ctx, 'ImagePush', { ...rest, name, ...(auth ? { 'X-Registry-Auth': auth } : {}) }, options);
}

/** A tarball to load from a local file, read in large pieces: `images.load({ file: 'app.tar' })`. */
export interface LoadFile {
  file: string;
}

/** Pieces a tarball file is read (and sent) in: few reads, few chunks through node:http. */
const LOAD_READ = 1024 * 1024;

function isLoadFile(value: unknown): value is LoadFile {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !(value instanceof Readable)
    && !(Symbol.asyncIterator in value) && 'file' in value;
}

/**
 * Loads images from a tarball made by `images.get` / `images.save` / `docker save`: bytes, a
 * stream, or `{ file }`, a local file read in 1 MB pieces (a file that cannot be opened fails
 * with DockerError LOCAL_IO; one that fails while it is sent, with UPLOAD_FAILED and the system
 * error as cause).
 */
export function loadImages(ctx: OperationContext, tarball: UploadBody | LoadFile, params: Omit<ImageLoadParams, 'imagesTarball'> = {}, options: ProgressCallOptions = {}): ProgressStream<ProgressMessage> {
  if (!isLoadFile(tarball)) return progress(ctx, 'ImageLoad', { ...params, imagesTarball: tarball }, options);
  const file = tarball.file;
  if (typeof file !== 'string' || file === '' || file.includes('\0')) {
    throw new ValidationError('images.load: file must be a non-empty path', { parameter: 'file', operationId: 'ImageLoad' });
  }
  const { onProgress, ...callOptions } = options;
  const response = fs.promises.open(file, 'r').then(
    (handle) => {
      const body = fs.createReadStream(file, { fd: handle, highWaterMark: LOAD_READ });
      body.on('error', () => undefined); // the call reports it (UPLOAD_FAILED)
      return (ctx.call('ImageLoad', { ...params, imagesTarball: body }, callOptions) as Promise<ResponseStream>).catch((err: unknown) => {
        body.destroy();
        throw err;
      });
    },
    (err: unknown) => {
      throw localFailure(err, 'images.load', 'ImageLoad');
    },
  );
  return new ProgressStream<ProgressMessage>(response, 'ImageLoad', { signal: options.signal, onProgress });
}

export interface SaveParams extends Pick<ImageGetAllParams, 'platform'> {
  /** Further images to save into the same tarball. */
  others?: readonly string[];
}

/**
 * Saves an image (`name[:tag]` or id), and any `others`, to a local tar file, as `docker save -o`:
 * the engine's tarball is written in large writes to a temporary file next to `file`, renamed to
 * `file` once complete (a failure leaves no partial file). `timeout` and `signal` cover all of it;
 * local file failures are DockerError LOCAL_IO.
 */
export async function saveImages(ctx: OperationContext, name: string, file: string, params: SaveParams = {}, options?: CallOptions): Promise<void> {
  const { others = [], ...rest } = params;
  const list = [name, ...others];
  if (list.some((n) => typeof n !== 'string' || n === '')) {
    throw new ValidationError('images.save: image names must be non-empty strings', { parameter: 'name', operationId: 'ImageGet' });
  }
  if (typeof file !== 'string' || file === '' || file.includes('\0')) {
    throw new ValidationError('images.save: file must be a non-empty path', { parameter: 'file', operationId: 'ImageGet' });
  }
  const operationId = list.length === 1 ? 'ImageGet' : 'ImageGetAll';
  await whole(options, 'images.save', operationId, async (opts) => {
    const stream: ResponseStream = list.length === 1
      ? await ctx.call('ImageGet', { ...rest, name }, opts)
      : await ctx.call('ImageGetAll', { ...rest, names: list }, opts);
    const target = path.resolve(file);
    const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`);
    let fd: number;
    try {
      fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o666);
    } catch (err) {
      stream.destroy();
      throw err;
    }
    try {
      try {
        await writeStreamToFd(stream, fd, operationId);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, target);
    } catch (err) {
      fs.rmSync(temp, { force: true });
      throw err;
    }
  });
}

export { progress as progressCall };
