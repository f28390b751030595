// Subscribe to engine events, then act: `ready` says the subscription is live, so no sleep is needed.
//   npx tsx examples/events.ts
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
const docker = new Docker();
const label = `dockhand.example=events-${process.pid}`;
const controller = new AbortController();
const events = docker.system.events({ filters: { type: ['container'], label: [label] } }, { signal: controller.signal });
await events.ready;
const done = docker.run(image, ['true'], { labels: { 'dockhand.example': `events-${process.pid}` } });
const seen: string[] = [];
try {
  for await (const event of events) {
    seen.push(event.Action ?? '?');
    console.log(`${event.Type} ${event.Action} ${event.Actor?.ID?.slice(0, 12)}`);
    // run removes the container at the end: the last event (Docker says destroy, Podman remove)
    if (event.Action === 'destroy' || event.Action === 'remove') break;
  }
} finally {
  controller.abort();
  await done;
  await docker.close();
}
console.log(`seen in order: ${seen.join(', ')}`);
