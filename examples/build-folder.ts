// Build an image from a folder (tarred on the fly, .dockerignore honoured) and print its id.
//   npx tsx examples/build-folder.ts [folder] [tag]   (default: a small folder made for the example)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Docker } from 'dockhand';

const base = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
let folder = process.argv[2];
const made = folder === undefined;
if (folder === undefined) {
  folder = mkdtempSync(join(tmpdir(), 'dockhand-example-'));
  writeFileSync(join(folder, 'Dockerfile'), `FROM ${base}\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n`);
  writeFileSync(join(folder, 'hello.txt'), 'hello from a dockhand build\n');
  writeFileSync(join(folder, '.dockerignore'), 'secret.txt\n');
  writeFileSync(join(folder, 'secret.txt'), 'never sent to the engine\n');
}
const tag = process.argv[3] ?? 'dockhand-example/hello:latest';
const docker = new Docker();
try {
  const build = docker.images.build(folder, { tags: tag, labels: { 'dockhand.example': 'build-folder' } });
  for await (const message of build) if (message.stream) process.stdout.write(message.stream);
  const { imageId } = await build;
  console.log(`built ${tag}: ${imageId}`);
} finally {
  if (made) rmSync(folder, { recursive: true, force: true });
  await docker.close();
}
