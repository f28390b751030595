// Pull an image and draw its progress per layer: bars redrawn in place on a terminal, plain lines
// (one per status change) when the output is not a TTY.
//   npx tsx examples/pull-progress.ts [image]      (default busybox:latest)
import { Docker, type LayerProgress } from 'dockhand';

const ref = process.argv[2] ?? 'busybox:latest';
const docker = new Docker();
const tty = process.stdout.isTTY === true;
const width = 30;

function bar(layer: LayerProgress): string {
  if (layer.total <= 0) return ' '.repeat(width + 2);
  const done = Math.round((Math.min(layer.current, layer.total) / layer.total) * width);
  return `[${'='.repeat(done)}${' '.repeat(width - done)}]`;
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
let drawn = 0;
const said = new Map<string, string>();
const pull = docker.images.pull(ref);
for await (const message of pull) {
  if (!tty) {
    // One line per layer and status change, and every message without a layer.
    const key = message.id ?? '';
    if (message.status && said.get(key) !== message.status) {
      said.set(key, message.status);
      console.log(message.id ? `${message.id}: ${message.status}` : message.status);
    }
    continue;
  }
  if (drawn) process.stdout.write(`\x1b[${drawn}A`); // back to the first layer's line
  const layers = [...pull.progress.layers];
  for (const [id, layer] of layers) {
    const size = layer.total > 0 ? ` ${mib(layer.current)}/${mib(layer.total)}` : '';
    process.stdout.write(`\x1b[2K${id}: ${bar(layer)} ${layer.status}${size}\n`);
  }
  drawn = layers.length;
}
const { last } = await pull; // the engine's closing status ("Status: Downloaded newer image for ...")
if (tty && last?.status) console.log(last.status);
const overall = pull.progress.overall;
console.log(`pulled ${ref}: ${pull.progress.layers.size} layer(s), ${mib(overall.total)}`);
await docker.close();
