/** Registry names as the docker CLI normalises them: docker.io and https://index.docker.io/v1/ are one. */

/** The key Docker Hub's credentials are stored under in config.json. */
export const DOCKER_HUB = 'https://index.docker.io/v1/';

const HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The registry of an image reference: its first path component if it looks like a host. */
export function registryOfImage(ref: string): string {
  const name = ref.split('@')[0]!;
  const slash = name.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = name.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return normalizeRegistry(first);
  return DOCKER_HUB;
}

/** `https://host:5000/v2/` -> `host:5000`; every Docker Hub spelling -> DOCKER_HUB. */
export function normalizeRegistry(name: string): string {
  let host = name.trim().replace(/^[a-z]+:\/\//i, '');
  host = host.split('/')[0]!.toLowerCase();
  return HUB_NAMES.has(host) ? DOCKER_HUB : host;
}
