import { FleetError } from '../../src/runtime/errors.js';

/**
 * FLEET_PREFETCH: whether a worker makes a round's first batch while the
 * round's parameters download (on unless 0). Not a flag: the results are the
 * same either way (to the bit); it exists so a benchmark can measure the
 * overlap side by side (bench/distributed-throughput.ts).
 */
export function prefetchFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.FLEET_PREFETCH;
  if (value === undefined || value === '' || value === '1') return true;
  if (value === '0') return false;
  throw new FleetError(`FLEET_PREFETCH=${value}: expected 0 (make each batch after the download) or 1 (while it runs, the default)`);
}
