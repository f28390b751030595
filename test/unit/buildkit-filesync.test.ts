import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHUNK, compareBytes, followLinks, metadataList, GO_DIR, GO_SYMLINK, PathFilter, serveDiffCopy, walkSource, type IgnoreFactory, type SyncSource } from '../../src/buildkit/filesync.js';
import type { GrpcCall } from '../../src/buildkit/grpc.js';
import { decodePacket, encodePacket, PACKET_DATA, PACKET_FIN, PACKET_REQ, PACKET_STAT, type Packet } from '../../src/buildkit/proto.js';
import { writeFiles, type FileSpec } from '../support/files.js';

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

async function factory(): Promise<IgnoreFactory> {
  const m = (await import('@balena/dockerignore')) as unknown as { default?: IgnoreFactory } & IgnoreFactory;
  return m.default ?? m;
}

async function tree(files: Record<string, FileSpec>): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), 'dockhand-fsync-'));
  temps.push(root);
  await writeFiles(root, files);
  return root;
}

async function listing(root: string, excludes: string[] = [], includes: string[] = []): Promise<string[]> {
  const filter = new PathFilter(await factory(), excludes, includes);
  const out: string[] = [];
  for await (const e of walkSource({ kind: 'dir', root }, filter)) out.push(e.stat.path);
  return out;
}

/** A scripted engine (receiver): asks for every regular file as its STAT arrives, FIN once all came. */
function fakeReceiver(): { call: GrpcCall; sent: Packet[]; done: Promise<void> } {
  const sent: Packet[] = [];
  const inbox: Buffer[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const controller = new AbortController();
  const pending = new Set<number>();
  let listed = false;
  let id = 0;
  const push = (p: Packet): void => {
    inbox.push(encodePacket(p));
    wake?.();
  };
  const call: GrpcCall = {
    path: '/moby.filesync.v1.FileSync/DiffCopy',
    metadata: () => [],
    signal: controller.signal,
    async *messages() {
      for (;;) {
        const m = inbox.shift();
        if (m) {
          yield m;
          continue;
        }
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
      }
    },
    sendFramed: (frame: Buffer) => call.send(frame.subarray(5)),
    send: async (m: Buffer) => {
      const p = decodePacket(m);
      sent.push(p);
      if (p.type === PACKET_STAT) {
        if (!p.stat) listed = true;
        else {
          const mine = id++;
          const mode = p.stat.mode;
          if (mode < GO_SYMLINK && p.stat.linkname === '') {
            pending.add(mine);
            push({ type: PACKET_REQ, id: mine, data: Buffer.alloc(0) });
          }
        }
      } else if (p.type === PACKET_DATA && p.data.length === 0) {
        pending.delete(p.id);
      } else if (p.type === PACKET_FIN) {
        ended = true;
        wake?.();
        return;
      }
      if (listed && pending.size === 0 && !ended) push({ type: PACKET_FIN, id: 0, data: Buffer.alloc(0) });
    },
  };
  return { call, sent, done: Promise.resolve() };
}

describe('fsutil sender', () => {
  it('walks depth first, parents first, names in byte order (not UTF-16 order)', async () => {
    const root = await tree({ 'b/x': 'x', a: 'a', 'a.txt': 't', 'a!': '!', '😀': 'astral', '\uff61': 'halfwidth', 'B': 'upper', 'e': null });
    expect(await listing(root)).toEqual(['B', 'a', 'a!', 'a.txt', 'b', 'b/x', 'e', '\uff61', '😀']);
    expect(['😀', '\uff61'].sort(compareBytes)).toEqual(['\uff61', '😀']);
  });

  it('excludes with ! exceptions, sending the parents of re-included files', async () => {
    const root = await tree({ 'build/out.o': 'o', 'build/keep/wanted.txt': 'w', 'x.log': 'l', 'src/y.log': 'l', 'src/keep.log': 'k', 'src/a.js': 'a' });
    expect(await listing(root, ['build', '!build/keep/wanted.txt', '**/*.log', '!src/keep.log'])).toEqual(['build', 'build/keep', 'build/keep/wanted.txt', 'src', 'src/a.js', 'src/keep.log']);
  });

  it('include patterns and followpaths keep only what is asked for (and its parents); symlinks are followed for followpaths', async () => {
    const root = await tree({ Dockerfile: 'FROM x', 'Dockerfile.dockerignore': '', other: 'o', 'd/e/f': 'f', 'd/g': 'g', lnk: { link: 'd/g' } });
    expect(await listing(root, [], ['Dockerfile', 'Dockerfile.dockerignore'])).toEqual(['Dockerfile', 'Dockerfile.dockerignore']);
    expect(await listing(root, [], ['d/e'])).toEqual(['d', 'd/e', 'd/e/f']);
    expect(await followLinks(root, ['lnk'])).toEqual(['lnk', 'd/g']);
    expect(await listing(root, [], await followLinks(root, ['lnk']))).toEqual(['d', 'd/g', 'lnk']);
  });

  it('stats: Go modes, symlink size, hard links as links to the first path, ns mtimes', async () => {
    const root = await tree({ f: 'hello', h: { hardlink: 'f' }, l: { link: 'f' }, d: null });
    await fsp.chmod(path.join(root, 'f'), 0o750);
    const filter = new PathFilter(await factory(), [], []);
    const stats = [];
    for await (const e of walkSource({ kind: 'dir', root }, filter)) stats.push(e.stat);
    const by = Object.fromEntries(stats.map((s) => [s.path, s]));
    expect(by.d).toMatchObject({ mode: GO_DIR + 0o755, size: 0 });
    expect(by.f).toMatchObject({ mode: 0o750, size: 5, linkname: '', uid: 0, gid: 0 });
    expect(by.h).toMatchObject({ mode: 0o750, size: 0, linkname: 'f' });
    expect(by.l).toMatchObject({ mode: GO_SYMLINK + 0o777, size: 1, linkname: 'f' });
    const st = await fsp.stat(path.join(root, 'f'), { bigint: true });
    expect(by.f!.modTime).toBe(st.mtimeNs);
  });

  it('packets: STATs with ids in order, an empty STAT, DATA in 32 KiB chunks ended by an empty DATA, FIN after FIN', async () => {
    const big = Buffer.alloc(CHUNK * 2 + 10, 1);
    const root = await tree({ 'a.txt': 'A', big, 'dir/c': '' });
    const { call, sent } = fakeReceiver();
    await serveDiffCopy(call, { kind: 'dir', root }, new PathFilter(await factory(), [], []));
    const stats = sent.filter((p) => p.type === PACKET_STAT);
    expect(stats.map((p) => p.stat?.path)).toEqual(['a.txt', 'big', 'dir', 'dir/c', undefined]);
    const dataFor = (id: number): Buffer[] => sent.filter((p) => p.type === PACKET_DATA && p.id === id).map((p) => p.data);
    expect(dataFor(0).map((d) => d.toString())).toEqual(['A', '']);
    expect(dataFor(1).map((d) => d.length)).toEqual([CHUNK, CHUNK, 10, 0]);
    expect(dataFor(3).map((d) => d.length)).toEqual([0]);
    expect(sent.at(-1)!.type).toBe(PACKET_FIN);
  });

  it('a Dockerfile held in memory is served as one file', async () => {
    const { call, sent } = fakeReceiver();
    const source: SyncSource = { kind: 'memory', files: new Map([['Dockerfile', Buffer.from('FROM scratch\n')]]) };
    await serveDiffCopy(call, source, new PathFilter(await factory(), [], ['Dockerfile', 'Dockerfile.dockerignore']));
    expect(sent.filter((p) => p.type === PACKET_STAT).map((p) => p.stat?.path)).toEqual(['Dockerfile', undefined]);
    expect(Buffer.concat(sent.filter((p) => p.type === PACKET_DATA).map((p) => p.data)).toString()).toBe('FROM scratch\n');
  });
});

describe('DiffCopy metadata', () => {
  it('decodes values the engine flags as URL-encoded (<key>-encoded: 1), keeps raw ones as they are', () => {
    const meta = (m: Record<string, string[]>) => ({ metadata: (k: string) => m[k] ?? [] });
    expect(metadataList(meta({ followpaths: ['caf%C3%A9.txt', 'a+b'], 'followpaths-encoded': ['1'] }), 'followpaths')).toEqual(['café.txt', 'a b']);
    expect(metadataList(meta({ followpaths: ['a+b%20'] }), 'followpaths')).toEqual(['a+b%20']);
  });
});
