/**
 * The engine suite needs a real engine: if none answers, the run fails here (it never skips).
 * After the run, anything still carrying the test label is removed, even after a crash.
 */
import { Docker } from '../../src/index.js';
import { TEST_IMAGE, sweep } from '../support/engine.js';

export async function setup(): Promise<void> {
  const docker = new Docker();
  try {
    const version = await docker.apiVersion({ timeout: 10_000 });
    await docker.images.inspect(TEST_IMAGE).catch((err: Error) => {
      throw new Error(`the engine answers (API ${version}) but has no ${TEST_IMAGE}: run \`npm run engine -- up\` (${err.message})`);
    });
    await sweep(docker);
  } catch (err) {
    throw new Error(`engine suite: no usable Docker engine (${docker.address}): ${(err as Error).message}. Start one with \`npm run engine -- up\`.`);
  } finally {
    await docker.close();
  }
}

export async function teardown(): Promise<void> {
  const docker = new Docker();
  try {
    await sweep(docker);
  } finally {
    await docker.close();
  }
}
