/**
 * Adds registry credentials to the operations that talk to a registry, when the caller gave
 * none: X-Registry-Auth for pull, push, plugin pull/upgrade/push and service create/update, and
 * X-Registry-Config (every known registry) for build. Explicit credentials always win.
 */
import type { CredentialStore } from './credentials.js';
import { registryOfImage } from './registry-name.js';

type Params = Record<string, unknown>;

const IMAGE_OF: Record<string, (p: Params) => string | undefined> = {
  ImageCreate: (p) => (typeof p.fromImage === 'string' ? p.fromImage : undefined),
  ImagePush: (p) => p.name as string,
  PluginPull: (p) => p.remote as string,
  PluginUpgrade: (p) => p.remote as string,
  ServiceCreate: (p) => serviceImage(p.body),
  ServiceUpdate: (p) => serviceImage(p.body),
};

/** Operations the engine refuses without an auth header, even an empty one. */
const HEADER_REQUIRED = new Set(['ImagePush']);

function serviceImage(body: unknown): string | undefined {
  const image = (body as { TaskTemplate?: { ContainerSpec?: { Image?: unknown } } } | undefined)?.TaskTemplate?.ContainerSpec?.Image;
  return typeof image === 'string' ? image : undefined;
}

export function needsCredentials(operationId: string): boolean {
  return operationId in IMAGE_OF || operationId === 'ImageBuild';
}

/**
 * Returns params with the stored credentials added (a new object; the caller's is untouched).
 * Without a store (credentials turned off), only the empty header the engine insists on.
 */
export async function withCredentials(operationId: string, params: Params, store: CredentialStore | undefined): Promise<Params> {
  if (operationId === 'ImageBuild') {
    if (params['X-Registry-Config'] !== undefined || !store) return params;
    const all = await store.all();
    return Object.keys(all).length ? { ...params, 'X-Registry-Config': all } : params;
  }
  if (params['X-Registry-Auth'] !== undefined) return params;
  const image = IMAGE_OF[operationId]?.(params);
  const auth = image && store ? await store.lookup(registryOfImage(image)) : undefined;
  if (auth) return { ...params, 'X-Registry-Auth': auth };
  return HEADER_REQUIRED.has(operationId) ? { ...params, 'X-Registry-Auth': {} } : params;
}
