/** Test fixtures on disk: a folder of files from a short description, and one file read back from a container. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import type { Docker } from '../../src/index.js';

/**
 * A file's content (mode 0644), an empty folder (`null`), a symlink, a hard link to an earlier
 * path of the same tree, or content with its own mode.
 */
export type FileSpec = string | Buffer | null | { link: string } | { hardlink: string } | { content: string | Buffer; mode: number };

/** Writes `files` (relative path -> spec) under `root`, in the order given. */
export async function writeFiles(root: string, files: Readonly<Record<string, FileSpec>>): Promise<void> {
  for (const [name, spec] of Object.entries(files)) {
    const abs = path.join(root, name);
    if (spec === null) {
      await fsp.mkdir(abs, { recursive: true });
      continue;
    }
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    if (typeof spec === 'string' || Buffer.isBuffer(spec)) {
      await fsp.writeFile(abs, spec);
      await fsp.chmod(abs, 0o644);
    } else if ('link' in spec) await fsp.symlink(spec.link, abs);
    else if ('hardlink' in spec) await fsp.link(path.join(root, spec.hardlink), abs);
    else {
      await fsp.writeFile(abs, spec.content);
      await fsp.chmod(abs, spec.mode);
    }
  }
}

/** The text of one file of a container (created or running), through getArchive. */
export async function readContainerFile(docker: Docker, id: string, file: string): Promise<string> {
  const { stream } = await docker.containers.getArchive(id, file);
  const extract = tarStream.extract();
  stream.pipe(extract as unknown as NodeJS.WritableStream);
  let text = '';
  for await (const e of extract) for await (const c of e) text += (c as Buffer).toString();
  return text;
}
