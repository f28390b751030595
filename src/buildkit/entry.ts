/**
 * The seam between `images.build` and BuildKit: small on purpose. The BuildKit implementation
 * (session, gRPC, file sync, codec, progress) is loaded by dynamic import when a BuildKit build
 * runs, never before.
 */
import { Readable } from 'node:stream';
import { ValidationError } from '../errors.js';
import type { OperationContext } from '../operations/context.js';
import { ProgressStream, type ProgressMessage, type ProgressOptions, type ProgressResult } from '../streams/progress.js';
import type { BuildkitBuildOptions } from './types.js';

/** Options only a BuildKit build can honour: `builder: 'auto'` refuses them when it falls back. */
const BUILDKIT_ONLY = ['secrets', 'ssh', 'outputs', 'onStatus'] as const;

/** Does this options object ask for BuildKit (`builder` given, and not `classic`)? */
export function wantsBuildkit(options: unknown): options is BuildkitBuildOptions {
  const builder = typeof options === 'object' && options !== null ? (options as { builder?: unknown }).builder : undefined;
  return builder !== undefined && builder !== 'classic';
}

/** Whether the engine can run a BuildKit build through the Engine API (API 1.39+, not Podman, Linux). */
export async function buildkitAvailable(ctx: OperationContext, signal?: AbortSignal): Promise<boolean> {
  const opts = signal ? { signal } : undefined;
  const [major, minor] = (await ctx.apiVersion(opts)).split('.').map(Number) as [number, number];
  if (major < 1 || (major === 1 && minor < 39)) return false;
  if (await ctx.isPodman(opts)) return false;
  const version = (await ctx.call('SystemVersion', {}, opts ?? {})) as { Os?: string };
  return version.Os === undefined || version.Os === 'linux';
}

/**
 * A build by BuildKit (or, for `builder: 'auto'` on an engine without it, by `classic`), as the
 * same ProgressStream classic builds return.
 */
export function buildkitStream<M extends ProgressMessage, R extends ProgressResult<M>>(
  ctx: OperationContext,
  context: string,
  remote: boolean,
  options: BuildkitBuildOptions,
  classic: (options: Record<string, unknown>) => ProgressStream<M, R>,
  finish: (result: ProgressResult<M>) => R,
): ProgressStream<M, R> {
  const builder: unknown = options.builder;
  // Every BuildKit option error rejects the build (nothing is sent): the checks live with the
  // BuildKit code, loaded on first use.
  const open = async (): Promise<Readable> => {
    if (builder !== 'buildkit' && builder !== 'auto') {
      throw new ValidationError(`build: builder must be 'classic', 'buildkit' or 'auto' (got ${JSON.stringify(builder)})`, { operationId: 'ImageBuild', parameter: 'builder' });
    }
    const { checkBuildkitOptions, openBuildkit } = await import('./build.js');
    checkBuildkitOptions(options);
    if (builder === 'auto' && !(await buildkitAvailable(ctx, options.signal))) {
      const rest: Record<string, unknown> = { ...options };
      rest.builder = 'classic'; // named, so a client default of `auto` is not applied again
      for (const k of BUILDKIT_ONLY) {
        if (rest[k] !== undefined) throw new ValidationError(`build: ${k} needs BuildKit, which this engine does not offer`, { operationId: 'ImageBuild', parameter: k });
      }
      if (typeof rest.dockerfile === 'object') throw new ValidationError('build: a Dockerfile given as { content } needs BuildKit, which this engine does not offer', { operationId: 'ImageBuild', parameter: 'dockerfile' });
      delete rest.onProgress; // called by the outer stream
      return Readable.from(replay(classic(rest)), { objectMode: false });
    }
    return openBuildkit(ctx, context, remote, options);
  };
  return new ProgressStream<M, R>(open(), 'ImageBuild', { signal: options.signal, onProgress: options.onProgress as ProgressOptions['onProgress'] }, finish);
}

/** A classic build's messages as JSON lines again, so the outer stream reads them as usual. */
async function* replay<M extends ProgressMessage>(inner: AsyncIterable<M>): AsyncGenerator<Buffer, void, undefined> {
  for await (const m of inner) yield Buffer.from(`${JSON.stringify(m)}\n`);
}
