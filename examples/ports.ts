// Publish a port on a random host port, wait until it answers HTTP, and fetch from it.
//   npx tsx examples/ports.ts
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
const docker = new Docker();
const web = await docker.run(image, ['sh', '-c', 'echo "hello over http" > /tmp/index.html; exec httpd -f -p 80 -h /tmp'], {
  detach: true,
  ports: { '80/tcp': 0 }, // 0: a random free port on the host
  labels: { 'dockhand.example': 'ports' },
});
try {
  const published = (await web.inspect()).NetworkSettings?.Ports?.['80/tcp']?.[0];
  console.log(`80/tcp published on host port ${published?.HostPort}`);
  // EXAMPLE_PORT_HOST: where published ports are reached, when not this machine (an engine elsewhere)
  const host = process.env.EXAMPLE_PORT_HOST;
  const ready = await docker.containers.waitFor(web.id, { http: { port: 80, path: '/index.html', ...(host ? { host } : {}) } }, { timeout: 30_000 });
  const res = await fetch(`http://${ready.host}:${ready.port}/index.html`);
  console.log(`GET / -> ${res.status} ${JSON.stringify((await res.text()).trim())}`);
} finally {
  await web[Symbol.asyncDispose]();
  await docker.close();
}
