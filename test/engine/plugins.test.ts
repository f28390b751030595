/**
 * Managed (v2) plugins against the engine and the open registry of `scripts/registry.sh up`
 * (127.0.0.1:5000): create from a tar context, push, privileges, pull under an alias, upgrade,
 * and the failures of a pull. Without the registry this file fails in beforeAll: it never skips.
 *
 * The plugin is a volume driver whose entrypoint never opens its socket: fine, because it is
 * never enabled. Its rootfs is the busybox rootfs of scripts/import-test-image.mjs. Plugins carry
 * no labels: every name holds this run's id, and every plugin a test makes is removed (force)
 * after it, passed or failed. Registry content is left behind (names are unique to the run).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Docker, NotFoundError, type PluginPrivilege } from '../../src/index.js';
import { StreamError } from '../../src/streams/demux.js';
import type { ProgressMessage } from '../../src/streams/progress.js';
import { ENGINE, REGISTRY_STATUS_PASSED_ON } from '../support/engine.js';
import { expectRegistryRefusal } from '../support/registry-answers.js';

const REGISTRY = '127.0.0.1:5000';
const MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
const RUN = randomBytes(4).toString('hex');
let counter = 0;
/** A plugin repository in the registry, unique to the run: `127.0.0.1:5000/dockhand-test/plugin-<run>-<n>`. */
const uniqueRemote = (): { repo: string; ref: string } => {
  const repo = `dockhand-test/plugin-${RUN}-${++counter}`;
  return { repo, ref: `${REGISTRY}/${repo}:latest` };
};
const uniqueAlias = (): string => `dockhand-test-plugin-alias-${RUN}-${++counter}:latest`;

/** The plugin config (config.json): the fields of the engine's PluginConfig, lower-cased as in docker's docs. */
const PLUGIN_CONFIG = {
  description: 'dockhand test',
  documentation: '-',
  entrypoint: ['/bin/sh', '-c', 'sleep 3600'],
  interface: { types: ['docker.volumedriver/1.0'], socket: 'plugin.sock' },
  network: { type: 'host' },
  linux: { capabilities: [] },
  env: [],
  args: { name: '', description: '', settable: null, value: null },
};
/** What GetPluginPrivileges says a plugin with `network: host` asks for. */
const HOST_NETWORK: PluginPrivilege[] = [{ Name: 'network', Description: 'permissions to access a network', Value: ['host'] }];

interface RootfsEntry {
  name: string;
  type: 'file' | 'symlink' | 'dir';
  mode: number;
  data?: Buffer;
  target?: string;
}
interface RootfsScript {
  buildRootfs(busyboxPath?: string): Buffer;
  writeTar(entries: RootfsEntry[]): Buffer;
}

/** Reads back the entries of a tar written by scripts/import-test-image.mjs (ustar: files, dirs, symlinks). */
function readTar(archive: Buffer): RootfsEntry[] {
  const entries: RootfsEntry[] = [];
  const field = (h: Buffer, offset: number, length: number): string => {
    const raw = h.subarray(offset, offset + length);
    const end = raw.indexOf(0);
    return raw.subarray(0, end === -1 ? length : end).toString('utf8');
  };
  let at = 0;
  while (at + 512 <= archive.length) {
    const h = archive.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const name = field(h, 0, 100);
    const mode = parseInt(field(h, 100, 8), 8);
    const size = parseInt(field(h, 124, 12), 8);
    const type = field(h, 156, 1);
    const data = Buffer.from(archive.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
    if (type === '5') entries.push({ name, type: 'dir', mode });
    else if (type === '2') entries.push({ name, type: 'symlink', mode, target: field(h, 157, 100) });
    else if (type === '0') entries.push({ name, type: 'file', mode, data });
    else throw new Error(`rootfs tar: unexpected entry type ${JSON.stringify(type)} for ${name}`);
  }
  return entries;
}

const docker = new Docker();
/** Plugins (names or aliases) a test made; removed with force after each test. */
const plugins = new Set<string>();
let writeTar: RootfsScript['writeTar'] | undefined;
/** The busybox rootfs entries, each under `rootfs/`. */
let rootfs: RootfsEntry[];

/**
 * The plugin's tar context: config.json and rootfs/. The rootfs holds a file naming the plugin,
 * so every plugin has its own layer: dockerd 20.10 refuses to create a plugin whose layer blob
 * is already in its plugin content store (409 "content sha256:...: already exists"), which is
 * the case while another plugin has it, and until its asynchronous blob GC ran after a removal.
 */
function tarContextFor(ref: string): Buffer {
  if (!writeTar) throw new Error('plugins suite: the rootfs was not built (see beforeAll)');
  return writeTar([
    { name: 'config.json', type: 'file', mode: 0o644, data: Buffer.from(JSON.stringify(PLUGIN_CONFIG)) },
    { name: 'rootfs', type: 'dir', mode: 0o755 },
    ...rootfs,
    { name: 'rootfs/etc/dockhand-plugin', type: 'file', mode: 0o644, data: Buffer.from(`${ref}\n`) },
  ]);
}

/** Fails (never skips) unless the registry answers GET /v2/ with 200. */
async function requireRegistry(): Promise<void> {
  let problem: string;
  try {
    const res = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(5_000) });
    await res.body?.cancel();
    if (res.status === 200) return;
    problem = `GET /v2/ answered ${res.status}`;
  } catch (err) {
    problem = (err as Error).message;
  }
  throw new Error(`plugins suite: no registry answers on http://${REGISTRY}/v2/ (${problem}). Start it with \`bash scripts/registry.sh up\`.`);
}

/** The digest the registry gives for a tag (HEAD on the manifest). */
async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`http://${REGISTRY}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_V2 }, signal: AbortSignal.timeout(5_000) });
  expect(res.status).toBe(200);
  return res.headers.get('docker-content-digest');
}

/** Creates the test plugin as `ref` (disabled, as created plugins are) and remembers it. */
async function createPlugin(ref: string): Promise<void> {
  plugins.add(ref);
  await docker.api.PluginCreate({ name: ref, tarContext: tarContextFor(ref) });
}

/** Creates `ref`, pushes it (awaiting the ProgressStream) and removes it locally; returns the pushed digest. */
async function pushAndForget(ref: string): Promise<string> {
  await createPlugin(ref);
  const { aux } = await docker.plugins.push(ref);
  const digest = (aux[0] as { Digest: string }).Digest;
  expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  // the spec says 200 with the Plugin; dockerd 20.10 answers with an empty body
  expect(await docker.plugins.remove(ref, { force: true })).toBeUndefined();
  await expect(docker.plugins.inspect(ref)).rejects.toBeInstanceOf(NotFoundError);
  return digest;
}

/**
 * Podman has no plugins: its router answers every plugin endpoint with 404 "Not Found" (the list,
 * GET /plugins, with a JSON "Path ... is not supported"). Each test checks that for what it calls.
 */
async function expectNoPlugins(call: () => PromiseLike<unknown>, operationId: string, message = 'Not Found'): Promise<void> {
  const err = await Promise.resolve(call()).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NotFoundError);
  expect(err).toMatchObject({ statusCode: 404, code: 'NOT_FOUND', operationId, message });
}

beforeAll(async () => {
  await requireRegistry();
  const script = (await import(new URL('../../scripts/import-test-image.mjs', import.meta.url).href)) as RootfsScript;
  writeTar = script.writeTar;
  rootfs = readTar(script.buildRootfs()).map((e) => ({ ...e, name: `rootfs/${e.name}` }));
  expect(rootfs.some((e) => e.name === 'rootfs/bin/busybox' && e.type === 'file')).toBe(true);
});

afterEach(async () => {
  const failures: string[] = [];
  for (const name of plugins) {
    await docker.plugins.remove(name, { force: true }).catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) failures.push(`${name}: ${(err as Error).message}`);
    });
  }
  plugins.clear();
  if (failures.length) throw new Error(`plugins cleanup: ${failures.join('; ')}`);
});

/**
 * dockerd collects unreferenced plugin blobs only after a plugin removal (asynchronously): a pull
 * that fails (e.g. for missing privileges) leaves its downloaded blobs behind until then. So the
 * suite ends by creating and removing a tiny plugin of its own.
 */
async function collectPluginBlobs(write: RootfsScript['writeTar']): Promise<void> {
  const name = `dockhand-test-plugin-gc-${RUN}:latest`;
  const config = { ...PLUGIN_CONFIG, entrypoint: ['/none'], network: { type: 'none' } };
  await docker.api.PluginCreate({
    name,
    tarContext: write([
      { name: 'config.json', type: 'file', mode: 0o644, data: Buffer.from(JSON.stringify(config)) },
      { name: 'rootfs', type: 'dir', mode: 0o755 },
      { name: 'rootfs/gc', type: 'file', mode: 0o644, data: Buffer.from(`${RUN}\n`) },
    ]),
  });
  await docker.plugins.remove(name, { force: true });
}

afterAll(async () => {
  try {
    if (ENGINE.podman) {
      await expectNoPlugins(() => docker.plugins.list(), 'PluginList', `Path /v${ENGINE.api}/plugins is not supported`);
      return;
    }
    if (writeTar) await collectPluginBlobs(writeTar);
    const left = (await docker.plugins.list()).filter((p) => p.Name.includes(RUN) || (p.PluginReference ?? '').includes(RUN));
    expect(left.map((p) => p.Name)).toEqual([]);
  } finally {
    await docker.close();
  }
});

describe(`plugins through the registry on ${REGISTRY}`, () => {
  it('creates a plugin from a tar context (config.json + rootfs/): disabled, with the config it was given', async () => {
    const { ref } = uniqueRemote();
    if (ENGINE.podman) {
      await expectNoPlugins(() => createPlugin(ref), 'PluginCreate');
      return expectNoPlugins(() => docker.plugins.inspect(ref), 'PluginInspect');
    }
    await createPlugin(ref);
    const plugin = await docker.plugins.inspect(ref);
    expect(plugin).toMatchObject({ Name: ref, Enabled: false, PluginReference: ref });
    expect(plugin.Id).toMatch(/^[0-9a-f]{64}$/);
    expect(plugin.Config).toMatchObject({
      Description: 'dockhand test',
      Documentation: '-',
      Entrypoint: ['/bin/sh', '-c', 'sleep 3600'],
      Interface: { Types: ['docker.volumedriver/1.0'], Socket: 'plugin.sock' },
      Network: { Type: 'host' },
      rootfs: { type: 'layers', diff_ids: [expect.stringMatching(/^sha256:[0-9a-f]{64}$/)] },
    });
    expect((await docker.plugins.list()).map((p) => p.Name)).toContain(ref);
  });

  it('pushes it: the ProgressStream resolves, aux has the tag, digest and size the registry serves', async () => {
    const { repo, ref } = uniqueRemote();
    if (ENGINE.podman) return expectNoPlugins(() => docker.plugins.push(ref), 'PluginPush');
    await createPlugin(ref);
    const messages: ProgressMessage[] = [];
    const push = docker.plugins.push(ref, {}, { onProgress: (m) => messages.push(m) });
    const result = await push;
    expect(messages[0]).toEqual({ status: `The push refers to repository [${REGISTRY}/${repo}]` });
    expect(result.messages).toBe(messages.length);
    expect(result.aux).toEqual([{ Tag: 'latest', Digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), Size: expect.any(Number) }]);
    expect(result.last).toMatchObject({ aux: result.aux[0] });
    const { Digest } = result.aux[0] as { Digest: string };
    expect(await registryDigest(repo, 'latest')).toBe(Digest);
    // every blob (config, rootfs layer, ...) ended uploaded
    expect(push.progress.layers.size).toBeGreaterThanOrEqual(2);
    for (const layer of push.progress.layers.values()) expect(layer.status).toBe('Upload complete');
  });

  it('privileges({ remote }) lists what the plugin asks for (network: host)', async () => {
    const { ref } = uniqueRemote();
    if (ENGINE.podman) return expectNoPlugins(() => docker.plugins.privileges({ remote: ref }), 'GetPluginPrivileges');
    await pushAndForget(ref);
    const privileges = await docker.plugins.privileges({ remote: ref });
    expect(privileges).toEqual(HOST_NETWORK);
  });

  it('pulls it under a local alias with its privileges (disabled: pull does not enable), then upgrades it in place', async () => {
    const { repo, ref } = uniqueRemote();
    if (ENGINE.podman) {
      const alias = uniqueAlias();
      plugins.add(alias);
      await expectNoPlugins(() => docker.plugins.pull({ remote: ref, name: alias, body: HOST_NETWORK }), 'PluginPull');
      return expectNoPlugins(() => docker.plugins.upgrade(alias, { remote: ref, body: HOST_NETWORK }), 'PluginUpgrade');
    }
    const digest = await pushAndForget(ref);
    const privileges = await docker.plugins.privileges({ remote: ref });
    expect(privileges).toEqual(HOST_NETWORK);

    const alias = uniqueAlias();
    plugins.add(alias);
    const messages: ProgressMessage[] = [];
    const pull = docker.plugins.pull({ remote: ref, name: alias, body: privileges }, { onProgress: (m) => messages.push(m) });
    const pulled = await pull;
    expect(messages[0]).toEqual({ status: `Pulling from ${REGISTRY}/${repo}`, id: 'latest' });
    expect(messages).toContainEqual({ status: `Digest: ${digest}` });
    // The engine reports the layer's "Download complete" from its download's progress goroutine
    // and "Complete" from the pull itself: under load they come in either order (seen in CI).
    expect(messages).toContainEqual(expect.objectContaining({ status: 'Complete' }));
    expect(['Complete', 'Download complete']).toContain(pulled.last?.status);
    expect(pulled.last).toBe(messages[messages.length - 1]);
    expect(pulled.aux).toEqual([]);
    // the progress model keys messages by id: the first one ('latest') is the tag, then the rootfs layer
    expect(pull.progress.layers.get('latest')?.status).toBe(`Pulling from ${REGISTRY}/${repo}`);
    const layers = [...pull.progress.layers].filter(([id]) => id !== 'latest');
    expect(layers).toHaveLength(1);
    expect(layers[0]![1]).toMatchObject({ status: expect.stringMatching(/^(Download )?[Cc]omplete$/), current: expect.any(Number), total: expect.any(Number) });
    expect(layers[0]![1].total).toBeGreaterThan(1_000_000); // the busybox rootfs

    const plugin = await docker.plugins.inspect(alias);
    expect(plugin).toMatchObject({ Name: alias, Enabled: false, PluginReference: ref, Config: { Description: 'dockhand test', Network: { Type: 'host' } } });
    await expect(docker.plugins.inspect(ref)).rejects.toBeInstanceOf(NotFoundError);
    expect((await docker.plugins.list()).find((p) => p.Name === alias)).toMatchObject({ Enabled: false, PluginReference: ref });

    // upgrade needs a disabled plugin: it is
    const upgrade = await docker.plugins.upgrade(alias, { remote: ref, body: privileges });
    expect(upgrade.last).toMatchObject({ status: 'Complete' });
    const upgraded = await docker.plugins.inspect(alias);
    expect(upgraded).toMatchObject({ Name: alias, Id: plugin.Id, Enabled: false, PluginReference: ref });
  });

  it('refuses a pull without the privileges the plugin asks for: in the stream (StreamError), after a 200', async () => {
    const { ref } = uniqueRemote();
    if (ENGINE.podman) return expectNoPlugins(() => docker.plugins.pull({ remote: ref, name: uniqueAlias() }), 'PluginPull');
    await pushAndForget(ref);
    const alias = uniqueAlias();
    plugins.add(alias);
    const err = await docker.plugins.pull({ remote: ref, name: alias }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamError);
    expect(err).toMatchObject({ code: 'STREAM_ERROR', operationId: 'PluginPull', statusCode: undefined });
    expect((err as Error).message).toBe('incorrect privileges');
    await expect(docker.plugins.inspect(alias)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('rejects a pull of a plugin the registry does not have with ServerError (500), before any stream', async () => {
    const missing = `${REGISTRY}/dockhand-test/missing-${RUN}:latest`;
    const alias = uniqueAlias();
    plugins.add(alias);
    if (ENGINE.podman) return expectNoPlugins(() => docker.plugins.pull({ remote: missing, name: alias, body: HOST_NETWORK }), 'PluginPull');
    const err = await docker.plugins.pull({ remote: missing, name: alias, body: HOST_NETWORK }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // a 500 from 20.10 and 26.1; 28.5 passes the registry's 404 on
    expectRegistryRefusal(err, 'PluginPull', 404);
    // the engine tries HTTPS first; 20.10 reports that attempt for a missing manifest
    expect((err as Error).message).toMatch(/^error resolving plugin reference: /);
    // 20.10 and 26.1 name the manifest they asked for; 28.5 names only the reference
    if (!REGISTRY_STATUS_PASSED_ON) expect((err as Error).message).toContain(`dockhand-test/missing-${RUN}/manifests/latest`);
    await expect(docker.plugins.inspect(alias)).rejects.toBeInstanceOf(NotFoundError);
  });
});
