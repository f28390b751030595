/** Finding the engine and registry credentials, from config folders made by the tests. */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCredentials } from '../../src/auth/apply.js';
import { CredentialStore } from '../../src/auth/credentials.js';
import { DOCKER_HUB, normalizeRegistry, registryOfImage } from '../../src/auth/registry-name.js';
import { contextDigest } from '../../src/config/contexts.js';
import { chooseEndpoint, tlsFromEnv } from '../../src/config/endpoint.js';
import { ConnectionError, Docker, ValidationError } from '../../src/index.js';
import { NodeHttpTransport } from '../../src/transport/node-http.js';
import { parseHost } from '../../src/transport/host.js';
import { ProbingTransport } from '../../src/transport/probing.js';
import { FakeTransport } from '../support/fake-transport.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'dockhand-config-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function configFolder(name: string, config: object): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

function addContext(dir: string, name: string, host: string, opts: { skip?: boolean; tls?: boolean } = {}): void {
  const meta = join(dir, 'contexts/meta', contextDigest(name));
  mkdirSync(meta, { recursive: true });
  writeFileSync(join(meta, 'meta.json'), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: opts.skip ?? false } } }));
  if (opts.tls) {
    const tls = join(dir, 'contexts/tls', contextDigest(name), 'docker');
    mkdirSync(tls, { recursive: true });
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(tls, f), `${name}-${f}`);
  }
}

describe('where the engine is', () => {
  it('keys the context store by the SHA-256 of the name', () => {
    expect(contextDigest('default')).toBe('37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f');
  });

  it('follows the docker CLI order: option, DOCKER_HOST, DOCKER_CONTEXT, currentContext, sockets', () => {
    const dir = configFolder('order', { currentContext: 'current' });
    addContext(dir, 'current', 'tcp://10.0.0.1:2375');
    addContext(dir, 'picked', 'tcp://10.0.0.2:2376', { tls: true });
    const env = { DOCKER_CONFIG: dir, DOCKER_HOST: 'tcp://10.0.0.3:2375', DOCKER_CONTEXT: 'picked', HOME: root };
    const pick = (e: Record<string, string | undefined>, o = {}) => chooseEndpoint(o, e).candidates.map((c) => `${c.host} <- ${c.source}`);
    expect(pick(env, { host: 'unix:///x.sock' })).toEqual(['unix:///x.sock <- host option']);
    expect(pick(env)).toEqual(['tcp://10.0.0.3:2375 <- DOCKER_HOST']);
    expect(pick({ ...env, DOCKER_HOST: undefined })).toEqual(['tcp://10.0.0.2:2376 <- context "picked" (DOCKER_CONTEXT)']);
    expect(pick({ ...env, DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined })).toEqual(['tcp://10.0.0.1:2375 <- context "current" (currentContext in config.json)']);
    expect(pick({ ...env, DOCKER_HOST: '', DOCKER_CONTEXT: '' }, { context: 'picked' })).toEqual(['tcp://10.0.0.2:2376 <- context "picked" (context option)']);
    expect(pick({ HOME: root, XDG_RUNTIME_DIR: '/run/user/1000', DOCKER_CONFIG: join(root, 'none') })).toEqual([
      'unix:///var/run/docker.sock <- default socket',
      'unix:///run/user/1000/docker.sock <- rootless socket ($XDG_RUNTIME_DIR/docker.sock)',
      `unix://${root}/.docker/run/docker.sock <- Docker Desktop socket (~/.docker/run/docker.sock)`,
      'unix:///run/user/1000/podman/podman.sock <- Podman rootless socket',
      'unix:///run/podman/podman.sock <- Podman socket',
    ]);
  });

  it("reads a context's TLS files and its skip-verify flag", () => {
    const dir = configFolder('tls-ctx', {});
    addContext(dir, 'secure', 'tcp://h:2376', { tls: true });
    addContext(dir, 'lax', 'tcp://h:2376', { skip: true });
    const [secure] = chooseEndpoint({}, { DOCKER_CONFIG: dir, DOCKER_CONTEXT: 'secure' }).candidates;
    expect(String(secure!.tls!.ca)).toBe('secure-ca.pem');
    expect(String(secure!.tls!.cert)).toBe('secure-cert.pem');
    expect(secure!.tls!.rejectUnauthorized).toBe(true);
    const [lax] = chooseEndpoint({}, { DOCKER_CONFIG: dir, DOCKER_CONTEXT: 'lax' }).candidates;
    expect(lax!.tls!.rejectUnauthorized).toBe(false);
  });

  it('says which context is missing', () => {
    const dir = configFolder('missing', { currentContext: 'gone' });
    expect(() => chooseEndpoint({}, { DOCKER_CONFIG: dir })).toThrow(/docker context "gone": not found/);
    expect(() => new Docker({ env: { DOCKER_CONFIG: dir } })).toThrow(ValidationError);
  });

  it('treats the default context as the default socket', () => {
    const dir = configFolder('default-ctx', { currentContext: 'default' });
    expect(chooseEndpoint({}, { DOCKER_CONFIG: dir }).candidates.map((c) => c.host)).toEqual(['unix:///var/run/docker.sock']);
  });

  it('reads TLS from DOCKER_TLS_VERIFY (any non-empty value), DOCKER_CERT_PATH and DOCKER_TLS', () => {
    const certs = join(root, 'certs');
    mkdirSync(certs, { recursive: true });
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(certs, f), f);
    expect(tlsFromEnv({})).toBeUndefined();
    expect(tlsFromEnv({ DOCKER_TLS_VERIFY: '' })).toBeUndefined();
    for (const v of ['1', 'true', '0', 'no']) {
      const tls = tlsFromEnv({ DOCKER_TLS_VERIFY: v, DOCKER_CERT_PATH: certs })!;
      expect(tls.rejectUnauthorized).toBe(true);
      expect(String(tls.ca)).toBe('ca.pem');
    }
    expect(tlsFromEnv({ DOCKER_TLS: '1', DOCKER_CERT_PATH: certs })!.rejectUnauthorized).toBe(false);
    expect(() => tlsFromEnv({ DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(root, 'nothing') })).toThrow(/no ca.pem/);
    const docker = new Docker({ env: { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs } });
    expect(docker.address).toBe('tcp://127.0.0.1:2376');
  });

  it('goes to tcp://localhost:2376 when TLS is asked for without a host, and never speaks TLS to a unix socket', () => {
    const certs = join(root, 'certs');
    const env = { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs, DOCKER_CONFIG: join(root, 'none'), HOME: root };
    const [tlsDefault] = chooseEndpoint({}, env).candidates;
    expect(tlsDefault).toMatchObject({ host: 'tcp://localhost:2376', tls: { rejectUnauthorized: true } });
    const [viaDefaultContext] = chooseEndpoint({}, { ...env, DOCKER_CONTEXT: 'default' }).candidates;
    expect(viaDefaultContext!.host).toBe('tcp://localhost:2376');
    const [unix] = chooseEndpoint({}, { ...env, DOCKER_HOST: 'unix:///var/run/docker.sock' }).candidates;
    expect(unix).toEqual({ host: 'unix:///var/run/docker.sock', source: 'DOCKER_HOST' });
  });
});

describe('looking in the usual places', () => {
  it('keeps the first place that answers and lists what was tried before it', async () => {
    const sock = join(root, 'engine.sock');
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'api-version': '1.41' });
      res.end('OK');
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const candidate = (host: string, source: string) => ({ address: host, source, make: () => new NodeHttpTransport(parseHost(host), { connectTimeout: 1000 }) });
    const probing = new ProbingTransport([candidate(`unix://${root}/missing.sock`, 'default socket'), candidate(`unix://${sock}`, 'rootless socket')]);
    const docker = new Docker({ transport: probing });
    try {
      expect(await docker.system.ping()).toBe('OK');
      expect(probing.selected?.source).toBe('rootless socket');
      expect(probing.address).toBe(`unix://${sock}`);
      expect(probing.attempts).toEqual([{ address: `unix://${root}/missing.sock`, source: 'default socket', error: 'no such socket (ENOENT)' }]);
    } finally {
      await docker.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('lists every place tried when nothing answers', async () => {
    const docker = new Docker({ transport: new ProbingTransport(['a', 'b'].map((n) => ({ address: `unix://${root}/${n}.sock`, source: `place ${n}`, make: () => new NodeHttpTransport(parseHost(`unix://${root}/${n}.sock`), { connectTimeout: 1000 }) }))) });
    const err = (await docker.system.info().catch((e: unknown) => e)) as ConnectionError;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toContain(`unix://${root}/a.sock (place a): no such socket (ENOENT)`);
    expect(err.message).toContain(`unix://${root}/b.sock (place b): no such socket (ENOENT)`);
    expect(err.attempts.map((a) => a.source)).toEqual(['place a', 'place b']);
  });
});

describe('registry credentials', () => {
  it('normalises registry names as the CLI does', () => {
    expect(registryOfImage('busybox')).toBe(DOCKER_HUB);
    expect(registryOfImage('library/busybox:1')).toBe(DOCKER_HUB);
    expect(registryOfImage('docker.io/library/busybox')).toBe(DOCKER_HUB);
    expect(registryOfImage('localhost:5000/app@sha256:00')).toBe('localhost:5000');
    expect(registryOfImage('Registry.Example.com/team/app')).toBe('registry.example.com');
    for (const n of ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io', 'registry-1.docker.io']) expect(normalizeRegistry(n)).toBe(DOCKER_HUB);
    expect(normalizeRegistry('https://127.0.0.1:5001/v2/')).toBe('127.0.0.1:5001');
  });

  it('reads auths (auth and identitytoken) under any spelling of the registry', async () => {
    const dir = configFolder('auths', {
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hub:pass').toString('base64') },
        'http://127.0.0.1:5001': { auth: Buffer.from('dockhand:s3cret').toString('base64') },
        'tokens.example.com': { identitytoken: 'refresh-token' },
      },
    });
    const store = new CredentialStore({ DOCKER_CONFIG: dir });
    expect(await store.lookup('docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass', serveraddress: DOCKER_HUB });
    expect(await store.lookup('127.0.0.1:5001')).toEqual({ username: 'dockhand', password: 's3cret', serveraddress: '127.0.0.1:5001' });
    expect(await store.lookup('tokens.example.com')).toEqual({ identitytoken: 'refresh-token', serveraddress: 'tokens.example.com' });
    expect(await store.lookup('other.example.com')).toBeUndefined();
  });

  it('runs credHelpers and credsStore helpers, per registry first', async () => {
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    const helper = (name: string, body: string) => {
      writeFileSync(join(bin, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, `docker-credential-${name}`), 0o755);
    };
    helper('perreg', 'read url; echo "{\\"ServerURL\\":\\"$url\\",\\"Username\\":\\"helper-user\\",\\"Secret\\":\\"helper-pass-for-$url\\"}"');
    helper('store', 'if [ "$1" = list ]; then echo \'{"store.example.com":"u"}\'; exit 0; fi; read url; if [ "$url" = store.example.com ]; then echo \'{"Username":"<token>","Secret":"tok"}\'; else echo "credentials not found in native keychain"; exit 1; fi');
    const dir = configFolder('helpers', { credsStore: 'store', credHelpers: { '127.0.0.1:5001': 'perreg' }, auths: { 'plain.example.com': { auth: Buffer.from('a:b').toString('base64') } } });
    const store = new CredentialStore({ DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}` });
    expect(await store.lookup('127.0.0.1:5001')).toEqual({ username: 'helper-user', password: 'helper-pass-for-127.0.0.1:5001', serveraddress: '127.0.0.1:5001' });
    expect(await store.lookup('store.example.com')).toEqual({ identitytoken: 'tok', serveraddress: 'store.example.com' });
    // the store has nothing for this one: fall back to auths
    expect(await store.lookup('plain.example.com')).toEqual({ username: 'a', password: 'b', serveraddress: 'plain.example.com' });
    expect(Object.keys(await store.all()).sort()).toEqual(['127.0.0.1:5001', 'plain.example.com', 'store.example.com']);
  });

  it('validates a call before it looks up credentials: a credsStore whose helper is missing does not hide the VALIDATION error, and nothing is sent', async () => {
    const dir = configFolder('missing-helper', { credsStore: 'no-such-helper-anywhere' });
    const transport = new FakeTransport();
    const docker = new Docker({ transport, env: { DOCKER_CONFIG: dir, PATH: '/nonexistent' } });
    for (const bad of [{ name: '127.0.0.1:5001/x', tag: 5 }, { tag: 'v1' }, { name: '127.0.0.1:5001/x', bogus: 1 }]) {
      const err = await docker.api.ImagePush(bad as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ code: 'VALIDATION', operationId: 'ImagePush' });
    }
    expect(transport.requests.filter((r) => r.path !== '/_ping')).toEqual([]);
    // a valid push reaches the helper, which fails: CREDENTIAL_HELPER, still before anything is sent
    const helperErr = await docker.api.ImagePush({ name: '127.0.0.1:5001/x' } as never).catch((e: unknown) => e);
    expect(helperErr).toMatchObject({ code: 'CREDENTIAL_HELPER' });
    expect(transport.requests.filter((r) => r.path !== '/_ping')).toEqual([]);
  });

  it('applies stored credentials only where the caller gave none', async () => {
    const dir = configFolder('apply', { auths: { '127.0.0.1:5001': { auth: Buffer.from('u:p').toString('base64') } } });
    const store = new CredentialStore({ DOCKER_CONFIG: dir });
    const stored = { username: 'u', password: 'p', serveraddress: '127.0.0.1:5001' };
    expect(await withCredentials('ImageCreate', { fromImage: '127.0.0.1:5001/x' }, store)).toEqual({ fromImage: '127.0.0.1:5001/x', 'X-Registry-Auth': stored });
    expect(await withCredentials('ImageCreate', { fromImage: '127.0.0.1:5001/x', 'X-Registry-Auth': 'explicit' }, store)).toMatchObject({ 'X-Registry-Auth': 'explicit' });
    expect(await withCredentials('ImageCreate', { fromSrc: '-' }, store)).toEqual({ fromSrc: '-' });
    expect(await withCredentials('ImagePush', { name: 'elsewhere.example.com/x' }, store)).toEqual({ name: 'elsewhere.example.com/x', 'X-Registry-Auth': {} });
    expect(await withCredentials('ServiceCreate', { body: { TaskTemplate: { ContainerSpec: { Image: '127.0.0.1:5001/svc' } } } }, store)).toMatchObject({ 'X-Registry-Auth': stored });
    expect(await withCredentials('PluginPull', { remote: '127.0.0.1:5001/plugin' }, store)).toMatchObject({ 'X-Registry-Auth': stored });
    expect(await withCredentials('ImageBuild', {}, store)).toEqual({ 'X-Registry-Config': { '127.0.0.1:5001': stored } });
  });
});
