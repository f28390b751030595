/**
 * Podman quirks dockhand absorbs where a parameter would otherwise be lost or an answer would not
 * fit its type. Values Podman formats its own way (image names qualified with `docker.io/`, ids
 * without `sha256:`, messages, status codes) are left as they are: they are the engine's.
 */

/** Operations whose JSON results are adjusted for Podman (see `podmanResult`). */
export const PODMAN_RESULTS: ReadonlySet<string> = new Set(['ContainerTop']);

/**
 * The parameters to send to Podman: `params` itself when nothing needs adjusting (the caller asks
 * the engine who it is only when something would change).
 *
 * - An import (`fromSrc`) names its image by `repo` alone on Podman, which ignores `tag` (the
 *   image would be `repo:latest`): the tag goes into `repo`, as the docker CLI sends it
 *   (`repo=name:tag`).
 * - Podman reports a container's exit as the event `die`, but filters it by its own name, `died`:
 *   an `event` filter for `die` asks for both.
 */
export function podmanParams(operationId: string, params: Record<string, unknown>): Record<string, unknown> {
  if (operationId === 'SystemEvents') return podmanEventFilters(params);
  if (operationId !== 'ImageCreate' || params.fromSrc === undefined) return params;
  const { repo, tag } = params;
  if (typeof repo !== 'string' || repo === '' || typeof tag !== 'string' || tag === '' || hasTagOrDigest(repo)) return params;
  const { tag: _folded, ...rest } = params;
  return { ...rest, repo: `${repo}:${tag}` };
}

function podmanEventFilters(params: Record<string, unknown>): Record<string, unknown> {
  const filters = params.filters as Record<string, unknown> | undefined;
  const event = filters?.event;
  let adjusted: unknown;
  if (event === 'die') adjusted = ['die', 'died'];
  else if (Array.isArray(event) && event.includes('die') && !event.includes('died')) adjusted = [...event, 'died'];
  else if (event && typeof event === 'object' && !Array.isArray(event) && (event as Record<string, unknown>).die === true && !('died' in event)) adjusted = { ...event, died: true };
  return adjusted === undefined ? params : { ...params, filters: { ...filters, event: adjusted } };
}

function hasTagOrDigest(name: string): boolean {
  return name.includes('@') || name.lastIndexOf(':') > name.lastIndexOf('/');
}

/**
 * Podman runs `ps` in the container when it cannot answer `top` itself, and splits that output on
 * tabs, which ps does not write: one title holding every column name, one string per process.
 * Split as dockerd splits ps output: on whitespace, the last column (the command) taking the rest.
 */
export function podmanResult(operationId: string, value: unknown): unknown {
  if (operationId !== 'ContainerTop') return value;
  const top = value as { Titles?: unknown; Processes?: unknown } | undefined;
  if (!top || !Array.isArray(top.Titles) || top.Titles.length !== 1 || typeof top.Titles[0] !== 'string') return value;
  const titles = top.Titles[0].trim().split(/\s+/);
  if (titles.length < 2) return value;
  const rows = Array.isArray(top.Processes) ? top.Processes : [];
  if (!rows.every((row) => Array.isArray(row) && row.length === 1 && typeof row[0] === 'string')) return value;
  const processes = (rows as string[][]).map(([line]) => {
    const fields = line!.trim().split(/\s+/);
    if (fields.length < titles.length) return fields;
    return [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
  });
  return { ...top, Titles: titles, Processes: processes };
}
