/**
 * The container the request-path benches create (some of everything: env, labels, a port, a
 * healthcheck, limits, a restart policy, ulimits, a tmpfs mount, DNS, a capability), so that its
 * inspect, fed back, is a realistic ContainerCreate body (the round trip of
 * test/engine/body-roundtrip.test.ts).
 */
export function benchContainerSpec(image, labels) {
  return {
    Image: image,
    Cmd: ['true'],
    Env: ['A=1', 'B=2'],
    Labels: { 'dockhand.test': 'true', ...labels },
    ExposedPorts: { '80/tcp': {} },
    Healthcheck: { Test: ['CMD', 'true'], Interval: 5_000_000_000 },
    HostConfig: {
      Memory: 64 * 1024 * 1024,
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
      Mounts: [{ Type: 'tmpfs', Target: '/tmpfs' }],
      PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
      Dns: ['1.1.1.1'],
      CapAdd: ['NET_ADMIN'],
    },
  };
}

/** The ContainerCreate body a container's inspect describes. */
export function createBodyOf(inspect) {
  return { ...inspect.Config, HostConfig: inspect.HostConfig, NetworkingConfig: { EndpointsConfig: inspect.NetworkSettings.Networks } };
}
