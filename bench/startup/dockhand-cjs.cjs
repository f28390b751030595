// Startup: dockhand required from its CommonJS build; same calls as dockhand-esm.mjs.
const { Docker } = require('../../dist/cjs/index.js');

(async () => {
  const d = new Docker();
  const answer = await d.system.ping();
  await d.close();
  if (answer !== 'OK') {
    console.error(`unexpected answer: ${JSON.stringify(answer)}`);
    process.exitCode = 1;
  }
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
