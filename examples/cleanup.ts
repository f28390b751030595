// Clean up what a program made: label everything, then remove by label (and prune), even on failure.
//   npx tsx examples/cleanup.ts
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
const label = { 'dockhand.example': `cleanup-${process.pid}` };
const filters = { label: [`dockhand.example=cleanup-${process.pid}`] };
const docker = new Docker();
try {
  for (let i = 0; i < 3; i++) await docker.run(image, ['sleep', '600'], { detach: true, remove: false, labels: label });
  await docker.volumes.create({ body: { Name: `dockhand-example-cleanup-${process.pid}`, Labels: label } });
  await docker.networks.create({ body: { Name: `dockhand-example-cleanup-${process.pid}`, Labels: label } });
  throw new Error('something failed half way');
} catch (err) {
  console.log(`failed: ${(err as Error).message}; cleaning up`);
} finally {
  const containers = await docker.containers.list({ all: true, filters });
  await Promise.all(containers.map((c) => docker.container(c.Id!).remove({ force: true, v: true })));
  // (volumes.prune takes named volumes only with `all` from API 1.42: removing by list works everywhere)
  const { Volumes: volumes = [] } = await docker.volumes.list({ filters });
  await Promise.all(volumes.map((v) => docker.volume(v.Name).remove()));
  const networks = await docker.networks.list({ filters });
  await Promise.all(networks.map((n) => docker.network(n.Id!).remove()));
  console.log(`removed ${containers.length} container(s), ${volumes.length} volume(s), ${networks.length} network(s)`);
  await docker.close();
}
