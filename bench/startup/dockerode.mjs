// Startup: dockerode's ping on the engine's socket, exit.
import Docker from 'dockerode';

const socketPath = process.env.BENCH_SOCKET || '/var/run/docker.sock';
const answer = await new Docker({ socketPath }).ping();
if (String(answer) !== 'OK') {
  console.error(`unexpected answer: ${JSON.stringify(String(answer))}`);
  process.exitCode = 1;
}
