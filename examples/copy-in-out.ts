// Copy a folder into a container and back out, like `docker cp` both ways: modes and symlinks kept.
//   npx tsx examples/copy-in-out.ts
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
const docker = new Docker();
const work = mkdtempSync(join(tmpdir(), 'dockhand-example-'));
const { Id } = await docker.containers.create({ body: { Image: image, Cmd: ['sleep', '600'], Labels: { 'dockhand.example': 'copy-in-out' } } });
try {
  await docker.containers.start(Id);
  const src = join(work, 'site');
  mkdirSync(join(src, 'assets'), { recursive: true });
  writeFileSync(join(src, 'index.html'), '<h1>hello</h1>\n');
  writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  symlinkSync('index.html', join(src, 'assets', 'home.html'));

  await docker.containers.copyTo(Id, src, '/tmp'); // into an existing folder: /tmp/site/...
  const listing = await docker.containers.exec(Id, { Cmd: ['ls', '-lR', '/tmp/site'] });
  console.log(listing.stdout.trim());

  await docker.containers.exec(Id, { Cmd: ['sh', '-c', 'echo changed in the container > /tmp/site/index.html'] });
  const back = join(work, 'back');
  await docker.containers.copyFrom(Id, '/tmp/site', back);
  console.log(`copied back: index.html says ${JSON.stringify(readFileSync(join(back, 'index.html'), 'utf8').trim())}`);
} finally {
  await docker.containers.remove(Id, { force: true });
  rmSync(work, { recursive: true, force: true });
  await docker.close();
}
