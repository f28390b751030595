/** A minimal ustar writer for the engine suite: regular files and directories only. */

const BLOCK = 512;
/** 2000-01-01T00:00:00Z: fixed, so the same entries always give the same bytes. */
const MTIME = 946684800;

export interface TarEntry {
  /** Path inside the archive, without a leading slash (at most 100 bytes). */
  name: string;
  /** File contents; omit for a directory. */
  data?: string | Buffer;
  mode?: number;
}

function octal(header: Buffer, offset: number, length: number, value: number): void {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new RangeError(`tar: ${value} does not fit ${length} bytes`);
  header.write(`${digits}\0`, offset, length, 'ascii');
}

function header(name: string, type: '0' | '5', mode: number, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > 100) throw new RangeError(`tar: name "${name}" is longer than 100 bytes`);
  bytes.copy(h, 0);
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, MTIME);
  h.fill(' ', 148, 156);
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** Serialises entries into a complete tar archive (ending with two zero blocks). */
export function tar(entries: readonly TarEntry[]): Buffer {
  const chunks: Buffer[] = [];
  for (const e of entries) {
    if (e.data === undefined) {
      chunks.push(header(`${e.name.replace(/\/$/, '')}/`, '5', e.mode ?? 0o755, 0));
      continue;
    }
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data;
    chunks.push(header(e.name, '0', e.mode ?? 0o644, data.length));
    chunks.push(data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  chunks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(chunks);
}
