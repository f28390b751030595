/**
 * Public types of BuildKit builds. Types only: importing this module loads no code (the BuildKit
 * implementation is loaded by dynamic import when a BuildKit build runs).
 */
import type { Writable } from 'node:stream';
import type { BuildOptionsBase } from '../operations/build.js';

/** One step (vertex) of a BuildKit build, merged from every trace that mentioned it. */
export interface BuildkitVertex {
  /** The vertex digest (`sha256:...`): its identity in the build graph. */
  digest: string;
  /** Its number in the plain progress output (`#N`), in order of appearance; 0 until shown. */
  index: number;
  /** e.g. `[2/3] RUN make`, `[internal] load build context`. */
  name: string;
  inputs: string[];
  cached: boolean;
  /** Milliseconds since the epoch. */
  started: number | undefined;
  completed: number | undefined;
  error: string | undefined;
}

/** What a BuildKit build reports as it goes (`onStatus`). */
export type BuildkitEvent =
  | { type: 'vertex'; state: 'started' | 'completed' | 'cached' | 'error' | 'canceled'; vertex: BuildkitVertex }
  | { type: 'log'; vertex: BuildkitVertex; stream: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'progress'; vertex: BuildkitVertex; id: string; name: string; current: number; total: number; completed: boolean }
  | { type: 'warning'; vertex: BuildkitVertex | undefined; level: number; message: string; detail: string[]; url: string };

/** A secret for `RUN --mount=type=secret,id=<id>`: a value, a file, or an environment variable. */
export type BuildkitSecret = { value: string | Uint8Array } | { file: string } | { env: string };

/** Where a BuildKit build's result goes instead of the image store (API 1.40+). */
export type BuildkitOutput =
  /** The result's files as a tar: written to `dest` (a file path or a writable stream). */
  | { type: 'tar'; dest: string | Writable }
  /** The result's files into the folder `dest` (created if missing). */
  | { type: 'local'; dest: string };

/** The options of a BuildKit build (`builder: 'buildkit'` or `'auto'`). */
export interface BuildkitBuildOptions extends BuildOptionsBase {
  /**
   * `buildkit`: a BuildKit build (API 1.39+, Linux engines, not Podman: else an error).
   * `auto`: BuildKit where the engine has it, else the classic builder (then the BuildKit-only
   * options `secrets`, `ssh`, `outputs` and `onStatus` are refused).
   */
  builder: 'buildkit' | 'auto';
  /**
   * The Dockerfile: a path (relative to the context, or absolute: it may live outside it),
   * or its text as `{ content }`. Default `Dockerfile` in the context.
   */
  dockerfile?: string | { content: string };
  /** `default`, `host` or `none` (BuildKit runs steps in no other network). */
  networkMode?: string;
  /** Secrets by id, for `RUN --mount=type=secret,id=<id>`: never stored in the image. */
  secrets?: Readonly<Record<string, BuildkitSecret>>;
  /**
   * SSH agents by id, for `RUN --mount=type=ssh[,id=<id>]`: `true` forwards SSH_AUTH_SOCK,
   * a string forwards that agent socket.
   */
  ssh?: Readonly<Record<string, true | string>>;
  /** Export the result instead of storing an image. */
  outputs?: BuildkitOutput;
  /**
   * Called with each message; BuildKit's progress arrives as `stream` messages shaped like
   * `docker build --progress=plain` (`#3 [2/3] RUN make`, `#3 DONE 0.4s`).
   */
  onProgress?: BuildOptionsBase['onProgress'];
  /** Typed progress: steps started/completed/cached/failed, their output, byte counts, warnings. */
  onStatus?: (event: BuildkitEvent) => void;
}
