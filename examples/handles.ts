// Handles: the methods of a resource with its id bound, and `await using` to clean up.
//   npx tsx examples/handles.ts
import { Docker } from 'dockhand';

const image = process.env.EXAMPLE_IMAGE ?? 'busybox:latest';
{
  await using docker = new Docker(); // closed at the end of the block
  await using box = await docker.run(image, ['sleep', '600'], { detach: true, labels: { 'dockhand.example': 'handles' } }); // removed at the end
  const info = await box.inspect();
  console.log(`container ${box.id.slice(0, 12)} running: ${info.State?.Running}`);
  const { stdout } = await box.exec({ Cmd: ['sh', '-c', 'echo $((6 * 7))'] });
  console.log(`exec: ${stdout.trim()}`);
  await box.rename({ name: `dockhand-example-handles-${process.pid}` });
  console.log(`renamed: ${(await box.inspect()).Name}`);

  const img = docker.image(image);
  console.log(`image ${image}: ${(await img.inspect()).Id?.slice(0, 19)}`);
}
console.log('disposed: container removed, client closed');
