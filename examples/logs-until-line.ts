// Start a server, wait until its log says it is ready, then follow its log line by line.
//   npx tsx examples/logs-until-line.ts
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
const docker = new Docker();
const script = 'echo starting; sleep 1; echo "ready on port 8080"; for i in 1 2 3; do echo "tick $i"; sleep 0.2; done; echo bye >&2';
const server = await docker.run(image, ['sh', '-c', script], { detach: true, labels: { 'dockhand.example': 'logs-until-line' } });
try {
  const { line, match } = await docker.containers.waitFor(server.id, { log: /ready on port (\d+)/ }, { timeout: 30_000 });
  console.log(`ready: ${JSON.stringify(line)} (port ${match?.[1]})`);

  // whole lines, whatever the frames; stdout and stderr apart; ends when the container exits
  for await (const { stream, line: text } of server.logs({ follow: true }).lines()) console.log(`${stream}: ${text}`);
  console.log(`exit code ${await docker.containers.waitFor(server.id, { exited: true })}`);
} finally {
  await server[Symbol.asyncDispose]();
  await docker.close();
}
