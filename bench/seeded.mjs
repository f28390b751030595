/**
 * Deterministic bench data, shared by the benches that need files on disk: seeded bytes
 * (AES-256-CTR of zeros under a key made from a seed) and seeded sizes (mulberry32). The same seed
 * gives the same bytes and sizes on every machine and run.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Deterministic bytes: AES-256-CTR of zeros under a key made from `seed`; `.update(zeros)` gives the next bytes. */
export function byteSource(seed) {
  const key = createHash('sha256').update(`dockhand-bench-${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
}

/** A small seeded PRNG (mulberry32): a function giving numbers in [0, 1). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `size` bytes of `cipher` to `file`, 1 MiB at a time. */
export function writeBytes(file, cipher, size) {
  const fd = openSync(file, 'w');
  const zeros = Buffer.alloc(1 << 20);
  try {
    for (let left = size; left > 0; ) {
      const n = Math.min(left, zeros.length);
      writeSync(fd, cipher.update(zeros.subarray(0, n)));
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Fills `folder` with the benches' seeded tree: `small` files of 0.1–8 KB in 50 folders
 * (`dir-NN/file-NNNN.bin`), `large` files of `largeSize` bytes in `large/`, and a Dockerfile.
 */
export function writeTree(folder, { seed, key, small, large, largeSize, dockerfile }) {
  const rand = prng(seed);
  const cipher = byteSource(key);
  for (let d = 0; d < 50; d++) mkdirSync(join(folder, `dir-${String(d).padStart(2, '0')}`), { recursive: true });
  for (let i = 0; i < small; i++) {
    const size = 100 + Math.floor(rand() * (8 * 1024 - 100));
    writeFileSync(join(folder, `dir-${String(i % 50).padStart(2, '0')}`, `file-${String(i).padStart(4, '0')}.bin`), cipher.update(Buffer.alloc(size)));
  }
  mkdirSync(join(folder, 'large'));
  for (let i = 0; i < large; i++) writeBytes(join(folder, 'large', `blob-${String(i).padStart(2, '0')}.bin`), cipher, largeSize);
  writeFileSync(join(folder, 'Dockerfile'), dockerfile);
}
