import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The 3-node swarm suite runs only when DOCKHAND_SWARM names the cluster's manager
 * (`bash scripts/swarm.sh up` prints it); it is never part of the engine project, whose engine
 * must stay out of any swarm.
 */
const SWARM_SUITE = 'test/engine/swarm-cluster.test.ts';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'engine',
          include: ['test/engine/**/*.test.ts'],
          exclude: [...configDefaults.exclude, SWARM_SUITE],
          globalSetup: ['test/engine/global-setup.ts'],
          // One engine, shared: files run one after another so prune tests see only their own objects.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      ...(process.env.DOCKHAND_SWARM
        ? [
            {
              test: {
                name: 'swarm',
                include: [SWARM_SUITE],
                // One cluster, shared: the tests run in order, each leaving it as it found it.
                fileParallelism: false,
                testTimeout: 180_000,
                hookTimeout: 180_000,
              },
            },
          ]
        : []),
      {
        test: {
          name: 'package',
          include: ['test/package/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
    ],
  },
});
