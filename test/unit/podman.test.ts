/**
 * Podman quirks dockhand absorbs, against a fake engine that answers as Podman 4.3 does: asked for
 * an API version above the one it advertises, it labels multiplexed hijack output `raw-stream`.
 * Its answers name it (`Libpod-Api-Version`), its hijacks do not: dockhand asks /_ping once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, Docker } from '../../src/index.js';
import { archiveRoot } from '../../src/operations/archive.js';
import { FakeEngine, frameHeader, type Handler } from '../support/fake-engine.js';
import { TRANSPORTS } from '../support/runtime.js';

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

/** Headers every Podman answer carries (its hijacks aside). */
const PODMAN_HEADERS = { 'Libpod-Api-Version': '4.3.1', Server: 'Libpod/4.3.1 (linux)' };

/** An engine answering /_ping as Podman 4.3 or as dockerd, and everything else with `handler`. */
function engineAs(podman: boolean, handler: Handler): Handler {
  return (req, reply) => {
    if (/\/_ping$/.test(req.path)) return reply.send(200, 'OK', { 'API-Version': '1.41', ...(podman ? PODMAN_HEADERS : { Server: 'Docker/20.10.24 (linux)' }) });
    return handler(req, reply);
  };
}

describe('Podman: parameters and answers that would not fit', () => {
  const importing: Handler = (req, reply) => {
    if (req.path.includes('/images/create')) return reply.json(200, { status: 'sha256:' + 'a'.repeat(64) });
    reply.json(404, { message: `no ${req.path}` });
  };
  const importQuery = (e: FakeEngine): URLSearchParams => {
    const r = e.requests.find((q) => q.path.includes('/images/create'))!;
    return new URLSearchParams(r.path.slice(r.path.indexOf('?') + 1));
  };

  it('an import names its image by repo alone on Podman (it ignores tag): the tag goes into repo, as the docker CLI sends it', async () => {
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(true, importing), apiVersion: null });
    const docker = new Docker({ host: engine.host });
    try {
      await docker.images.import(Buffer.alloc(1024), { repo: 'dockhand-test/imported', tag: 't1' });
      let q = importQuery(engine);
      expect([q.get('fromSrc'), q.get('repo'), q.has('tag')]).toEqual(['-', 'dockhand-test/imported:t1', false]);
      // docker.api.ImageCreate too; a repo with its own tag, and a registry port, are left alone
      engine.requests.length = 0;
      await docker.api.ImageCreate({ fromSrc: '-', repo: '127.0.0.1:5000/app', tag: 'v2', inputImage: Buffer.alloc(1024) });
      q = importQuery(engine);
      expect([q.get('repo'), q.has('tag')]).toEqual(['127.0.0.1:5000/app:v2', false]);
      engine.requests.length = 0;
      await docker.api.ImageCreate({ fromSrc: '-', repo: 'app:own', tag: 'v2', inputImage: Buffer.alloc(1024) });
      q = importQuery(engine);
      expect([q.get('repo'), q.get('tag')]).toEqual(['app:own', 'v2']);
      // a pull is not an import: fromImage and tag as given
      engine.requests.length = 0;
      await docker.api.ImageCreate({ fromImage: 'busybox', tag: '1.36' });
      q = importQuery(engine);
      expect([q.get('fromImage'), q.get('tag')]).toEqual(['busybox', '1.36']);
    } finally {
      await docker.close();
    }
  });

  it('to dockerd an import goes with repo and tag apart, and no extra /_ping when the version is pinned', async () => {
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(false, importing), apiVersion: null });
    const docker = new Docker({ host: engine.host, apiVersion: '1.41' });
    try {
      await docker.images.import(Buffer.alloc(1024), { repo: 'dockhand-test/imported', tag: 't1' });
      const q = importQuery(engine);
      expect([q.get('repo'), q.get('tag')]).toEqual(['dockhand-test/imported', 't1']);
      // pinned: one /_ping, only because a Podman adjustment would have applied
      expect(engine.requests.map((r) => r.path.replace(/\?.*/, ''))).toEqual(['/_ping', '/v1.41/images/create']);
      engine.requests.length = 0;
      await docker.images.import(Buffer.alloc(1024), { repo: 'dockhand-test/imported', tag: 't2' });
      expect(engine.requests.map((r) => r.path.replace(/\?.*/, ''))).toEqual(['/v1.41/images/create']);
    } finally {
      await docker.close();
    }
  });

  const top = (titles: string[], processes: string[][]): Handler => (req, reply) => {
    if (/\/containers\/c1\/top/.test(req.path)) return reply.json(200, { Titles: titles, Processes: processes });
    reply.json(404, { message: `no ${req.path}` });
  };

  it('top: the ps output Podman leaves in one column is split as dockerd splits it (the command takes the rest)', async () => {
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(true, top(['PID   USER     COMMAND'], [['1 root     sleep 300'], ['7 root     sh -c  x']])), apiVersion: null });
    const docker = new Docker({ host: engine.host });
    try {
      expect(await docker.containers.top('c1')).toEqual({
        Titles: ['PID', 'USER', 'COMMAND'],
        Processes: [
          ['1', 'root', 'sleep 300'],
          ['7', 'root', 'sh -c x'],
        ],
      });
    } finally {
      await docker.close();
    }
  });

  it('top: columns Podman did split, and any answer from dockerd, are left as they are', async () => {
    const split = { Titles: ['PID', 'COMMAND'], Processes: [['1', 'sleep 300']] };
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(true, top(split.Titles, split.Processes)), apiVersion: null });
    let docker = new Docker({ host: engine.host });
    try {
      expect(await docker.containers.top('c1')).toEqual(split);
    } finally {
      await docker.close();
      await engine.close();
    }
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(false, top(['PID   USER'], [['1 root']])), apiVersion: null });
    docker = new Docker({ host: engine.host });
    try {
      expect(await docker.containers.top('c1')).toEqual({ Titles: ['PID   USER'], Processes: [['1 root']] });
    } finally {
      await docker.close();
    }
  });

  it("stats: Podman's `Id` is the sample's `id`", async () => {
    const sample = { read: '2026-01-01T00:00:00Z', name: 'web', Id: 'c'.repeat(64), memory_stats: { usage: 1 } };
    const stats = (podman: boolean): Handler => (req, reply) => {
      if (/\/containers\/c1\/stats/.test(req.path)) return reply.json(200, sample, podman ? PODMAN_HEADERS : {});
      reply.json(404, { message: `no ${req.path}` });
    };
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(true, stats(true)), apiVersion: null });
    let docker = new Docker({ host: engine.host });
    try {
      const [s] = await docker.containers.stats('c1', { stream: false }).toArray();
      expect(s).toEqual({ read: sample.read, name: 'web', id: sample.Id, memory_stats: { usage: 1 } });
    } finally {
      await docker.close();
      await engine.close();
    }
    // not from Podman: as sent
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(false, stats(false)), apiVersion: null });
    docker = new Docker({ host: engine.host });
    try {
      expect(await docker.containers.stats('c1', { stream: false }).toArray()).toEqual([sample]);
    } finally {
      await docker.close();
    }
  });
});

describe('Podman: event filters', () => {
  const events: Handler = (req, reply) => {
    if (req.path.includes('/events')) return reply.send(200, '', { 'Content-Type': 'application/json' });
    reply.json(404, { message: `no ${req.path}` });
  };
  const eventFilters = (e: FakeEngine): unknown => {
    const r = e.requests.find((q) => q.path.includes('/events'))!;
    return JSON.parse(new URLSearchParams(r.path.slice(r.path.indexOf('?') + 1)).get('filters')!);
  };

  it('a filter for the event `die` asks Podman for `died` too (it reports `die` but filters by its own name)', async () => {
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(true, events), apiVersion: null });
    const docker = new Docker({ host: engine.host });
    try {
      await docker.system.events({ until: new Date(), filters: { event: ['die'], label: ['x=y'] } }).toArray();
      expect(eventFilters(engine)).toEqual({ event: ['die', 'died'], label: ['x=y'] });
      engine.requests.length = 0;
      await docker.system.events({ until: new Date(), filters: { event: ['start'] } }).toArray();
      expect(eventFilters(engine)).toEqual({ event: ['start'] });
    } finally {
      await docker.close();
    }
  });

  it('dockerd gets the filter as given', async () => {
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(false, events), apiVersion: null });
    const docker = new Docker({ host: engine.host });
    try {
      await docker.system.events({ until: new Date(), filters: { event: ['die'] } }).toArray();
      expect(eventFilters(engine)).toEqual({ event: ['die'] });
    } finally {
      await docker.close();
    }
  });
});

describe('idleTimeout covers the wait for the response', () => {
  it('an engine that sends nothing, not even headers, for a followed log (Podman, silent container): AbortError TIMEOUT', async () => {
    // the handler never answers /logs: no status line, no headers, no byte
    engine = await FakeEngine.start({ listen: 'tcp', handler: engineAs(true, (req, reply) => void (req.path.includes('/logs') ? undefined : reply.json(404, {}))), apiVersion: null });
    const docker = new Docker({ host: engine.host });
    try {
      const started = Date.now();
      const err = await docker.containers
        .logs('c1', { follow: true }, { idleTimeout: 300 })
        .text()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbortError);
      expect(err).toMatchObject({ code: 'TIMEOUT', operationId: 'ContainerLogs' });
      expect((err as Error).message).toContain('no data from the engine for 300 ms');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await docker.close();
    }
  });
});

describe('idleTimeout on a raw docker.api.* stream', () => {
  // A followed log that sends its headers and one frame, then nothing: the stream the caller holds
  // ends with dockhand's AbortError (code TIMEOUT), whichever transport watches for the silence.
  for (const transport of TRANSPORTS) {
    it(`ends with AbortError TIMEOUT, not an untyped error (${transport})`, async () => {
      engine = await FakeEngine.start({
        listen: 'unix',
        handler: (req, reply) => {
          if (req.path.includes('/logs')) {
            reply.head(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream', 'Transfer-Encoding': 'chunked' });
            const f = frame(1, 'one\n');
            reply.write(`${f.length.toString(16)}\r\n`);
            reply.write(f);
            reply.write('\r\n');
            return;
          }
          reply.json(404, { message: 'no' });
        },
      });
      const docker = new Docker({ host: engine.host, transport });
      try {
        const started = Date.now();
        const stream = await docker.api.ContainerLogs({ id: 'c1', follow: true, stdout: true }, { idleTimeout: 300 });
        const chunks: Buffer[] = [];
        const err = await (async () => {
          for await (const chunk of stream) chunks.push(chunk as Buffer);
        })().catch((e: unknown) => e);
        expect(Buffer.concat(chunks).subarray(8).toString()).toBe('one\n');
        expect(err).toBeInstanceOf(AbortError);
        expect(err).toMatchObject({ code: 'TIMEOUT', timedOut: true });
        expect((err as Error).message).toContain('no data from the engine for 300 ms');
        expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      } finally {
        await docker.close();
      }
    });
  }
});

describe('a forced remove that Podman refuses while the container exits', () => {
  it('is tried again: Podman 4.3 answers 500 "could not be stopped ... state improper" for a container exiting at that moment', async () => {
    let deletes = 0;
    engine = await FakeEngine.start({
      listen: 'unix',
      handler: engineAs(true, (req, reply) => {
        if (req.method === 'DELETE' && /\/containers\/c1\?/.test(req.path)) {
          deletes++;
          if (deletes === 1) return reply.json(500, { cause: 'container state improper', message: 'cannot remove container c1 as it could not be stopped: sending SIGKILL to container c1: container state improper: stopped', response: 500 });
          return reply.send(204);
        }
        reply.json(404, { message: `unexpected ${req.line}` });
      }),
    });
    const docker = new Docker({ host: engine.host });
    try {
      await docker.container('c1')[Symbol.asyncDispose]();
      expect(deletes).toBe(2);
    } finally {
      await docker.close();
    }
  });
});
