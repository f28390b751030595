/** API versions: the range dockhand speaks, comparison, and validation of a pinned version. */
import { ApiVersionError } from './errors.js';
import { API_VERSIONS } from './generated/operations.js';

/** Oldest API version dockhand has a spec for. */
export const MIN_API_VERSION: string = API_VERSIONS[0];
/** Newest API version dockhand has a spec for: the most it negotiates. */
export const MAX_API_VERSION: string = API_VERSIONS[API_VERSIONS.length - 1]!;

const cache = new Map<string, number>();

/** A comparable number for `major.minor` (1.41 -> 1041); NaN when malformed. */
export function versionKey(version: string): number {
  let key = cache.get(version);
  if (key === undefined) {
    const m = /^(\d+)\.(\d+)$/.exec(version);
    key = m ? Number(m[1]) * 1000 + Number(m[2]) : Number.NaN;
    cache.set(version, key);
  }
  return key;
}

export function compareVersions(a: string, b: string): number {
  return versionKey(a) - versionKey(b);
}

/** Checks a version given by the caller or DOCKER_API_VERSION (a leading `v` is allowed). */
export function checkPinnedVersion(raw: string, source: string): string {
  const version = raw.trim().replace(/^v/, '');
  if (Number.isNaN(versionKey(version))) {
    throw new ApiVersionError(`${source} "${raw}" is not an API version like "1.41"`, { current: raw });
  }
  if (compareVersions(version, MIN_API_VERSION) < 0 || compareVersions(version, MAX_API_VERSION) > 0) {
    throw new ApiVersionError(
      `${source} ${version} is outside the API versions dockhand speaks (${MIN_API_VERSION} to ${MAX_API_VERSION})`,
      { current: version, required: `${MIN_API_VERSION}..${MAX_API_VERSION}` },
    );
  }
  return version;
}

/** The version to use with an engine that speaks `engine`: the lower of it and our newest. */
export function negotiate(engine: string | undefined): string {
  if (!engine || Number.isNaN(versionKey(engine))) {
    throw new ApiVersionError(
      `the engine did not say which API version it speaks (no API-Version header on /_ping); dockhand needs ${MIN_API_VERSION} or newer`,
      { required: `>= ${MIN_API_VERSION}` },
    );
  }
  if (compareVersions(engine, MIN_API_VERSION) < 0) {
    throw new ApiVersionError(
      `the engine speaks API ${engine}, older than the oldest dockhand speaks (${MIN_API_VERSION})`,
      { current: engine, required: `>= ${MIN_API_VERSION}` },
    );
  }
  return compareVersions(engine, MAX_API_VERSION) < 0 ? engine : MAX_API_VERSION;
}
