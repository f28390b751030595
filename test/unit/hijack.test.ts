/**
 * Hijacked connections against a local server that speaks just enough HTTP: the 101 answer of
 * current engines, and the 200 of older ones that stream on the same connection.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Docker } from '../../src/index.js';
import { FakeTransport } from '../support/fake-transport.js';

let server: net.Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

/** Reads the request head (and its Content-Length body), answers `status`, then echoes raw bytes. */
function engineAnswering(status: '101 UPGRADED' | '200 OK', seen: string[]): Promise<string> {
  server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString();
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      socket.off('data', onData);
      if (head.startsWith('GET ') && / \/v[\d.]+\/exec\/[^/]+\/json /.test(head)) {
        // ExecInspect after the output ended: the exec has exited.
        const answer = '{"Running":false,"ExitCode":0}';
        socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\nConnection: close\r\n\r\n${answer}`);
        return;
      }
      seen.push(head.split('\r\n')[0]!, buf.subarray(end + 4, end + 4 + length).toString());
      const upgrade = status.startsWith('101') ? 'Connection: Upgrade\r\nUpgrade: tcp\r\n' : '';
      socket.write(`HTTP/1.1 ${status}\r\nContent-Type: application/vnd.docker.raw-stream\r\n${upgrade}\r\n`);
      const rest = buf.subarray(end + 4 + length);
      if (rest.length) socket.write(rest);
      socket.pipe(socket); // echo stdin back as output, until the client half-closes
    };
    socket.on('data', onData);
  });
  return new Promise((resolve) => server!.listen(0, '127.0.0.1', () => resolve(`tcp://127.0.0.1:${(server!.address() as AddressInfo).port}`)));
}

describe('hijacked connections', () => {
  for (const status of ['101 UPGRADED', '200 OK'] as const) {
    it(`exec start with stdin, answered ${status}: output streams back, ending stdin ends it`, async () => {
      const seen: string[] = [];
      const host = await engineAnswering(status, seen);
      const docker = new Docker({ host, apiVersion: '1.41', transport: 'node' });
      try {
        const session = await docker.exec.start('abc', { Tty: true });
        expect(seen[0]).toBe('POST /v1.41/exec/abc/start HTTP/1.1');
        expect(JSON.parse(seen[1]!)).toEqual({ Tty: true, Detach: false });
        expect(session.tty).toBe(true);
        session.stdin.write('hello ');
        session.stdin.end('engine\n');
        expect((await session.text()).stdout).toBe('hello engine\n');
      } finally {
        await docker.close();
      }
    });
  }

  it('asks API 1.52+ engines for JSON lines on the events stream', async () => {
    const transport = new FakeTransport(() => ({ status: 200, body: '{"Action":"start"}\n' }), '1.53');
    const docker = new Docker({ transport });
    expect(await docker.system.events({ since: new Date(1_700_000_000_123), until: 1_700_000_100 }).toArray()).toEqual([{ Action: 'start' }]);
    const req = transport.calls[0]!;
    expect(req.headers.accept).toBe('application/jsonl');
    const query = new URL(req.path, 'http://x').searchParams;
    expect(query.get('since')).toBe('1700000000.123');
    expect(query.get('until')).toBe('1700000100');
    const old = new FakeTransport(() => ({ status: 200, body: '' }), '1.41');
    await new Docker({ transport: old }).system.events({}).toArray();
    expect(old.calls[0]!.headers.accept).toBeUndefined();
  });
});
