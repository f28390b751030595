// Run a command in a new container and get its exit code and output, like `docker run --rm`.
//   npx tsx examples/run-output.ts
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
const docker = new Docker();
try {
  // pulled if missing, attached before it starts (no output lost), removed once its exit code is read
  const { exitCode, stdout, stderr } = await docker.run(image, ['sh', '-c', 'echo out; echo err >&2; exit 3'], {
    env: { GREETING: 'hello' },
    labels: { 'dockhand.example': 'run-output' },
  });
  console.log(`exit ${exitCode}, stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)}`);

  const { stdout: shouted } = await docker.run(image, ['sh', '-c', 'tr a-z A-Z'], { stdin: 'from stdin\n', labels: { 'dockhand.example': 'run-output' } });
  console.log(`with stdin: ${JSON.stringify(shouted)}`);
} finally {
  await docker.close();
}
