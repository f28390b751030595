/** A local folder described for comparison: one line per path, the same for equal trees. */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export interface TreeOptions {
  /** Include mtimes (whole seconds) of files and folders (default true). */
  mtimes?: boolean;
  /** Name the first path of each hard-link group on the later ones (default true). */
  links?: boolean;
}

/**
 * Relative path -> `symlink -> target`, `dir MODE [MTIME]` or `file MODE SIZE SHA256 [MTIME]
 * [(link of FIRST)]`, walking in name order.
 */
export async function describeTree(root: string, options: TreeOptions = {}): Promise<Record<string, string>> {
  const mtimes = options.mtimes ?? true;
  const links = options.links ?? true;
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  const time = (ms: number): string => (mtimes ? ` ${Math.floor(ms / 1000)}` : '');
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fsp.lstat(abs);
      if (st.isSymbolicLink()) out[r] = `symlink -> ${await fsp.readlink(abs)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${(st.mode & 0o7777).toString(8)}${time(st.mtimeMs)}`;
        await walk(abs, r);
      } else {
        const first = links ? inodes.get(st.ino) : undefined;
        if (links && first === undefined) inodes.set(st.ino, r);
        const hash = createHash('sha256').update(await fsp.readFile(abs)).digest('hex');
        out[r] = `file ${(st.mode & 0o7777).toString(8)} ${st.size} ${hash}${time(st.mtimeMs)}${first ? ` (link of ${first})` : ''}`;
      }
    }
  };
  await walk(root, '');
  return out;
}
