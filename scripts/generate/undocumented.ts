/**
 * What engines send back (container inspect's Config and HostConfig, a service's Spec) that no
 * spec version documents, so that an inspected object fed back into a create call validates.
 * Found by creating containers and services with many docker CLI flags on Docker 20.10, 26.1,
 * 28.5 and Podman 4.3 and inspecting them (test/engine/body-roundtrip.test.ts does it again on
 * every engine it runs on). Docker 20.10, 26.1 and 28.5 send nothing undocumented in a container.
 *
 * type -> field -> shape (the grammar of body-schema.ts), merged into the compiled types as known
 * in every version. For a field the specs have, the entry must be an enum (`=a|b`): its values are
 * added to the field's (`=` alone adds the empty string).
 */
export const undocumentedFields: Record<string, Record<string, string>> = {
  HostConfig: {
    // Podman 4.3 sends "" for a container made without --cgroupns; Docker's decoder takes "" as its
    // default mode too (container.CgroupnsMode("").IsEmpty()).
    CgroupnsMode: '=',
  },
  'TaskSpec.ContainerSpec': {
    // Docker 20.10 sends a service's health check as `Healthcheck` (the Go field's JSON name); the
    // specs spell it `HealthCheck`. Go's decoder matches names case-insensitively: both work.
    Healthcheck: '@HealthConfig',
  },
};

/** An operation the engine serves that no spec version describes (see `undocumentedOperations`). */
export interface UndocumentedOperation {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  path: string;
  /** The first API version whose engine has it (the model uses the first spec version not older). */
  since: string;
  /** The model's response kinds (model.ts); `empty` for a status and no body worth reading. */
  response: 'empty' | 'json';
  statuses: number[];
  params: Array<{ name: string; in: 'query'; type: 'string' | 'boolean' | 'integer'; required: boolean }>;
}

/**
 * Operations the engine routes but no spec version documents, added to the model as if the spec
 * had them from `since` on (the generator refuses an entry once a spec describes the operation:
 * then the spec's facts win and the entry goes). Read from moby's routers and the docker CLI.
 */
export const undocumentedOperations: Record<string, UndocumentedOperation> = {
  // moby api/server/router/build: `POST /build/cancel` (postCancel), routed since Docker 18.06
  // (API 1.38) with BuildKit's builder. It cancels the BuildKit build started with `buildid=<id>`
  // (the classic builder registers no build id: cancelling one is a no-op that still answers 200);
  // `id` missing is an error. The docker CLI sends it when a BuildKit build is interrupted.
  BuildCancel: {
    method: 'POST',
    path: '/build/cancel',
    since: '1.38',
    response: 'empty',
    statuses: [200, 500],
    params: [{ name: 'id', in: 'query', type: 'string', required: true }],
  },
};
