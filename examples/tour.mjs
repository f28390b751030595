// A short tour of dockhand against the local engine: `npm run demo` runs it.
// It creates two labelled containers (one runs to completion, one serves an exec) and removes them.
import { ApiVersionError, Docker, NotFoundError } from 'dockhand';

const docker = new Docker(); // DOCKER_HOST, else unix:///var/run/docker.sock
const image = process.env.DOCKHAND_DEMO_IMAGE ?? 'dockhand-test/busybox:latest';
let id;
try {
  const version = await docker.system.version();
  console.log(`engine      ${version.Version} on ${version.Os}/${version.Arch}, API ${version.ApiVersion} (min ${version.MinAPIVersion})`);
  console.log(`speaking    API ${await docker.apiVersion()} at ${docker.address}`);

  const info = await docker.system.info();
  console.log(`engine has  ${info.Containers} containers, ${info.Images} images, storage driver ${info.Driver}`);

  const created = await docker.containers.create({
    name: `dockhand-demo-${process.pid}`,
    body: {
      Image: image,
      Cmd: ['sh', '-c', 'echo "hello from $(hostname)"; exit 7'],
      Labels: { 'dockhand.demo': 'true' },
    },
  });
  id = created.Id;
  console.log(`created     ${id.slice(0, 12)}`);

  const first = await docker.containers.start(id);
  const wait = await docker.containers.wait(id);
  console.log(`started     (already running? ${first.notModified}); exited with status ${wait.StatusCode}`);

  const state = (await docker.containers.inspect(id)).State;
  console.log(`inspected   status=${state.Status} exitCode=${state.ExitCode} finished=${state.FinishedAt}`);

  const logs = await docker.containers.logs(id).text();
  console.log(`its logs    ${JSON.stringify(logs.stdout)} (demultiplexed: stderr ${JSON.stringify(logs.stderr)})`);

  const sidecar = await docker.containers.create({ body: { Image: image, Cmd: ['sleep', '30'], Labels: { 'dockhand.demo': 'true' } } });
  try {
    await docker.containers.start(sidecar.Id);
    const run = await docker.containers.exec(sidecar.Id, { Cmd: ['sh', '-c', 'tr a-z A-Z; echo done >&2; exit 3'], stdin: 'piped through exec\n' });
    console.log(`exec        exit ${run.exitCode}, stdout ${JSON.stringify(run.stdout)}, stderr ${JSON.stringify(run.stderr)}`);
  } finally {
    await docker.containers.remove(sidecar.Id, { force: true });
  }

  const mine = await docker.containers.list({ all: true, filters: { label: ['dockhand.demo=true'] } });
  console.log(`listed      ${mine.length} container(s) labelled dockhand.demo=true`);

  try {
    await docker.containers.inspect('no-such-container-here');
  } catch (err) {
    if (err instanceof NotFoundError) console.log(`typed error ${err.name} (${err.code}, ${err.statusCode}): ${err.message}`);
    else throw err;
  }

  const old = new Docker({ apiVersion: '1.25' });
  try {
    await old.api.ConfigList();
  } catch (err) {
    if (err instanceof ApiVersionError) console.log(`typed error ${err.name}: ${err.message} (nothing was sent)`);
    else throw err;
  } finally {
    await old.close();
  }
} finally {
  if (id) {
    await docker.containers.remove(id, { force: true });
    console.log(`removed     ${id.slice(0, 12)}`);
  }
  await docker.close();
}
