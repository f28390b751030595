/**
 * The engine suite needs a real engine: if none answers, the run fails here (it never skips).
 * Before and after the run, what this run (or a run that died) left behind is removed.
 */
import { randomBytes } from 'node:crypto';
import { Docker } from '../../src/index.js';
import { TEST_IMAGE, sweep } from '../support/engine.js';

const runId = randomBytes(6).toString('hex');

export async function setup(): Promise<void> {
  // Workers are started after this and inherit it: objects made through labels() name this run.
  process.env.DOCKHAND_TEST_RUN = runId;
  const docker = new Docker();
  try {
    const version = await docker.apiVersion({ timeout: 10_000 });
    // What the engine is, for assertions that follow it (test/support/engine.ts's ENGINE).
    const v = await docker.system.version();
    process.env.DOCKHAND_ENGINE_API = version;
    process.env.DOCKHAND_ENGINE_VERSION = v.Version ?? '';
    process.env.DOCKHAND_ENGINE_PODMAN = v.Components?.some((c) => /podman/i.test(c.Name)) ? '1' : '';
    await docker.images.inspect(TEST_IMAGE).catch((err: Error) => {
      throw new Error(`the engine answers (API ${version}) but has no ${TEST_IMAGE}: run \`npm run engine -- up\` (${err.message})`);
    });
    await sweep(docker, runId);
  } catch (err) {
    throw new Error(`engine suite: no usable Docker engine (${docker.address}): ${(err as Error).message}. Start one with \`npm run engine -- up\`.`);
  } finally {
    await docker.close();
  }
}

export async function teardown(): Promise<void> {
  const docker = new Docker();
  try {
    await sweep(docker, runId);
  } finally {
    await docker.close();
  }
}
