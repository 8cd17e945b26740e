import { beforeEach, describe, expect, it, vi } from 'vitest';
import { HEAP_GROWING_PERCENT, tuneHeapForTransfers } from '../../../src/runtime/heap-tuning.js';

// What the tuning hands V8, recorded instead of applied: the test process keeps its own heap settings.
const v8Flags = vi.hoisted(() => [] as string[]);
vi.mock('node:v8', async (importOriginal) => ({
  ...(await importOriginal<typeof import('node:v8')>()),
  setFlagsFromString: (flags: string) => {
    v8Flags.push(flags);
  },
}));

beforeEach(() => {
  v8Flags.length = 0;
});

describe('tuneHeapForTransfers', () => {
  it('sets the heap growth when the user did not', () => {
    expect(tuneHeapForTransfers(['--max-old-space-size=4096', '--enable-source-maps'])).toBe(true);
    expect(v8Flags).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });

  it("leaves a user's own --heap-growing-percent alone, in either spelling", () => {
    expect(tuneHeapForTransfers(['--heap-growing-percent=50'])).toBe(false);
    expect(tuneHeapForTransfers(['--enable-source-maps', '--heap-growing-percent', '50'])).toBe(false);
    expect(v8Flags).toEqual([]);
  });
});
