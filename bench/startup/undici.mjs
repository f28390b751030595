// Startup: a raw undici Pool (bench's own undici, same version as dockhand's) GET /_ping, exit.
import { Pool } from 'undici';

const socketPath = process.env.BENCH_SOCKET || '/var/run/docker.sock';
const pool = new Pool('http://localhost', { socketPath });
const { statusCode, body } = await pool.request({ method: 'GET', path: '/_ping' });
const text = await body.text();
await pool.close();
if (statusCode !== 200 || text !== 'OK') {
  console.error(`unexpected answer: ${statusCode} ${text}`);
  process.exitCode = 1;
}
