import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MissingDataFilesError, loadCifar10 } from '../../../src/dataset/index.js';

// The shared copy (../shared/cifar10 beside the checkout) holds data_batch_1
// and test_batch only; skipped where absent.
const SHARED = process.env.FLEET_SHARED_CIFAR10 ?? fileURLToPath(new URL('../../../../shared/cifar10', import.meta.url));
const present = existsSync(`${SHARED}/cifar-10-batches-bin/data_batch_1.bin`);

describe.skipIf(!present)('real CIFAR-10 files in ../shared/cifar10', () => {
  it('loads 10,000 train and 10,000 test images with allowPartial', async () => {
    const data = await loadCifar10({ dir: SHARED, allowPartial: true });
    expect(data.train.count).toBe(10_000);
    expect(data.test.count).toBe(10_000);
    expect(data.train.images.length).toBe(10_000 * 32 * 32 * 3);
    expect(data.classNames).toHaveLength(10);
    const perClass = new Array<number>(10).fill(0);
    for (const label of data.test.labels) perClass[label] = (perClass[label] ?? 0) + 1;
    expect(perClass).toEqual(new Array<number>(10).fill(1000));
    expect(Math.max(...data.train.labels)).toBeLessThanOrEqual(9);
    expect(new Set(data.train.labels).size).toBe(10);
    // README: mean intensity 0.473 - a layout bug would not change it, but garbage reads would.
    let sum = 0;
    for (const v of data.test.images) sum += v;
    expect(sum / data.test.images.length / 255).toBeCloseTo(0.473, 2);
  });

  it('refuses the partial set without allowPartial', async () => {
    await expect(loadCifar10({ dir: SHARED, allowPartial: false })).rejects.toBeInstanceOf(MissingDataFilesError);
  });
});
