// Startup: dockhand as a user imports it (ESM build). ping() negotiates the API version
// (GET /_ping) and then sends the versioned ping (GET /v1.xx/_ping).
import { Docker } from '../../dist/esm/index.js';

const d = new Docker();
const answer = await d.system.ping();
await d.close();
if (answer !== 'OK') {
  console.error(`unexpected answer: ${JSON.stringify(answer)}`);
  process.exitCode = 1;
}
