/**
 * Build outputs through moby.filesync.v1.FileSend/DiffCopy. `type=tar`: the engine streams the
 * tar as BytesMessage chunks, written to a file or stream with backpressure. `type=local`: the
 * engine runs fsutil's sender towards dockhand, which receives: STATs until an empty one,
 * a REQ for each regular file, its DATA chunks, then FIN both ways. Paths are checked: nothing is
 * written outside the destination folder.
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { GrpcError, GRPC_INTERNAL, GRPC_INVALID_ARGUMENT, type GrpcCall, type GrpcHandler } from './grpc.js';
import { GO_DEVICE, GO_DIR, GO_PIPE, GO_SOCKET, GO_SYMLINK, posixMode } from './filesync.js';
import { decodeBytesMessage, decodePacket, encodePacket, PACKET_DATA, PACKET_ERR, PACKET_FIN, PACKET_REQ, PACKET_STAT, type Stat } from './proto.js';
import type { BuildkitOutput } from './types.js';

const has = (mode: number, bit: number): boolean => Math.floor(mode / bit) % 2 === 1;

async function write(stream: Writable, chunk: Buffer): Promise<void> {
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stream.off('error', fail);
      stream.off('close', done);
      resolve();
    };
    const fail = (err: Error): void => {
      stream.off('drain', done);
      stream.off('close', done);
      reject(err);
    };
    stream.once('drain', done);
    stream.once('close', done);
    stream.once('error', fail);
  });
}

async function receiveTar(call: GrpcCall, dest: string | Writable): Promise<void> {
  const out = typeof dest === 'string' ? createWriteStream(dest) : dest;
  let failed: Error | undefined;
  const onError = (err: Error): void => void (failed ??= err);
  out.on('error', onError);
  try {
    for await (const m of call.messages()) {
      if (failed) break;
      const data = decodeBytesMessage(m);
      if (data.length > 0) await write(out, data);
    }
    if (!failed) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  } catch (err) {
    failed ??= err as Error;
  }
  if (failed) {
    if (typeof dest === 'string') out.destroy();
    throw new GrpcError(GRPC_INTERNAL, `writing the tar output failed: ${failed.message}`, { cause: failed });
  }
}

/** A path inside the destination, or an error (absolute, `..`, or through a symlink it made). */
function inside(root: string, rel: string, links: ReadonlySet<string>): string {
  const n = path.posix.normalize(rel);
  if (rel === '' || n !== rel || path.posix.isAbsolute(n) || n === '..' || n.startsWith('../') || rel.includes('\0')) {
    throw new GrpcError(GRPC_INVALID_ARGUMENT, `unsafe path in the output: ${JSON.stringify(rel)}`);
  }
  const parts = n.split('/');
  for (let i = 1; i < parts.length; i++) {
    if (links.has(parts.slice(0, i).join('/'))) throw new GrpcError(GRPC_INVALID_ARGUMENT, `output path through a symlink: ${JSON.stringify(rel)}`);
  }
  return path.join(root, ...parts);
}

async function receiveLocal(call: GrpcCall, dest: string): Promise<void> {
  const root = path.resolve(dest);
  await fsp.mkdir(root, { recursive: true });
  const stats: Stat[] = [];
  const links = new Set<string>();
  const open = new Map<number, { fh: fsp.FileHandle; stat: Stat }>();
  const hardlinks: Stat[] = [];
  const dirs: Stat[] = [];
  let listed = false;
  let outstanding = 0;
  let finSent = false;
  const send = (type: number, id = 0): Promise<void> => call.send(encodePacket({ type, id, data: Buffer.alloc(0) }));
  const finish = async (): Promise<void> => {
    if (listed && outstanding === 0 && !finSent) {
      finSent = true;
      await send(PACKET_FIN);
    }
  };
  try {
    for await (const m of call.messages()) {
      const p = decodePacket(m);
      if (p.type === PACKET_STAT) {
        if (!p.stat) {
          listed = true;
          await finish();
          continue;
        }
        const st = p.stat;
        const id = stats.length;
        stats.push(st);
        const abs = inside(root, st.path, links);
        if (has(st.mode, GO_DIR)) {
          await fsp.mkdir(abs, { recursive: true, mode: 0o700 });
          dirs.push(st);
        } else if (has(st.mode, GO_SYMLINK)) {
          await fsp.rm(abs, { force: true });
          await fsp.symlink(st.linkname, abs);
          links.add(st.path);
        } else if (has(st.mode, GO_DEVICE) || has(st.mode, GO_PIPE) || has(st.mode, GO_SOCKET)) {
          // devices, pipes and sockets are not recreated
        } else if (st.linkname !== '') {
          hardlinks.push(st);
        } else {
          await fsp.rm(abs, { force: true });
          open.set(id, { fh: await fsp.open(abs, 'w', 0o600), stat: st });
          outstanding++;
          await send(PACKET_REQ, id);
        }
      } else if (p.type === PACKET_DATA) {
        const f = open.get(p.id);
        if (!f) throw new GrpcError(GRPC_INVALID_ARGUMENT, `data for a file not asked for (${p.id})`);
        if (p.data.length > 0) {
          await f.fh.write(p.data);
          continue;
        }
        open.delete(p.id);
        await f.fh.chmod(posixMode(f.stat.mode) & 0o7777);
        await f.fh.close();
        const t = Number(f.stat.modTime) / 1e9;
        await fsp.utimes(inside(root, f.stat.path, links), t, t);
        outstanding--;
        await finish();
      } else if (p.type === PACKET_FIN) {
        // the sender ends its side next: read on (breaking out would reset the stream)
        continue;
      } else if (p.type === PACKET_ERR) {
        throw new GrpcError(GRPC_INTERNAL, `error from sender: ${p.data.toString('utf8')}`);
      }
    }
    for (const h of hardlinks) {
      const target = inside(root, h.linkname, links);
      const abs = inside(root, h.path, links);
      await fsp.rm(abs, { force: true });
      await fsp.link(target, abs);
    }
    for (const d of dirs.reverse()) {
      const abs = inside(root, d.path, links);
      await fsp.chmod(abs, posixMode(d.mode) & 0o7777);
      const t = Number(d.modTime) / 1e9;
      await fsp.utimes(abs, t, t);
    }
  } finally {
    for (const f of open.values()) await f.fh.close().catch(() => undefined);
  }
}

export function outputHandler(output: BuildkitOutput): GrpcHandler {
  return (call) => (output.type === 'tar' ? receiveTar(call, output.dest) : receiveLocal(call, output.dest));
}
