import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT } from '../../src/runtime/heap-tuning.js';

/**
 * What tuneHeapForTransfers relies on in a real node (its decision is unit
 * tested): V8 knows the flag it sets (setFlagsFromString only prints an
 * error for one it does not), and a user's own flag shows in process.execArgv.
 */
describe('--heap-growing-percent in this node', () => {
  it('is a V8 flag that node accepts and lists in process.execArgv', () => {
    const flag = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
    const r = spawnSync(process.execPath, [flag, '-e', 'process.stdout.write(JSON.stringify(process.execArgv))'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toContain(flag);
  });
});
