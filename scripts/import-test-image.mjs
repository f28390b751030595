#!/usr/bin/env node
// Builds a minimal busybox root filesystem as a tar archive and imports it into
// the Docker engine as `dockhand-test/busybox:latest`, the image the
// integration tests run their containers from.
//
// Usage:
//   node scripts/import-test-image.mjs               import through the built library (dist/)
//   node scripts/import-test-image.mjs --out FILE    only write the rootfs tar to FILE
//
// Options:
//   --busybox PATH   statically linked busybox to package (default /bin/busybox,
//                    from Debian's busybox-static package)
//
// The engine is reached through the library's defaults: DOCKER_HOST, or
// unix:///var/run/docker.sock.
//
// The tar is written by the small ustar writer below, so the script needs
// neither an npm dependency nor the `tar` program. It is deterministic: the
// same busybox binary always yields the same bytes, and so the same layer.

import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPO = 'dockhand-test/busybox';
const TAG = 'latest';

// Applets the tests rely on; the script refuses to build an image without them.
const REQUIRED_APPLETS = [
  'sh', 'cat', 'echo', 'sleep', 'ls', 'true', 'false', 'top', 'env', 'id',
  'wc', 'head', 'printf', 'yes', 'dd', 'tar',
];

// Fixed modification time for every entry (2000-01-01T00:00:00Z), which keeps
// the archive reproducible.
const MTIME = 946684800;

// ---------------------------------------------------------------------------
// Minimal ustar writer
// ---------------------------------------------------------------------------

const BLOCK = 512;

/** Entry types used here (POSIX ustar typeflag values). */
const TYPE = { file: '0', symlink: '2', dir: '5' };

/**
 * Writes `value` as a zero-padded octal number followed by a NUL into the
 * `length`-byte field at `offset`.
 */
function writeOctal(header, offset, length, value) {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) {
    throw new RangeError(`tar: value ${value} does not fit a ${length}-byte field`);
  }
  header.write(`${digits}\0`, offset, length, 'ascii');
}

/** Writes a string into a fixed-size field; the rest of the field stays NUL. */
function writeString(header, offset, length, value) {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) {
    throw new RangeError(`tar: "${value}" is longer than ${length} bytes`);
  }
  bytes.copy(header, offset);
}

/**
 * Returns the 512-byte ustar header for one entry.
 * @param {{name: string, type: string, mode: number, size?: number, linkname?: string}} entry
 */
function tarHeader({ name, type, mode, size = 0, linkname = '' }) {
  const header = Buffer.alloc(BLOCK); // all NUL
  writeString(header, 0, 100, name); //       name
  writeOctal(header, 100, 8, mode); //        mode
  writeOctal(header, 108, 8, 0); //           uid (root)
  writeOctal(header, 116, 8, 0); //           gid (root)
  writeOctal(header, 124, 12, size); //       size
  writeOctal(header, 136, 12, MTIME); //      mtime
  header.fill(' ', 148, 156); //              checksum: spaces while summing
  header.write(type, 156, 1, 'ascii'); //     typeflag
  writeString(header, 157, 100, linkname); // linkname
  header.write('ustar\0', 257, 6, 'ascii'); // magic
  header.write('00', 263, 2, 'ascii'); //     version
  writeString(header, 265, 32, 'root'); //    uname
  writeString(header, 297, 32, 'root'); //    gname
  // devmajor, devminor and prefix stay empty.

  // The checksum is the sum of all header bytes (with the checksum field
  // counted as spaces), stored as six octal digits, a NUL and a space.
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

/**
 * Serialises entries into a complete tar archive.
 * @param {Array<{name: string, type: 'file'|'symlink'|'dir', mode: number, data?: Buffer, target?: string}>} entries
 * @returns {Buffer}
 */
export function writeTar(entries) {
  const chunks = [];
  for (const entry of entries) {
    const data = entry.type === 'file' ? entry.data : Buffer.alloc(0);
    chunks.push(
      tarHeader({
        // Directory names conventionally end in a slash.
        name: entry.type === 'dir' ? `${entry.name.replace(/\/$/, '')}/` : entry.name,
        type: TYPE[entry.type],
        mode: entry.mode,
        size: data.length,
        linkname: entry.type === 'symlink' ? entry.target : '',
      }),
    );
    if (data.length > 0) {
      chunks.push(data);
      const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
      chunks.push(Buffer.alloc(padding)); // file data is padded to whole blocks
    }
  }
  chunks.push(Buffer.alloc(2 * BLOCK)); // end of archive: two zero blocks
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------
// The root filesystem
// ---------------------------------------------------------------------------

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

const GROUP = ['root:x:0:', 'nobody:x:65534:', ''].join('\n');

/**
 * Throws unless `binary` is a statically linked ELF executable. The image has
 * no shared libraries, so a dynamically linked busybox (Debian's `busybox`
 * package rather than `busybox-static`) could not run in it. An ELF file is
 * dynamically linked exactly when a program header has type PT_INTERP (3).
 */
function assertStaticElf(binary, path) {
  if (binary.subarray(0, 4).toString('latin1') !== '\x7fELF') {
    throw new Error(`${path} is not an ELF executable`);
  }
  const is64 = binary[4] === 2; // EI_CLASS: 1 = 32-bit, 2 = 64-bit
  const le = binary[5] === 1; // EI_DATA: 1 = little-endian, 2 = big-endian
  const u16 = (off) => (le ? binary.readUInt16LE(off) : binary.readUInt16BE(off));
  const u32 = (off) => (le ? binary.readUInt32LE(off) : binary.readUInt32BE(off));
  const u64 = (off) => Number(le ? binary.readBigUInt64LE(off) : binary.readBigUInt64BE(off));
  const phoff = is64 ? u64(0x20) : u32(0x1c); // e_phoff
  const phentsize = u16(is64 ? 0x36 : 0x2a); // e_phentsize
  const phnum = u16(is64 ? 0x38 : 0x2c); // e_phnum
  for (let i = 0; i < phnum; i++) {
    if (u32(phoff + i * phentsize) === 3) {
      throw new Error(`${path} is dynamically linked; install the busybox-static package`);
    }
  }
}

/** Applet names compiled into the given busybox binary. */
function listApplets(busyboxPath) {
  const output = execFileSync(busyboxPath, ['--list'], { encoding: 'utf8' });
  return output
    .split('\n')
    .map((line) => line.trim())
    // `busybox` itself is the real file, never a link to it.
    .filter((name) => name !== '' && name !== 'busybox' && !name.includes('/'));
}

/**
 * Builds the rootfs tar: /bin/busybox, a /bin/<applet> -> busybox symlink per
 * applet, /etc/passwd, /etc/group and the empty directories a container needs.
 * @param {string} [busyboxPath]
 * @returns {Buffer}
 */
export function buildRootfs(busyboxPath = '/bin/busybox') {
  const busybox = readFileSync(busyboxPath);
  assertStaticElf(busybox, busyboxPath);
  const applets = listApplets(busyboxPath);
  const missing = REQUIRED_APPLETS.filter((name) => !applets.includes(name));
  if (missing.length > 0) {
    throw new Error(`${busyboxPath} lacks required applets: ${missing.join(', ')}`);
  }

  const dir = (name, mode = 0o755) => ({ name, type: 'dir', mode });
  const file = (name, data, mode = 0o644) => ({ name, type: 'file', mode, data });

  return writeTar([
    dir('bin'),
    dir('dev'),
    dir('etc'),
    dir('proc'),
    dir('root', 0o700),
    dir('sys'),
    dir('tmp', 0o1777), // sticky and world-writable
    file('bin/busybox', busybox, 0o755),
    ...applets.map((name) => ({
      name: `bin/${name}`,
      type: 'symlink',
      mode: 0o777,
      target: 'busybox',
    })),
    file('etc/passwd', Buffer.from(PASSWD)),
    file('etc/group', Buffer.from(GROUP)),
  ]);
}

// ---------------------------------------------------------------------------
// Import through the library
// ---------------------------------------------------------------------------

/**
 * Imports the rootfs as REPO:TAG. The engine answers with newline-delimited
 * JSON progress objects; any object carrying `error` or `errorDetail` means
 * the import failed.
 */
async function importImage(tar) {
  const libraryUrl = new URL('../dist/esm/index.js', import.meta.url);
  let Docker;
  try {
    ({ Docker } = await import(libraryUrl.href));
  } catch (err) {
    throw new Error(
      `cannot load the built library (${fileURLToPath(libraryUrl)}); run \`npm run build\` first\n` +
        `  cause: ${err.message}`,
    );
  }

  const docker = new Docker();
  try {
    const stream = await docker.api.ImageCreate({
      fromSrc: '-',
      repo: REPO,
      tag: TAG,
      changes: ['CMD ["/bin/sh"]'],
      inputImage: tar,
    });

    const messages = [];
    const decoder = new TextDecoder();
    let pending = '';
    const takeLines = (text) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) if (line.trim() !== '') messages.push(JSON.parse(line));
    };
    for await (const chunk of stream) {
      takeLines(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    }
    takeLines(`${decoder.decode()}\n`); // flush the decoder and a final unterminated line

    const failure = messages.find((m) => 'error' in m || 'errorDetail' in m);
    if (failure) {
      throw new Error(`image import failed: ${JSON.stringify(failure)}`);
    }
    // On success the last message's status is the new image ID.
    const last = messages.at(-1);
    console.log(`imported ${REPO}:${TAG}${last?.status ? ` (${last.status})` : ''}`);
  } finally {
    await docker.close();
  }
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const options = { out: undefined, busybox: '/bin/busybox' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--out') options.out = value();
    else if (arg === '--busybox') options.busybox = value();
    else if (arg === '-h' || arg === '--help') options.help = true;
    else throw new Error(`unknown argument: ${arg}`);
  }
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.help) {
    console.log('usage: node scripts/import-test-image.mjs [--out FILE] [--busybox PATH]');
    return;
  }
  const tar = buildRootfs(options.busybox);
  if (options.out) {
    writeFileSync(options.out, tar);
    console.log(`wrote ${options.out} (${tar.length} bytes)`);
    return;
  }
  await importImage(tar);
}

// Run only when executed directly, so the tar functions can also be imported.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  main().catch((err) => {
    console.error(`import-test-image: ${err.message}`);
    process.exit(1);
  });
}
