/** Pull, import, push and load: progress streams that finish when the work finishes. */
import { ValidationError } from '../errors.js';
import type { ImageCreateParams, ImageLoadParams, ImagePushParams } from '../generated/api.js';
import type { CreateImageInfo, PushImageInfo } from '../generated/types.js';
import type { CallOptions, RegistryAuth as AuthConfig, ResponseStream, UploadBody } from '../request/types.js';
import { ProgressStream, type ProgressMessage, type ProgressOptions } from '../streams/progress.js';
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

/** Loads images from a tarball made by `images.get` / `docker save`. */
export function loadImages(ctx: OperationContext, tarball: UploadBody, params: Omit<ImageLoadParams, 'imagesTarball'> = {}, options: ProgressCallOptions = {}): ProgressStream<ProgressMessage> {
  return progress(ctx, 'ImageLoad', { ...params, imagesTarball: tarball }, options);
}

export { progress as progressCall };
