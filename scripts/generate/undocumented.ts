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
