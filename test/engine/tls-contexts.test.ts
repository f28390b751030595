/**
 * TLS and docker contexts against real engines: the main one on unix:///var/run/docker.sock and a
 * second, TLS-only one on tcp://127.0.0.1:2376 (`bash scripts/tls-engine.sh up`), which requires a
 * client certificate. Which engine answered is told by its DockerRootDir, which differs.
 *
 * The contexts are made with the real docker CLI, so the store's layout is the CLI's own, and for
 * every way of choosing an endpoint the CLI's own answer (`docker context inspect`, `docker context
 * ls`, `docker info`) is compared with dockhand's `endpoint()` and with the engine it reaches.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, Docker, type DockerOptions, type EndpointInfo } from '../../src/index.js';
import { ENGINE_HOST } from '../support/engine.js';

const STATE = join(process.env.TMPDIR || '/tmp', 'dockhand-tls-engine');
const TLS_HOST = 'tcp://127.0.0.1:2376';
/** The engine under test, named by the unix-socket context and DOCKER_HOST cases. */
const MAIN_HOST = ENGINE_HOST;
/** Where the default context and the "nothing configured" search land, whatever is under test. */
const DEFAULT_SOCKET = 'unix:///var/run/docker.sock';
const TRANSPORTS = ['node', 'undici'] as const;
const UP = '`bash scripts/tls-engine.sh up`';

const file = (name: string): Buffer => readFileSync(join(STATE, name));

/** The DockerRootDir of each engine, learnt in beforeAll. */
const roots = { tls: '', main: '', default: '' };
/** Error messages seen, printed at the end (they are part of what these tests are about). */
const observed: string[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'dockhand-tls-contexts-'));

/** Runs `fn` with a client, and closes it whatever happens. */
async function using<T>(options: DockerOptions, fn: (docker: Docker) => Promise<T>): Promise<T> {
  const docker = new Docker(options);
  try {
    return await fn(docker);
  } finally {
    await docker.close();
  }
}

/** What the promise rejected with (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value).slice(0, 200)}`);
  return outcome.err as Error;
}

beforeAll(async () => {
  for (const f of ['ca.pem', 'cert.pem', 'key.pem', 'other-ca.pem']) {
    if (!existsSync(join(STATE, f))) throw new Error(`TLS engine suite: ${join(STATE, f)} is missing; run ${UP} first`);
  }
  const tls = { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem') };
  try {
    roots.tls = (await using({ host: TLS_HOST, tls, env: {} }, (d) => d.system.info({}, { timeout: 10_000 }))).DockerRootDir ?? '';
  } catch (err) {
    throw new Error(`TLS engine suite: the TLS engine does not answer on ${TLS_HOST} (${(err as Error).message}); run ${UP} first`);
  }
  roots.main = (await using({ host: MAIN_HOST, env: {} }, (d) => d.system.info({}, { timeout: 10_000 }))).DockerRootDir ?? '';
  roots.default = (await using({ host: DEFAULT_SOCKET, env: {} }, (d) => d.system.info({}, { timeout: 10_000 }))).DockerRootDir ?? '';
  // The two engines are told apart by their root directories: they must differ.
  expect(roots.tls).toBe(realpathSync(join(STATE, 'data')));
  expect(roots.main).not.toBe(roots.tls);
  expect(roots.main).not.toBe('');
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  if (observed.length) console.log(`tls-contexts: messages observed\n${observed.map((m) => `  ${m}`).join('\n')}`);
});

describe('TLS engine (tcp://127.0.0.1:2376, client certificate required)', () => {
  for (const transport of TRANSPORTS) {
    it(`${transport}: connects with the CA, client certificate and key, and reaches the second engine`, async () => {
      const tls = { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem') };
      await using({ host: TLS_HOST, tls, transport, env: {} }, async (docker) => {
        expect(docker.address).toBe(TLS_HOST);
        expect(await docker.endpoint()).toEqual({ address: TLS_HOST, source: 'host option', attempts: [] });
        const info = await docker.system.info();
        expect(info.DockerRootDir).toBe(roots.tls);
        expect(await docker.apiVersion()).toBe('1.41');
        expect((await docker.system.version()).ApiVersion).toBe('1.41');
        expect(Array.isArray(await docker.containers.list({ all: true }))).toBe(true);
        expect(await docker.system.ping()).toBe('OK');
      });
    });

    it(`${transport}: verifies the engine's name: tcp://localhost:2376 matches DNS:localhost`, async () => {
      const tls = { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem') };
      await using({ host: 'tcp://localhost:2376', tls, transport, env: {} }, async (docker) => {
        expect((await docker.system.info()).DockerRootDir).toBe(roots.tls);
      });
    });

    it(`${transport}: a servername the certificate does not name fails with a TLS ConnectionError`, async () => {
      const tls = { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem'), servername: 'not-the-engine.test' };
      const err = await using({ host: TLS_HOST, tls, transport, env: {} }, (docker) => rejection(docker.system.info()));
      observed.push(`${transport} wrong servername: ${JSON.stringify(err.message)}`);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).address).toBe(TLS_HOST);
      expect(err.message).toMatch(/^cannot reach the Docker engine at tcp:\/\/127\.0\.0\.1:2376: TLS: .*not-the-engine\.test/);
    });

    it(`${transport}: a CA that did not sign the engine's certificate fails with a TLS ConnectionError about verification`, async () => {
      const tls = { ca: file('other-ca.pem'), cert: file('cert.pem'), key: file('key.pem') };
      const err = await using({ host: TLS_HOST, tls, transport, env: {} }, (docker) => rejection(docker.system.info()));
      observed.push(`${transport} wrong CA: ${JSON.stringify(err.message)}`);
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err).toMatchObject({ code: 'CONNECTION', address: TLS_HOST });
      expect(err.message).toMatch(/^cannot reach the Docker engine at tcp:\/\/127\.0\.0\.1:2376: TLS: .*verify.*certificate/i);
      expect((err as ConnectionError).reason).toMatch(/CERT|VERIFY|SIGNATURE|ISSUER/);
    });

    it(`${transport}: without a client certificate the engine refuses, with a ConnectionError`, async () => {
      const err = await using({ host: TLS_HOST, tls: { ca: file('ca.pem') }, transport, env: {} }, (docker) => rejection(docker.system.info()));
      observed.push(`${transport} no client certificate: ${JSON.stringify(err.message)}`);
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err).toMatchObject({ code: 'CONNECTION', address: TLS_HOST });
      // The engine checks the client certificate after the handshake (TLS 1.3): node:http sees its
      // alert ("bad certificate"), undici only that the connection was closed.
      expect(err.message).toMatch(/^cannot reach the Docker engine at tcp:\/\/127\.0\.0\.1:2376: (TLS: .*certificate|connection (reset|closed) by the engine)/);
    });

    it(`${transport}: TLS against a plain-HTTP endpoint fails with a TLS ConnectionError`, async () => {
      // What a TLS client meets when the port speaks plain HTTP (an engine started without --tls).
      const server = http.createServer((_req, res) => res.end('OK'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const host = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const tls = { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem') };
        const err = await using({ host, tls, transport, env: {} }, (docker) => rejection(docker.system.info()));
        observed.push(`${transport} TLS to plain HTTP: ${err.constructor.name}: ${JSON.stringify(err.message)}`);
        expect(err).toBeInstanceOf(ConnectionError);
        expect(err).toMatchObject({ code: 'CONNECTION', address: host });
        expect(err.message).toMatch(/^cannot reach the Docker engine at tcp:\/\/127\.0\.0\.1:\d+: TLS: /);
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });

    it(`${transport}: DOCKER_HOST + DOCKER_TLS_VERIFY=1 + DOCKER_CERT_PATH alone are enough`, async () => {
      const certs = join(scratch, `certs-${transport}`);
      mkdirSync(certs);
      for (const f of ['ca.pem', 'cert.pem', 'key.pem']) copyFileSync(join(STATE, f), join(certs, f));
      const env = { DOCKER_HOST: TLS_HOST, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs };
      await using({ env, transport }, async (docker) => {
        expect(await docker.endpoint()).toEqual({ address: TLS_HOST, source: 'DOCKER_HOST', attempts: [] });
        expect((await docker.system.info()).DockerRootDir).toBe(roots.tls);
      });
    });
  }
});

// --- contexts, against the docker CLI ----------------------------------------------------------

/** The environment the CLI runs in: this process's, less every DOCKER_* variable, plus `env`. */
function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')));
  return { ...base, HOME: join(scratch, 'home'), ...env };
}

/** Runs the docker CLI on PATH; throws with its output unless it exits 0. */
function cli(args: string[], env: Record<string, string>): string {
  const r = spawnSync('docker', args, { env: cliEnv(env), encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`docker ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.status}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** What the CLI makes of an environment (and its global flags). */
function cliView(env: Record<string, string>, flags: string[] = []): { current: string; host: string; root: string } {
  const inspected = JSON.parse(cli([...flags, 'context', 'inspect'], env)) as Array<{ Name: string; Endpoints: { docker: { Host: string } } }>;
  const lines = cli([...flags, 'context', 'ls', '--format', '{{.Name}} {{.Current}}'], env).trim().split('\n');
  const current = lines.filter((l) => l.endsWith(' true')).map((l) => l.slice(0, -' true'.length));
  expect(current, `docker context ls: ${lines.join(' | ')}`).toHaveLength(1);
  expect(inspected).toHaveLength(1);
  expect(inspected[0]!.Name).toBe(current[0]);
  const root = cli([...flags, 'info', '--format', '{{.DockerRootDir}}'], env).trim();
  return { current: current[0]!, host: inspected[0]!.Endpoints.docker.Host, root };
}

/** The context the CLI would call current for a dockhand source (`default` when none is named). */
function contextOfSource(source: string): string {
  return /^context "([^"]+)" \(/.exec(source)?.[1] ?? 'default';
}

/** Where dockhand goes and which engine answers there, or what went wrong (shown in a failed diff). */
async function dockhandView(options: DockerOptions): Promise<Partial<EndpointInfo> & { root?: string | undefined; error?: string }> {
  try {
    return await using(options, async (docker) => {
      const where: EndpointInfo = await docker.endpoint();
      expect(docker.address).toBe(where.address);
      return { ...where, root: (await docker.system.info()).DockerRootDir };
    });
  } catch (err) {
    return { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
}

/** `fn` for each transport, keyed by transport, so that one diff shows both. */
async function perTransport<T>(fn: (transport: (typeof TRANSPORTS)[number]) => Promise<T>): Promise<Record<(typeof TRANSPORTS)[number], T>> {
  return { node: await fn('node'), undici: await fn('undici') };
}

describe('docker contexts made by the docker CLI', () => {
  /** A config folder with unix-ctx, tls-ctx and lax, made once by the CLI; each test copies it. */
  const template = join(scratch, 'template');
  let cliVersion = '';
  let copies = 0;

  beforeAll(() => {
    cliVersion = cli(['--version'], {}).trim();
    observed.push(`docker CLI: ${spawnSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).stdout.trim()}: ${cliVersion}`);
    mkdirSync(template);
    mkdirSync(join(scratch, 'home'));
    const env = { DOCKER_CONFIG: template };
    cli(['context', 'create', 'unix-ctx', '--docker', `host=${MAIN_HOST}`], env);
    cli(['context', 'create', 'tls-ctx', '--docker', `host=${TLS_HOST},ca=${join(STATE, 'ca.pem')},cert=${join(STATE, 'cert.pem')},key=${join(STATE, 'key.pem')}`], env);
    cli(['context', 'create', 'lax', '--docker', `host=${TLS_HOST},skip-tls-verify=true,cert=${join(STATE, 'cert.pem')},key=${join(STATE, 'key.pem')}`], env);
  });

  /** A fresh copy of the CLI-made config folder, with `docker context use <use>` run on it if given. */
  function configDir(use?: string): string {
    const dir = join(scratch, `config-${++copies}`);
    cpSync(template, dir, { recursive: true });
    if (use) cli(['context', 'use', use], { DOCKER_CONFIG: dir });
    return dir;
  }

  it('the store has the layout dockhand reads: meta.json per context, TLS files beside it', () => {
    const dir = configDir();
    const inspected = JSON.parse(cli(['context', 'inspect', 'tls-ctx', 'lax', 'unix-ctx'], { DOCKER_CONFIG: dir })) as Array<{
      Name: string;
      Endpoints: { docker: { Host: string; SkipTLSVerify: boolean } };
      TLSMaterial: { docker?: string[] };
      Storage: { MetadataPath: string; TLSPath: string };
    }>;
    expect(inspected.map((c) => [c.Name, c.Endpoints.docker, [...(c.TLSMaterial.docker ?? [])].sort()])).toEqual([
      ['tls-ctx', { Host: TLS_HOST, SkipTLSVerify: false }, ['ca.pem', 'cert.pem', 'key.pem']],
      ['lax', { Host: TLS_HOST, SkipTLSVerify: true }, ['cert.pem', 'key.pem']],
      ['unix-ctx', { Host: MAIN_HOST, SkipTLSVerify: false }, []],
    ]);
    for (const c of inspected) {
      expect(existsSync(join(c.Storage.MetadataPath, 'meta.json'))).toBe(true);
      for (const f of c.TLSMaterial.docker ?? []) expect(existsSync(join(c.Storage.TLSPath, 'docker', f))).toBe(true);
    }
  });

  interface Case {
    name: string;
    /** `docker context use` on the config folder first. */
    use?: string;
    /** Variables besides DOCKER_CONFIG (for dockhand and the CLI alike). */
    env?: Record<string, string>;
    /** dockhand's `context` option, and the CLI's `--context` flag. */
    context?: string;
    address: string;
    source: string;
    engine: 'tls' | 'main' | 'default';
  }

  const cases: Case[] = [
    { name: 'DOCKER_CONTEXT=tls-ctx', env: { DOCKER_CONTEXT: 'tls-ctx' }, address: TLS_HOST, source: 'context "tls-ctx" (DOCKER_CONTEXT)', engine: 'tls' },
    { name: 'DOCKER_CONTEXT=unix-ctx', env: { DOCKER_CONTEXT: 'unix-ctx' }, address: MAIN_HOST, source: 'context "unix-ctx" (DOCKER_CONTEXT)', engine: 'main' },
    { name: '`docker context use tls-ctx` (currentContext)', use: 'tls-ctx', address: TLS_HOST, source: 'context "tls-ctx" (currentContext in config.json)', engine: 'tls' },
    { name: '`docker context use unix-ctx` (currentContext)', use: 'unix-ctx', address: MAIN_HOST, source: 'context "unix-ctx" (currentContext in config.json)', engine: 'main' },
    {
      name: 'DOCKER_CONTEXT=tls-ctx over currentContext unix-ctx',
      use: 'unix-ctx',
      env: { DOCKER_CONTEXT: 'tls-ctx' },
      address: TLS_HOST,
      source: 'context "tls-ctx" (DOCKER_CONTEXT)',
      engine: 'tls',
    },
    {
      name: 'DOCKER_CONTEXT=default over currentContext tls-ctx',
      use: 'tls-ctx',
      env: { DOCKER_CONTEXT: 'default' },
      address: DEFAULT_SOCKET,
      source: 'context "default" (DOCKER_CONTEXT)',
      engine: 'default',
    },
    {
      name: 'the context option (--context) over DOCKER_CONTEXT and currentContext',
      use: 'unix-ctx',
      env: { DOCKER_CONTEXT: 'unix-ctx' },
      context: 'tls-ctx',
      address: TLS_HOST,
      source: 'context "tls-ctx" (context option)',
      engine: 'tls',
    },
    {
      name: 'DOCKER_HOST (unix) overrides DOCKER_CONTEXT=tls-ctx and currentContext tls-ctx',
      use: 'tls-ctx',
      env: { DOCKER_CONTEXT: 'tls-ctx', DOCKER_HOST: MAIN_HOST },
      address: MAIN_HOST,
      source: 'DOCKER_HOST',
      engine: 'main',
    },
    {
      name: 'DOCKER_HOST (tcp, TLS from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) overrides DOCKER_CONTEXT=unix-ctx',
      use: 'unix-ctx',
      env: { DOCKER_CONTEXT: 'unix-ctx', DOCKER_HOST: TLS_HOST, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: STATE },
      address: TLS_HOST,
      source: 'DOCKER_HOST',
      engine: 'tls',
    },
    {
      // A shell that still exports the TLS variables of a remote engine: the CLI (28.x) ignores
      // TLS on a unix socket and speaks plain HTTP there.
      name: 'DOCKER_HOST=unix:///var/run/docker.sock with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH still set',
      env: { DOCKER_HOST: MAIN_HOST, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: STATE },
      address: MAIN_HOST,
      source: 'DOCKER_HOST',
      engine: 'main',
    },
    {
      name: 'DOCKER_CONTEXT=lax: skip-tls-verify, a client certificate and no CA',
      env: { DOCKER_CONTEXT: 'lax' },
      address: TLS_HOST,
      source: 'context "lax" (DOCKER_CONTEXT)',
      engine: 'tls',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: dockhand and the docker CLI pick ${c.address} and reach the ${c.engine} engine`, async () => {
      const env = { DOCKER_CONFIG: configDir(c.use), ...c.env };
      if (c.use) expect(JSON.parse(readFileSync(join(env.DOCKER_CONFIG, 'config.json'), 'utf8'))).toMatchObject({ currentContext: c.use });
      const root = roots[c.engine];
      const expected = { address: c.address, source: c.source, attempts: [], root };
      expect(await perTransport((transport) => dockhandView({ env, transport, ...(c.context ? { context: c.context } : {}) }))).toEqual({ node: expected, undici: expected });
      const view = cliView(env, c.context ? ['--context', c.context] : []);
      expect(view).toEqual({ current: contextOfSource(c.source), host: c.address, root });
    });
  }

  it('DOCKER_TLS_VERIFY + DOCKER_CERT_PATH and nothing else: the CLI\'s default TLS host, tcp://localhost:2376', async () => {
    // The docker CLI (28.x and 20.10 alike) falls back to tcp://localhost:2376, not to the unix
    // socket, when TLS is asked for and no host is given (opts.ParseHost(tls=true, "")).
    const env = { HOME: join(scratch, 'home'), DOCKER_CONFIG: configDir(), DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: STATE };
    const view = cliView(env);
    expect(view).toEqual({ current: 'default', host: 'tcp://localhost:2376', root: roots.tls });
    const expected = { address: view.host, root: view.root, error: undefined };
    const seen = await perTransport(async (transport) => {
      const { address, root, error } = await dockhandView({ env, transport });
      return { address, root, error };
    });
    expect(seen).toEqual({ node: expected, undici: expected });
  });

  it('nothing configured: the usual places, and the engine on the default socket answers', async () => {
    const home = join(scratch, 'empty-home');
    const run = join(scratch, 'empty-run');
    const config = join(scratch, 'empty-config');
    for (const d of [home, run, config]) mkdirSync(d);
    const env = { HOME: home, XDG_RUNTIME_DIR: run, DOCKER_CONFIG: config };
    const expected = { address: DEFAULT_SOCKET, source: 'default socket', attempts: [], root: roots.default };
    expect(await perTransport((transport) => dockhandView({ env, transport }))).toEqual({ node: expected, undici: expected });
    expect(cliView(env)).toEqual({ current: 'default', host: DEFAULT_SOCKET, root: roots.default });
  });
});
