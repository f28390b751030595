/**
 * The transports against real local servers (not an engine): TLS with client certificates, a
 * server that never answers the connect, and the auto transport's switch to undici.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, Docker } from '../../src/index.js';
import { AutoTransport } from '../../src/transport/auto.js';
import { parseHost } from '../../src/transport/host.js';
import { TRANSPORTS, UNDICI_HERE } from '../support/runtime.js';

interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
}

function makePki(dir: string): Pki {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) => ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`);
  ca('ca');
  ca('other-ca');
  const leaf = (name: string, ext: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    execFileSync('sh', ['-c', `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: dir });
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  leaf('client', 'extendedKeyUsage=clientAuth');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { ca: read('ca.pem'), serverCert: read('server.pem'), serverKey: read('server.key'), clientCert: read('client.pem'), clientKey: read('client.key'), otherCa: read('other-ca.pem') };
}

function engineLike(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url === '/_ping') {
    res.writeHead(200, { 'api-version': '1.41', 'content-type': 'text/plain' });
    res.end('OK');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ path: req.url, authorized: (req.socket as { authorized?: boolean }).authorized ?? null }));
}

describe('TLS', () => {
  let dir: string;
  let pki: Pki;
  let server: https.Server;
  let host: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dockhand-tls-'));
    pki = makePki(dir);
    server = https.createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, engineLike);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const transport of TRANSPORTS) {
    it(`${transport}: connects with the right CA and client certificate`, async () => {
      const docker = new Docker({ host, transport, tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
      try {
        expect(docker.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
        expect(await docker.apiVersion()).toBe('1.41');
        expect(await docker.system.info()).toEqual({ path: '/v1.41/info', authorized: true });
      } finally {
        await docker.close();
      }
    });

    it(`${transport}: a wrong CA fails with a TLS ConnectionError`, async () => {
      const docker = new Docker({ host, transport, tls: { ca: pki.otherCa, cert: pki.clientCert, key: pki.clientKey } });
      const err = await docker.system.info().catch((e: unknown) => e);
      await docker.close();
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).message).toMatch(/cannot reach the Docker engine at tcp:\/\/127\.0\.0\.1:\d+: TLS: .*(certificate|verify)/i);
    });

    it(`${transport}: without a client certificate the server refuses`, async () => {
      const docker = new Docker({ host, transport, tls: { ca: pki.ca } });
      const err = await docker.system.info().catch((e: unknown) => e);
      await docker.close();
      expect(err).toBeInstanceOf(ConnectionError);
    });
  }
});

describe('connect timeout', () => {
  for (const transport of TRANSPORTS) {
    it(`${transport}: never waits forever for a connection to be made`, async () => {
      // A server that accepts TCP but never says a word: the TLS handshake never completes.
      const sockets: import('node:net').Socket[] = [];
      const server = net.createServer((s) => void sockets.push(s));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const docker = new Docker({ host: `tcp://127.0.0.1:${port}`, tls: {}, apiVersion: '1.41', transport, connectTimeout: 300 });
      const started = Date.now();
      const err = await docker.system.info().catch((e: unknown) => e);
      await docker.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as Error).message).toMatch(/connect timed out/);
      expect(Date.now() - started).toBeLessThan(4000);
    });
  }
});

describe('auto transport', () => {
  it.runIf(!UNDICI_HERE)('where undici is a stand-in (Bun): transport undici is refused naming the runtime, auto stays on node:http', async () => {
    expect(() => new Docker({ host: 'tcp://127.0.0.1:9', transport: 'undici' })).toThrow(/Bun/);
    const endpoint = parseHost('tcp://127.0.0.1:9');
    const transport = new AutoTransport(endpoint, 1000, 1);
    await transport.warm();
    expect(transport.active).toBe('node');
    await transport.close();
  });

  it.runIf(UNDICI_HERE)('starts on node:http and moves to undici after enough requests', async () => {
    const server = http.createServer(engineLike);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const endpoint = parseHost(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const transport = new AutoTransport(endpoint, 1000, 3);
    const docker = new Docker({ transport, apiVersion: '1.41' });
    try {
      expect(transport.active).toBe('node');
      for (let i = 0; i < 2; i++) await docker.system.info();
      await new Promise((r) => setTimeout(r, 20));
      expect(transport.active).toBe('node');
      await docker.system.info();
      await transport.warm();
      expect(transport.active).toBe('undici');
      expect(await docker.system.info()).toMatchObject({ path: '/v1.41/info' });
    } finally {
      await docker.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('undici transport: streamed answers go through node:http', () => {
  // undici resumes a paused body by taking everything waiting at once (bench/README.md, "copyFrom on
  // undici"), which made copyFrom 7-15x slower than on node:http: streamed answers (archives, logs,
  // events, pulls) and hijacks use the transport's node:http side; ordinary calls stay on undici.
  it.runIf(UNDICI_HERE)('archives and logs are sent by its node:http transport, JSON calls by the Pool', async () => {
    const { UndiciTransport } = await import('../../src/transport/undici.js');
    const { NodeHttpTransport } = await import('../../src/transport/node-http.js');
    const server = http.createServer(engineLike);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const endpoint = parseHost(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const viaNode: string[] = [];
    const streams = new NodeHttpTransport(endpoint, { connectTimeout: 1000 });
    const request = streams.request.bind(streams);
    streams.request = (r) => {
      viaNode.push(r.path);
      return request(r);
    };
    const transport = await UndiciTransport.create(endpoint, 1000, undefined, streams);
    const docker = new Docker({ transport, apiVersion: '1.41' });
    try {
      await docker.containers.list();
      for await (const _ of await docker.api.ContainerArchive({ id: 'c1', path: '/etc' })) void _;
      for await (const _ of await docker.api.ContainerLogs({ id: 'c1', stdout: true })) void _;
      expect(viaNode).toEqual(['/v1.41/containers/c1/archive?path=%2Fetc', '/v1.41/containers/c1/logs?stdout=1']);
    } finally {
      await docker.close();
      await new Promise((r) => server.close(r));
    }
  });
});
