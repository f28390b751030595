// A user network: two containers on it reach each other by name; inspect it, then take it down.
//   npx tsx examples/networks.ts
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
const labels = { 'dockhand.example': 'networks' };
const docker = new Docker();
const name = `dockhand-example-net-${process.pid}`;
const ids: string[] = [];
const { Id: networkId } = await docker.networks.create({ networkConfig: { Name: name, Labels: labels } });
try {
  const server = await docker.containers.create({
    name: `${name}-server`,
    body: { Image: image, Cmd: ['httpd', '-f', '-p', '8080', '-h', '/etc'], Labels: labels, HostConfig: { NetworkMode: name } },
  });
  ids.push(server.Id);
  await docker.containers.start(server.Id);
  const client = await docker.containers.create({ body: { Image: image, Cmd: ['sleep', '600'], Labels: labels } });
  ids.push(client.Id);
  await docker.networks.connect(networkId, { container: { Container: client.Id } });
  await docker.containers.start(client.Id);

  const network = await docker.networks.inspect(networkId);
  console.log(`network ${network.Name} (${network.Driver}): ${Object.keys(network.Containers ?? {}).length} container(s)`);
  // the server answers by its container name, through the network's DNS
  let fetched: { exitCode: number; stdout: string } = { exitCode: -1, stdout: '' };
  for (let i = 0; i < 20 && fetched.exitCode !== 0; i++) {
    fetched = await docker.containers.exec(client.Id, { Cmd: ['wget', '-q', '-O', '-', `http://${name}-server:8080/hostname`] });
    if (fetched.exitCode !== 0) await new Promise((r) => setTimeout(r, 250));
  }
  console.log(`wget ${name}-server: exit ${fetched.exitCode}, ${JSON.stringify(fetched.stdout.trim())}`);
  await docker.networks.disconnect(networkId, { container: { Container: client.Id, Force: true } });
} finally {
  for (const id of ids) await docker.containers.remove(id, { force: true });
  await docker.networks.remove(networkId);
  await docker.close();
}
