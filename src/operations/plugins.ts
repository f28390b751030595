/** Plugin pull, upgrade and push: progress streams like image pulls. */
import type { PluginPullParams, PluginPushParams, PluginUpgradeParams } from '../generated/api.js';
import type { RegistryAuth as AuthConfig } from '../request/types.js';
import type { ProgressStream } from '../streams/progress.js';
import { encodeAuthHeader } from '../request/encode.js';
import type { OperationContext } from './context.js';
import { progressCall, type ProgressCallOptions } from './images.js';

type WithAuth<T> = Omit<T, 'X-Registry-Auth'> & { auth?: AuthConfig; 'X-Registry-Auth'?: string | AuthConfig };

/** `auth` as the X-Registry-Auth header (else the stored credentials fill it in). */
function authOf<T extends { auth?: AuthConfig }>(params: T): Omit<T, 'auth'> & { 'X-Registry-Auth'?: AuthConfig } {
  const { auth, ...rest } = params;
  return auth ? { ...rest, 'X-Registry-Auth': auth } : rest;
}

export function pullPlugin(ctx: OperationContext, params: WithAuth<PluginPullParams>, options: ProgressCallOptions = {}): ProgressStream {
  return progressCall(ctx, 'PluginPull', { body: [], ...authOf(params) }, options);
}

export function upgradePlugin(ctx: OperationContext, name: string, params: WithAuth<Omit<PluginUpgradeParams, 'name'>>, options: ProgressCallOptions = {}): ProgressStream {
  return progressCall(ctx, 'PluginUpgrade', { body: [], ...authOf(params), name }, options);
}

/** The spec lists no auth header for plugin push, but the engine reads one (and wants one). */
export function pushPlugin(ctx: OperationContext, name: string, params: Omit<PluginPushParams, 'name'> & { auth?: AuthConfig } = {}, options: ProgressCallOptions = {}): ProgressStream {
  const { auth, ...rest } = params;
  const headers = { ...options.headers, 'x-registry-auth': encodeAuthHeader(auth ?? {}) };
  return progressCall(ctx, 'PluginPush', { ...rest, name }, { ...options, headers });
}
