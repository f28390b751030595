/** Helpers for the engine suite: the test image, the test label, and cleanup. */
import { randomBytes } from 'node:crypto';
import type { ContainerCreateParams, Docker, Transport, TransportRequest } from '../../src/index.js';
import { DEFAULT_HOST, parseHost } from '../../src/transport/host.js';
import { NodeHttpTransport } from '../../src/transport/node-http.js';

type ContainerBody = Partial<ContainerCreateParams['body']>;

/**
 * The engine under test: DOCKER_HOST (scripts/engines.sh prints one per engine), else the
 * default socket. Every test that names an engine uses this, never a fixed path.
 */
export const ENGINE_HOST = process.env.DOCKER_HOST || DEFAULT_HOST;
/** Its unix socket path, for tests that put something in front of it. */
export const ENGINE_SOCKET = ENGINE_HOST.startsWith('unix://') ? ENGINE_HOST.slice('unix://'.length) : undefined;

/**
 * The engine under test, as the global setup found it: the API version in use (negotiated), its
 * version, and whether it is Podman. Tests whose assertions differ between engines branch on
 * these (and say why), never on a guess.
 */
export const ENGINE = {
  api: process.env.DOCKHAND_ENGINE_API ?? '1.41',
  version: process.env.DOCKHAND_ENGINE_VERSION ?? '',
  podman: process.env.DOCKHAND_ENGINE_PODMAN === '1',
};

/** Whether the API version in use is at least `version` (e.g. `apiAtLeast('1.42')`). */
export function apiAtLeast(version: string): boolean {
  const [a, b] = ENGINE.api.split('.').map(Number) as [number, number];
  const [c, d] = version.split('.').map(Number) as [number, number];
  return a > c || (a === c && b >= d);
}

/**
 * The port tests serve downloads to the engine on (build contexts, tars fetched by URL), on
 * 127.0.0.1: scripts/engines.sh bridges it into the network namespace of each engine it runs, so
 * the engine's own 127.0.0.1:5080 reaches the test.
 */
export const TEST_HTTP_PORT = 5080;

/**
 * What the engine answers when the registry refuses a pull (401) or has no such plugin: 20.10 and
 * 26.1 (API 1.45) turn both into a 500 of their own; 28.5 (API 1.51) passes the 401 and the 404 on.
 */
export const REGISTRY_STATUS_PASSED_ON = apiAtLeast('1.48');


/** The image `scripts/engine.sh up` imports from a busybox rootfs. */
export const TEST_IMAGE = 'dockhand-test/busybox:latest';

/**
 * An image name as the engine shows it (RepoTags, Config.Image, event attributes, build and
 * save output): Podman qualifies a name without a registry with `docker.io/` (and a one-part one
 * with `docker.io/library/`); dockerd shows it as given.
 */
export function shownName(name: string): string {
  if (!ENGINE.podman) return name;
  const first = name.split('/')[0]!;
  if (name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) return name;
  return name.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
}

/** An image id as the engine writes it in history, commit, remove and prune answers: Podman without `sha256:`. */
export function answeredId(id: string): string {
  return ENGINE.podman ? id.replace(/^sha256:/, '') : id;
}

/** The network a container joins by default: Podman's is called `podman`. */
export const DEFAULT_NETWORK = ENGINE.podman ? 'podman' : 'bridge';
/** Every engine object a test creates carries this label. */
export const TEST_LABEL = 'dockhand.test';
/** ... and objects made through `labels()` this one too, naming the run (set by the global setup). */
export const RUN_LABEL = 'dockhand.run';
export const RUN_ID = process.env.DOCKHAND_TEST_RUN ?? 'none';
/** Labelled objects older than this are leftovers of a run that died: any run may remove them. */
const STALE_MS = 30 * 60 * 1000;

/** A name unique to this run, for objects that need one. */
export function uniqueName(prefix: string): string {
  return `dockhand-test-${prefix}-${randomBytes(4).toString('hex')}`;
}

export const labels = (): Record<string, string> => ({ [TEST_LABEL]: 'true', [RUN_LABEL]: RUN_ID });

/**
 * Removes what a run left behind: every object labelled with this run's id, and every test
 * object older than STALE_MS (a run that died). Objects of other runs going on now are left alone.
 */
export async function sweep(docker: Docker, runId: string): Promise<void> {
  const mine = { label: [`${RUN_LABEL}=${runId}`] };
  const all = { label: [TEST_LABEL] };
  const staleBefore = Date.now() - STALE_MS;
  const old = (created: number | string | undefined): boolean =>
    created !== undefined && (typeof created === 'number' ? created * 1000 : Date.parse(created)) < staleBefore;
  const containers = [...(await docker.containers.list({ all: true, filters: mine })), ...(await docker.containers.list({ all: true, filters: all })).filter((c) => old(c.Created))];
  for (const c of containers) await docker.containers.remove(c.Id!, { force: true, v: true }).catch(() => undefined);
  const networks = [...(await docker.networks.list({ filters: mine })), ...(await docker.networks.list({ filters: all })).filter((n) => old(n.Created))];
  for (const n of networks) await docker.networks.remove(n.Id!).catch(() => undefined);
  const volumes = [...((await docker.volumes.list({ filters: mine })).Volumes ?? []), ...((await docker.volumes.list({ filters: all })).Volumes ?? []).filter((v) => old(v.CreatedAt))];
  for (const v of volumes) await docker.volumes.remove(v.Name).catch(() => undefined);
  const images = [...(await docker.images.list({ filters: mine })), ...(await docker.images.list({ filters: all })).filter((i) => old(i.Created))];
  for (const i of images) await docker.images.remove(i.Id, { force: true }).catch(() => undefined);
}

/** Reads a stream (response stream, hijacked connection) to its end. */
export async function readBytes(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Reads a response stream to its end, as text. */
export async function readText(stream: AsyncIterable<unknown>): Promise<string> {
  return (await readBytes(stream)).toString('utf8');
}

/**
 * Splits the engine's multiplexed stream (8-byte frame headers: stream 1 stdout, 2 stderr, then
 * a big-endian length) into its parts; throws if the bytes are not whole frames.
 */
export function demux(buf: Buffer): { stdout: string; stderr: string } {
  const out: Record<number, Buffer[]> = { 1: [], 2: [] };
  let at = 0;
  while (at + 8 <= buf.length) {
    const stream = buf[at]!;
    const size = buf.readUInt32BE(at + 4);
    if (!(stream in out) || buf[at + 1] !== 0 || at + 8 + size > buf.length) throw new Error(`not a multiplexed stream at byte ${at}`);
    out[stream]!.push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  if (at !== buf.length) throw new Error(`multiplexed stream: ${buf.length - at} trailing byte(s)`);
  return { stdout: Buffer.concat(out[1]!).toString(), stderr: Buffer.concat(out[2]!).toString() };
}

/** Reads a newline-delimited JSON stream (events, progress) to its end and parses every line. */
export async function readJsonLines<T = Record<string, unknown>>(stream: AsyncIterable<unknown>): Promise<T[]> {
  const text = await readText(stream);
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** A time as the engine's `since`/`until` read it: seconds since the epoch, with milliseconds. */
export function engineTime(ms: number): string {
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`;
}

/** Polls `read` until `done` holds for its value (or throws after `timeout` ms). */
export async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeout = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number })?.statusCode === 404;
}

/**
 * Remembers what a test created and removes it afterwards (containers first, then networks,
 * volumes and images), whether the test passed or not. Objects already gone are fine; any other
 * failure to remove is reported, so a leak fails the run instead of going unnoticed.
 */
export class Created {
  readonly containers = new Set<string>();
  readonly networks = new Set<string>();
  readonly volumes = new Set<string>();
  /** Image names (tags) or ids. */
  readonly images = new Set<string>();

  constructor(private readonly docker: Docker) {}

  container(id: string): string {
    this.containers.add(id);
    return id;
  }
  network(id: string): string {
    this.networks.add(id);
    return id;
  }
  volume(name: string): string {
    this.volumes.add(name);
    return name;
  }
  image(nameOrId: string): string {
    this.images.add(nameOrId);
    return nameOrId;
  }

  async cleanup(): Promise<void> {
    const failures: unknown[] = [];
    const attempt = async (remove: () => Promise<unknown>): Promise<void> => {
      try {
        await remove();
      } catch (err) {
        if (!isNotFound(err)) failures.push(err);
      }
    };
    for (const id of this.containers) await attempt(() => this.docker.containers.remove(id, { force: true, v: true }));
    for (const id of this.networks) await attempt(() => this.docker.networks.remove(id));
    for (const name of this.volumes) await attempt(() => this.docker.volumes.remove(name, { force: true }));
    for (const name of this.images) await attempt(() => this.docker.images.remove(name, { force: true }));
    this.containers.clear();
    this.networks.clear();
    this.volumes.clear();
    this.images.clear();
    if (failures.length) throw new AggregateError(failures, `cleanup: ${failures.length} object(s) could not be removed: ${failures.map((e) => (e as Error).message).join('; ')}`);
  }

  /** Creates a labelled container from the test image (not started) and remembers it. */
  async createContainer(body: ContainerBody = {}, name?: string): Promise<string> {
    const { Id } = await this.docker.containers.create({
      ...(name ? { name } : {}),
      body: { Image: TEST_IMAGE, Cmd: ['sleep', '300'], StopTimeout: 1, ...body, Labels: { ...labels(), ...body.Labels } },
    });
    return this.container(Id);
  }

  /** Creates and starts a labelled `sleep 300` container (or the given Cmd). */
  async runContainer(body: ContainerBody = {}, name?: string): Promise<string> {
    const id = await this.createContainer(body, name);
    await this.docker.containers.start(id);
    return id;
  }
}

/**
 * A real node:http transport to the engine that records the path of every request it sends
 * (the version negotiation ping included), to prove what reached the engine and what did not.
 */
export class RecordingTransport implements Transport {
  readonly sent: string[] = [];
  private readonly inner: NodeHttpTransport;
  readonly address: string;

  constructor(host = ENGINE_HOST) {
    this.inner = new NodeHttpTransport(parseHost(host), { connectTimeout: 10_000 });
    this.address = this.inner.address;
  }
  request(req: TransportRequest) {
    this.sent.push(`${req.method} ${req.path}`);
    return this.inner.request(req);
  }
  upgrade(req: TransportRequest) {
    this.sent.push(`${req.method} ${req.path}`);
    return this.inner.upgrade(req);
  }
  close() {
    return this.inner.close();
  }
}
