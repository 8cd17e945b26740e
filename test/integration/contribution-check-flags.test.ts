/**
 * fleet coordinator's contribution-check flags are checked at the edge: a
 * bad value, or 'on' where the check cannot run whole (--shards K > 1,
 * --sync-every > 1), is bad usage (exit 2), named, before anything runs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFleet } from '../helpers/run-fleet.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-check-flags-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('fleet coordinator --contribution-check flags', () => {
  it.each([
    [['--contribution-norm-factor', '1'], '--contribution-norm-factor 1: must be above 1'],
    [['--contribution-clip-factor', '0.5'], '--contribution-clip-factor 0.5: must be 1 or more, or 0 for no clipping'],
    [['--contribution-check', 'on', '--shards', '2'], '--contribution-check on: not supported with --shards 2'],
  ])('%j is refused (exit 2)', async (flags, message) => {
    const result = await runFleet(['coordinator', '--port', '0', '--out', join(root, 'run'), '--workers', '2', ...flags]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
