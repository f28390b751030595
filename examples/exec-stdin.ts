// Run a command in a running container, feeding it stdin, and get its exit code and output.
//   npx tsx examples/exec-stdin.ts
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
const docker = new Docker();
const { Id } = await docker.containers.create({ body: { Image: image, Cmd: ['sleep', '600'], Labels: { 'dockhand.example': 'exec-stdin' } } });
try {
  await docker.containers.start(Id);
  const result = await docker.containers.exec(Id, { Cmd: ['sh', '-c', 'tr a-z A-Z; echo done >&2; exit 3'], stdin: 'shout this\n' });
  console.log(`exit ${result.exitCode}, stdout ${JSON.stringify(result.stdout)}, stderr ${JSON.stringify(result.stderr)}`);
} finally {
  await docker.containers.remove(Id, { force: true });
  await docker.close();
}
