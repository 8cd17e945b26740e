import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // tfjs kernels are CPU-heavy and the machines have 2 cores: run files in
    // forked processes (each gets its own wasm instance), at most 2 at a time.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Makes the directory the chaos scenarios record into; prints their summary line at the end.
    globalSetup: ['test/chaos/summary-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
