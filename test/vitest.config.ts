import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  test: {
    root,
    // tfjs kernels are CPU-heavy and the machines have 2 cores: run files in
    // forked processes (each gets its own wasm instance), at most 2 at a time.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        extends: true,
        // In-process: no child processes, fake timers where time matters (a
        // loopback server inside the test process is fine). A unit test that
        // needs more than this is in the wrong project.
        test: { name: 'unit', root, include: ['test/unit/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 30_000 },
      },
      {
        extends: true,
        // Real processes, servers and files: kill -9, restarts, a real nats-server.
        test: {
          name: 'process',
          root,
          include: ['test/integration/**/*.test.ts', 'test/chaos/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Makes the directory the chaos scenarios record into; prints their summary line at the end.
          globalSetup: ['test/chaos/summary-setup.ts'],
        },
      },
      {
        extends: true,
        // Real containers (testcontainers): NATS's image, the fleet image, a run across containers. Where no
        // container engine answers, each is skipped and the reason printed once.
        test: {
          name: 'containers',
          root,
          include: ['test/containers/**/*.test.ts'],
          // Building the fleet image runs npm ci inside it: minutes.
          testTimeout: 900_000,
          hookTimeout: 1_800_000,
          globalSetup: ['test/containers/engine-setup.ts'],
        },
      },
    ],
  },
});
