/**
 * Podman quirks dockhand absorbs, against a fake engine that answers as Podman 4.3 does: asked for
 * an API version above the one it advertises, it labels multiplexed hijack output `raw-stream`.
 * Its answers name it (`Libpod-Api-Version`), its hijacks do not: dockhand asks /_ping once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Docker } from '../../src/index.js';
import { archiveRoot } from '../../src/operations/archive.js';
import { FakeEngine, frameHeader, type Handler } from '../support/fake-engine.js';

let engine: FakeEngine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

const frame = (stream: number, text: string): Buffer => Buffer.concat([frameHeader(stream, Buffer.byteLength(text)), Buffer.from(text)]);

/** An exec `e1` without a TTY whose start answers multiplexed frames labelled raw-stream. */
function execEngine(podman: boolean): Handler {
  return (req, reply) => {
    if (/\/_ping$/.test(req.path)) {
      const who: Record<string, string> = podman ? { 'Libpod-Api-Version': '4.3.1', Server: 'Libpod/4.3.1 (linux)' } : { Server: 'Docker/28.5.2 (linux)' };
      return reply.send(200, 'OK', { 'API-Version': '1.41', ...who });
    }
    if (req.path.endsWith('/exec/e1/json')) return reply.json(200, { ProcessConfig: { tty: false }, Running: false, ExitCode: 0 });
    if (req.path.endsWith('/exec/e1/start')) {
      reply.upgrade({ contentType: 'application/vnd.docker.raw-stream' });
      reply.socket.end(Buffer.concat([frame(1, 'hi\n'), frame(2, 'err\n')]));
      return;
    }
    reply.json(404, { message: `no ${req.path}` });
  };
}

describe('Podman', () => {
  it('a raw-stream Content-Type from Podman is not trusted over the exec Tty setting: output is demultiplexed', async () => {
    engine = await FakeEngine.start({ listen: 'tcp', handler: execEngine(true), apiVersion: null });
    const docker = new Docker({ host: engine.host, apiVersion: '1.44' });
    try {
      const session = await docker.exec.start('e1');
      expect(session.tty).toBe(false);
      expect(await session.text()).toEqual({ stdout: 'hi\n', stderr: 'err\n' });
      // one /_ping to learn who answers (the version was pinned, so none was sent before)
      expect(engine.requests.filter((r) => r.path.endsWith('/_ping'))).toHaveLength(1);
    } finally {
      await docker.close();
    }
  });

  it('from Docker, the Content-Type of API 1.42+ is what decides', async () => {
    engine = await FakeEngine.start({ listen: 'tcp', handler: execEngine(false), apiVersion: null });
    const docker = new Docker({ host: engine.host, apiVersion: '1.44' });
    try {
      const session = await docker.exec.start('e1');
      expect(session.tty).toBe(true);
    } finally {
      await docker.close();
    }
  });
});

describe('archive entries are named after the requested path, as docker cp reads them', () => {
  it('its base name, / for the root, . for dir/. (Podman names a symlink by its target and the root `.`)', () => {
    expect(archiveRoot('/lnk')).toBe('lnk');
    expect(archiveRoot('/lnk/')).toBe('lnk');
    expect(archiveRoot('/a/b/../c')).toBe('c');
    expect(archiveRoot('/')).toBe('/');
    expect(archiveRoot('//')).toBe('/');
    expect(archiveRoot('/d/.')).toBe('.');
  });
});
