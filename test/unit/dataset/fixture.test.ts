import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hwcIndex, writeCifar10Files } from '../../fixtures/cifar10-files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-cifar-fx-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeCifar10Files', () => {
  it('is deterministic for a seed and balanced per file', async () => {
    const a = await writeCifar10Files(join(dir, 'a'), { trainBatches: 1, perBatch: 30, testCount: 20, seed: 3 });
    const b = await writeCifar10Files(join(dir, 'b'), { trainBatches: 1, perBatch: 30, testCount: 20, seed: 3 });
    expect(await readFile(join(dir, 'a', 'data_batch_1.bin'))).toEqual(await readFile(join(dir, 'b', 'data_batch_1.bin')));
    expect(a.train.images).toEqual(b.train.images);
    const counts = new Array<number>(10).fill(0);
    for (const label of a.train.labels) counts[label] = (counts[label] ?? 0) + 1;
    expect(counts).toEqual(new Array<number>(10).fill(3));
    const c = await writeCifar10Files(join(dir, 'c'), { trainBatches: 1, perBatch: 30, testCount: 20, seed: 4 });
    expect(c.train.images).not.toEqual(a.train.images);
  });

  it("'learnable' images are separable by mean colour alone", async () => {
    const data = await writeCifar10Files(dir, { trainBatches: 1, perBatch: 50, testCount: 50, pattern: 'learnable' });
    const meanColour = (images: Uint8Array, n: number) =>
      [0, 1, 2].map((c) => {
        let sum = 0;
        for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) sum += images[hwcIndex(n, y, x, c)]!;
        return sum / 1024;
      });
    const centroids = Array.from({ length: 10 }, () => [0, 0, 0]);
    for (let n = 0; n < data.train.count; n++) {
      for (const [c, v] of meanColour(data.train.images, n).entries()) centroids[data.train.labels[n]!]![c]! += v / 5;
    }
    let correct = 0;
    for (let n = 0; n < data.test.count; n++) {
      const m = meanColour(data.test.images, n);
      const dist = centroids.map((cen) => cen.reduce((s, v, c) => s + (v - m[c]!) ** 2, 0));
      if (dist.indexOf(Math.min(...dist)) === data.test.labels[n]) correct++;
    }
    expect(correct).toBe(data.test.count);
  });
});
