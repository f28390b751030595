// Startup: @docker/node-sdk's ping on the engine's socket, exit (for information).
// Its systemPing() sends HEAD /_ping and returns the Api-Version header.
import { DockerClient } from '@docker/node-sdk';

const socketPath = process.env.BENCH_SOCKET || '/var/run/docker.sock';
const client = await DockerClient.fromDockerHost(`unix:${socketPath}`);
const answer = await client.systemPing();
await client.close();
if (typeof answer !== 'string' || !/^\d+\.\d+$/.test(answer)) {
  console.error(`unexpected answer: ${JSON.stringify(answer)}`);
  process.exitCode = 1;
}
