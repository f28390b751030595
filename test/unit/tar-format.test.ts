/**
 * dockhand's own tar code: the packer and the extractor against each other, against GNU tar (both
 * ways), and against malformed, cut and oversized archives.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, promises as fsp, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerError } from '../../src/index.js';
import { BLOCK, MAX_EXTENDED_HEADER, TarParser, headerLength, writeHeader, type HeaderInput, type TarHeader } from '../../src/streams/tar-format.js';
import { extractTar, packPath, packStream, walkTree, writeStreamToFd } from '../../src/streams/tar.js';
import { describeTree } from '../support/tree.js';

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'dockhand-tarfmt-'));
  temps.push(d);
  return d;
}

const GNU_TAR = (() => {
  try {
    return /GNU tar/.test(execFileSync('tar', ['--version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();

interface Parsed extends TarHeader {
  data: Buffer;
}

/** Parses a whole archive, fed in pieces of `split` bytes (all at once by default). */
function parse(archive: Buffer, split = archive.length): Parsed[] {
  const out: Parsed[] = [];
  let chunks: Buffer[] = [];
  const parser = new TarParser({
    entry: (h) => {
      out.push({ ...h, data: Buffer.alloc(0) });
      chunks = [];
    },
    data: (piece, last) => {
      chunks.push(Buffer.from(piece));
      if (last) out.at(-1)!.data = Buffer.concat(chunks);
    },
  });
  for (let at = 0; at < archive.length; at += split) parser.consume(archive.subarray(at, Math.min(archive.length, at + split)));
  parser.finish();
  return out;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Packs a folder's contents (names relative to it), as copyTo of `dir/.` does. */
async function packDir(root: string): Promise<Buffer> {
  const { stream, done } = packStream(async (pack) => {
    for await (const e of walkTree(root)) await packPath(pack, e.rel, e.abs, e.stat);
  });
  const bytes = await readAll(stream);
  await done;
  return bytes;
}


const WHEN = new Date('2022-05-06T07:08:09Z');
const LONG_DIR = `${'deep-folder-name/'.repeat(8)}end`; // 139 bytes
const LONG_FILE = `${'x'.repeat(120)}.txt`; // over 100 bytes, no slash to split at
const UNICODE = 'Grüße-データ-✓.txt';

/** A tree with every kind of entry dockhand packs: sizes around block and read boundaries too. */
async function sampleTree(): Promise<string> {
  const root = path.join(tempDir(), 'src');
  await fsp.mkdir(path.join(root, LONG_DIR), { recursive: true });
  await fsp.mkdir(path.join(root, 'empty-folder'));
  await fsp.mkdir(path.join(root, 'ü-folder'));
  const files: [string, Buffer, number][] = [
    ['empty', Buffer.alloc(0), 0o644],
    ['block-511', randomBytes(511), 0o600],
    ['block-512', randomBytes(512), 0o640],
    ['sync-max', randomBytes(256 * 1024), 0o644],
    ['sync-max-plus', randomBytes(256 * 1024 + 1), 0o644],
    ['three-pieces', randomBytes(3 * 512 * 1024 + 7), 0o755],
    ['setgid', Buffer.from('g'), 0o2755],
    [LONG_FILE, Buffer.from('long'), 0o644],
    [`${LONG_DIR}/inner.txt`, Buffer.from('inner'), 0o644],
    [UNICODE, Buffer.from('unicode'), 0o644],
    ['ü-folder/ß', Buffer.from('sz'), 0o644],
  ];
  for (const [name, data, mode] of files) {
    await fsp.writeFile(path.join(root, name), data);
    await fsp.chmod(path.join(root, name), mode);
  }
  await fsp.link(path.join(root, 'block-511'), path.join(root, 'hard-511'));
  await fsp.symlink('block-512', path.join(root, 'link-rel'));
  await fsp.symlink('/etc/passwd', path.join(root, 'link-abs'));
  await fsp.symlink(`${'../'.repeat(40)}${'t'.repeat(60)}`, path.join(root, 'link-long'));
  await fsp.symlink('ziel-ä', path.join(root, 'link-unicode'));
  await fsp.chmod(path.join(root, 'empty-folder'), 0o700);
  const all: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
      if (d.isDirectory()) await walk(path.join(dir, d.name));
      if (!d.isSymbolicLink()) all.push(path.join(dir, d.name));
    }
  };
  await walk(root);
  for (const p of all) await fsp.utimes(p, WHEN, WHEN);
  return root;
}

describe('headers', () => {
  it('a short ASCII name is one ustar block; long, non-ASCII and huge need PAX', () => {
    const base: HeaderInput = { name: 'a.txt', type: 'file', mode: 0o644, size: 3, mtimeMs: WHEN.getTime() };
    expect(headerLength(base)).toBe(BLOCK);
    // ASCII up to 256 bytes splits over prefix and name
    expect(headerLength({ ...base, name: `${'d'.repeat(150)}/${'f'.repeat(99)}` })).toBe(BLOCK);
    expect(headerLength({ ...base, name: LONG_FILE })).toBeGreaterThan(BLOCK);
    expect(headerLength({ ...base, name: UNICODE })).toBeGreaterThan(BLOCK);
    expect(headerLength({ ...base, size: 2 ** 33 })).toBeGreaterThan(BLOCK);
    expect(headerLength({ ...base, type: 'symlink', size: 0, linkname: 'l'.repeat(101) })).toBeGreaterThan(BLOCK);
  });

  it('round trip of every header field through the parser, fed whole and a byte at a time', () => {
    const inputs: HeaderInput[] = [
      { name: 'plain', type: 'file', mode: 0o4755, size: 0, mtimeMs: WHEN.getTime() },
      { name: `${'d'.repeat(150)}/${'f'.repeat(99)}`, type: 'file', mode: 0o600, size: 0, mtimeMs: 1500 },
      { name: LONG_FILE, type: 'file', mode: 0o644, size: 0, mtimeMs: 0 },
      { name: `${UNICODE}/`, type: 'directory', mode: 0o750, size: 0, mtimeMs: WHEN.getTime() },
      { name: 'l', type: 'symlink', mode: 0o777, size: 0, mtimeMs: WHEN.getTime(), linkname: `${'→'.repeat(50)}` },
      { name: 'h', type: 'link', mode: 0o644, size: 0, mtimeMs: WHEN.getTime(), linkname: LONG_FILE },
      { name: 'future', type: 'file', mode: 0o644, size: 0, mtimeMs: 2 ** 34 * 1000 },
      { name: 'past', type: 'file', mode: 0o644, size: 0, mtimeMs: -86_400_000 },
    ];
    const parts: Buffer[] = [];
    for (const input of inputs) {
      const b = Buffer.alloc(headerLength(input));
      expect(writeHeader(b, 0, input)).toBe(b.length);
      parts.push(b);
    }
    parts.push(Buffer.alloc(2 * BLOCK));
    const archive = Buffer.concat(parts);
    for (const split of [archive.length, 1, 7, 511, 513]) {
      const parsed = parse(archive, split);
      expect(parsed.map((p) => [p.name, p.type, p.mode, p.mtime, p.linkname, p.uid, p.gid])).toEqual(
        inputs.map((i) => [i.name, i.type, i.mode, Math.floor(i.mtimeMs / 1000), i.linkname ?? '', 0, 0]),
      );
    }
  });

  it('a size of 8 GiB and more goes in PAX (the parser reads it back; no data follows here)', () => {
    const input: HeaderInput = { name: 'huge', type: 'file', mode: 0o644, size: 2 ** 33 + 5, mtimeMs: 0 };
    const b = Buffer.alloc(headerLength(input));
    writeHeader(b, 0, input);
    let seen: TarHeader | undefined;
    const parser = new TarParser({ entry: (h) => void (seen = h), data: () => undefined });
    parser.consume(b);
    expect(seen).toMatchObject({ name: 'huge', size: 2 ** 33 + 5 });
  });
});

describe('pack and extract', () => {
  it('round trip of a tree: contents, modes, mtimes, symlinks, hard links, empty folders, long and non-ASCII names', async () => {
    const src = await sampleTree();
    const archive = await packDir(src);
    const entries = parse(archive);
    expect(entries.find((e) => e.name === 'hard-511')).toMatchObject({ type: 'link', linkname: 'block-511' });
    expect(entries.find((e) => e.name === `${LONG_DIR}/inner.txt`)?.data.toString()).toBe('inner');
    const out = tempDir();
    await extractTar(Readable.from([archive]), out);
    expect(await describeTree(out)).toEqual(await describeTree(src));
    // in small pieces too
    const out2 = tempDir();
    const pieces: Buffer[] = [];
    for (let at = 0; at < archive.length; at += 1000) pieces.push(archive.subarray(at, at + 1000));
    await extractTar(Readable.from(pieces), out2);
    expect(await describeTree(out2)).toEqual(await describeTree(src));
  });

  it('a large file (several write batches) extracts whole, in one piece or many', async () => {
    const src = path.join(tempDir(), 'src');
    await fsp.mkdir(src);
    await fsp.writeFile(path.join(src, 'big'), randomBytes(12 * 1024 * 1024 + 3));
    await fsp.writeFile(path.join(src, 'after'), 'after');
    const archive = await packDir(src);
    for (const size of [64 * 1024, archive.length]) {
      const out = tempDir();
      const pieces: Buffer[] = [];
      for (let at = 0; at < archive.length; at += size) pieces.push(archive.subarray(at, at + size));
      await extractTar(Readable.from(pieces), out);
      expect(await describeTree(out)).toEqual(await describeTree(src));
    }
  });

  it.runIf(GNU_TAR)('GNU tar reads what dockhand packs', async () => {
    const src = await sampleTree();
    const work = tempDir();
    await fsp.writeFile(path.join(work, 'a.tar'), await packDir(src));
    const out = path.join(work, 'out');
    await fsp.mkdir(out);
    execFileSync('tar', ['-xpf', path.join(work, 'a.tar'), '-C', out]);
    expect(await describeTree(out)).toEqual(await describeTree(src));
  });

  for (const format of ['gnu', 'posix', 'ustar', 'v7'] as const) {
    it.runIf(GNU_TAR)(`extracts what GNU tar --format=${format} writes`, async () => {
      const src = await sampleTree();
      const work = tempDir();
      const file = path.join(work, 'a.tar');
      if (format === 'ustar' || format === 'v7') {
        // these formats cannot hold the long names: a tree without them
        await fsp.rm(path.join(src, LONG_FILE));
        await fsp.rm(path.join(src, 'deep-folder-name'), { recursive: true });
        await fsp.rm(path.join(src, 'link-long'));
      }
      execFileSync('tar', [`--format=${format}`, '--numeric-owner', '-cf', file, '-C', src, '.']);
      const out = tempDir();
      await extractTar(createReadStream(file, { highWaterMark: 4096 }), out, { base: '.' });
      const want = await describeTree(src);
      // v7 has no folder type of its own and no mtimes on folders that mean anything more
      expect(await describeTree(out)).toEqual(want);
    });
  }
});

describe('malformed archives: typed errors', () => {
  const one = (input: Partial<HeaderInput> = {}): Buffer => {
    const h: HeaderInput = { name: 'f', type: 'file', mode: 0o644, size: 5, mtimeMs: 0, ...input };
    const b = Buffer.alloc(headerLength(h));
    writeHeader(b, 0, h);
    return b;
  };
  const data5 = Buffer.concat([Buffer.from('hello'), Buffer.alloc(BLOCK - 5)]);
  const end = Buffer.alloc(2 * BLOCK);

  async function extractErr(archive: Buffer): Promise<DockerError> {
    const err = await extractTar(Readable.from([archive]), tempDir()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    return err as DockerError;
  }

  it('a bad checksum: STREAM_FORMAT', async () => {
    const h = one();
    h[0] = 0x67; // name "g", checksum not updated
    expect(await extractErr(Buffer.concat([h, data5, end]))).toMatchObject({ code: 'STREAM_FORMAT' });
    expect(() => parse(Buffer.concat([h, data5, end]))).toThrow(expect.objectContaining({ code: 'STREAM_FORMAT' }));
  });

  it('random bytes: STREAM_FORMAT', async () => {
    expect(await extractErr(Buffer.concat([randomBytes(4096), end]))).toMatchObject({ code: 'STREAM_FORMAT' });
  });

  it('cut in the middle of an entry, of a header, or before the end blocks: STREAM_TRUNCATED', async () => {
    const whole = Buffer.concat([one(), data5, end]);
    for (const cut of [BLOCK + 3, 100, BLOCK * 2, BLOCK * 2 + BLOCK]) {
      expect(await extractErr(whole.subarray(0, cut))).toMatchObject({ code: 'STREAM_TRUNCATED' });
    }
    expect(await extractErr(Buffer.alloc(0))).toMatchObject({ code: 'STREAM_TRUNCATED' });
  });

  it('data after a single zero block: STREAM_FORMAT; padding after the end marker is fine', async () => {
    expect(await extractErr(Buffer.concat([one(), data5, Buffer.alloc(BLOCK), one({ name: 'g' }), data5, end]))).toMatchObject({ code: 'STREAM_FORMAT' });
    const out = tempDir();
    await extractTar(Readable.from([Buffer.concat([one(), data5, end, Buffer.alloc(10 * BLOCK), Buffer.from('junk')])]), out);
    expect(await fsp.readFile(path.join(out, 'f'), 'utf8')).toBe('hello');
  });

  it('an extended header over the bound is refused before it is read', () => {
    const pax = Buffer.alloc(BLOCK);
    const input: HeaderInput = { name: 'PaxHeader/x', type: 'file', mode: 0o644, size: MAX_EXTENDED_HEADER + 1, mtimeMs: 0 };
    writeHeader(pax, 0, input);
    pax[156] = 0x78; // 'x'
    // fix the checksum for the changed type flag
    pax.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of pax) sum += b;
    pax.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    const parser = new TarParser({ entry: () => undefined, data: () => undefined });
    expect(() => parser.consume(pax)).toThrow(expect.objectContaining({ code: 'STREAM_FORMAT', message: expect.stringMatching(/extended header/) }));
    // and a GNU long name likewise
    pax[156] = 0x4c; // 'L'
    pax.fill(0x20, 148, 156);
    sum = 0;
    for (const b of pax) sum += b;
    pax.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    expect(() => new TarParser({ entry: () => undefined, data: () => undefined }).consume(pax)).toThrow(expect.objectContaining({ code: 'STREAM_FORMAT' }));
  });

  it('a malformed PAX record or numeric field: STREAM_FORMAT', async () => {
    const paxEntry = (records: string): Buffer => {
      const data = Buffer.from(records);
      const h = Buffer.alloc(BLOCK);
      writeHeader(h, 0, { name: 'PaxHeader/f', type: 'file', mode: 0o644, size: data.length, mtimeMs: 0 });
      h[156] = 0x78;
      h.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
      return Buffer.concat([h, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)]);
    };
    for (const bad of ['99 path=x\n', 'abc path=x\n', '12 size=1x\n', '9 pathx\n', '13 mtime=zz\n']) {
      expect(await extractErr(Buffer.concat([paxEntry(bad), one(), data5, end]))).toMatchObject({ code: 'STREAM_FORMAT' });
    }
    // a good one renames the entry
    const out = tempDir();
    await extractTar(Readable.from([Buffer.concat([paxEntry('20 path=renamed.txt\n'), one(), data5, end])]), out);
    expect(await fsp.readFile(path.join(out, 'renamed.txt'), 'utf8')).toBe('hello');
    // a PAX path with ../ is still refused
    expect(await extractErr(Buffer.concat([paxEntry('16 path=../evil\n'), one(), data5, end]))).toMatchObject({ code: 'UNSAFE_ARCHIVE' });
    // an octal field with a stray character
    const h = one();
    h.write('12x', 124, 3, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    expect(await extractErr(Buffer.concat([h, data5, end]))).toMatchObject({ code: 'STREAM_FORMAT' });
  });

  it('a source that fails mid-archive: STREAM_FAILED with the cause', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.concat([one({ size: 5000 }), Buffer.alloc(1000)]));
        this.destroy(new Error('socket hang up'));
      },
    });
    const err = await extractTar(failing, tempDir(), { operationId: 'ContainerArchive' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STREAM_FAILED', operationId: 'ContainerArchive' });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('a source closed before its end (no error): STREAM_FAILED, not a silent success', async () => {
    const cut = new Readable({
      read() {
        this.push(Buffer.concat([one({ size: 5000 }), Buffer.alloc(1000)]));
        this.destroy();
      },
    });
    const err = await extractTar(cut, tempDir(), { operationId: 'ContainerArchive' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STREAM_FAILED', operationId: 'ContainerArchive' });
  });
});

describe('large files through the data listener', () => {
  /** `total` seeded bytes as 64 KB chunks, each handed out on a later turn (as a socket would). */
  function chunked(data: Buffer, size = 64 * 1024): Readable {
    let at = 0;
    return new Readable({
      highWaterMark: size,
      read() {
        setImmediate(() => {
          if (at >= data.length) return this.push(null);
          this.push(data.subarray(at, at + size));
          at += size;
        });
      },
    });
  }

  it('extracts a 20 MB file and small ones after it, fed in 64 KB chunks (pauses for the disk): same bytes', async () => {
    const big = randomBytes(20 * 1024 * 1024 + 123);
    const small = randomBytes(3000);
    const out = tempDir();
    const archive = tempDir();
    const src = path.join(archive, 'src');
    await fsp.mkdir(src);
    await fsp.writeFile(path.join(src, 'big.bin'), big);
    await fsp.writeFile(path.join(src, 'small.bin'), small);
    const { stream, done } = packStream(async (pack) => {
      for await (const e of walkTree(src)) await packPath(pack, `src/${e.rel}`, e.abs, e.stat);
    });
    const bytes = await readAll(stream);
    await done;
    await extractTar(chunked(bytes), out, { base: 'src' });
    expect(createHash('sha256').update(await fsp.readFile(path.join(out, 'src', 'big.bin'))).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    expect(await fsp.readFile(path.join(out, 'src', 'small.bin'))).toEqual(small);
  });

  it('writeStreamToFd: 20 MB in 64 KB chunks lands whole; a failing source rejects STREAM_FAILED with its cause; a write failure rejects with the system error', async () => {
    const data = randomBytes(20 * 1024 * 1024 + 7);
    const file = path.join(tempDir(), 'out.bin');
    let fd = openSync(file, 'w');
    await writeStreamToFd(chunked(data), fd, 'ImageGet');
    closeSync(fd);
    expect(readFileSync(file).equals(data)).toBe(true);

    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(new Error('socket hang up'));
      },
    });
    fd = openSync(file, 'w');
    const err = await writeStreamToFd(failing, fd, 'ImageGet').catch((e: unknown) => e);
    closeSync(fd);
    expect(err).toMatchObject({ code: 'STREAM_FAILED', operationId: 'ImageGet' });
    expect((err as Error).cause).toMatchObject({ message: 'socket hang up' });

    fd = openSync(file, 'r'); // not writable: EBADF
    const source = chunked(data);
    const writeErr = await writeStreamToFd(source, fd, 'ImageGet').catch((e: unknown) => e);
    closeSync(fd);
    // the runtime's own system error, as it is (Node says write, Bun writev; Deno names no syscall)
    expect(writeErr).toMatchObject({ code: 'EBADF' });
    expect(source.destroyed).toBe(true);
  });
  it('writeStreamToFd with a source that already ended or closed settles at once (never waits for events already fired)', async () => {
    const file = path.join(tempDir(), 'early.bin');
    const ended = Readable.from([Buffer.from('x')]);
    for await (const chunk of ended) void chunk;
    const destroyed = new Readable({ read() {} });
    destroyed.destroy();
    for (const [source, outcome] of [[ended, 'resolved'], [destroyed, 'STREAM_FAILED']] as const) {
      const fd = openSync(file, 'w');
      const result = await Promise.race([
        writeStreamToFd(source, fd, 'ImageGet').then(() => 'resolved', (e: { code?: string }) => e.code),
        new Promise((r) => setTimeout(() => r('hung'), 2000)),
      ]);
      closeSync(fd);
      expect(result).toBe(outcome);
    }
  });
});
