import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Cifar10FileSizeError,
  Cifar10OptionError,
  InvalidLabelError,
  MissingDataFilesError,
  loadCifar10,
  loadCifar10Split,
} from '../../../src/dataset/index.js';
import { hwcIndex, recordOffset, setLabelByte, truncateFile, writeCifar10Files } from '../../fixtures/cifar10-files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-cifar-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadCifar10Split', () => {
  it('converts a hand-written CHW record to HWC exactly', async () => {
    // Two records built byte by byte, independent of the fixture's encoder.
    const record = (label: number, fill: (plane: number, y: number, x: number) => number) => {
      const bytes = new Uint8Array(3073);
      bytes[0] = label;
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) bytes[1 + c * 1024 + y * 32 + x] = fill(c, y, x);
      return bytes;
    };
    const first = record(7, () => 0);
    first[1 + 0 * 1024 + 2 * 32 + 5] = 11; // R at row 2, column 5
    first[1 + 1 * 1024 + 2 * 32 + 5] = 22; // G
    first[1 + 2 * 1024 + 2 * 32 + 5] = 33; // B
    first[1 + 2 * 1024 + 31 * 32 + 31] = 99; // B, bottom-right
    const second = record(3, (c, y, x) => (c * 100 + y + x) % 256);
    await writeFile(join(dir, 'test_batch.bin'), Buffer.concat([first, second]));

    const split = await loadCifar10Split({ dir, split: 'test', allowPartial: false });
    expect(split.count).toBe(2);
    expect(Array.from(split.labels)).toEqual([7, 3]);
    expect(split.images).toBeInstanceOf(Uint8Array);
    expect(split.images.length).toBe(2 * 32 * 32 * 3);
    expect(split.images[(2 * 32 + 5) * 3 + 0]).toBe(11);
    expect(split.images[(2 * 32 + 5) * 3 + 1]).toBe(22);
    expect(split.images[(2 * 32 + 5) * 3 + 2]).toBe(33);
    expect(split.images[(31 * 32 + 31) * 3 + 2]).toBe(99);
    expect(split.images.subarray(0, 3072).reduce((a, b) => a + b, 0)).toBe(11 + 22 + 33 + 99);
    for (const [y, x, c] of [
      [0, 0, 0],
      [4, 9, 1],
      [31, 30, 2],
    ] as const) {
      expect(split.images[3072 + (y * 32 + x) * 3 + c]).toBe((c * 100 + y + x) % 256);
    }
    expect(split.files).toEqual([join(dir, 'test_batch.bin')]);
  });

  it('round-trips fixture files across all five train batches', async () => {
    const data = await writeCifar10Files(dir, { trainBatches: 5, perBatch: 7, testCount: 9, seed: 42 });
    const train = await loadCifar10Split({ dir, split: 'train', allowPartial: false });
    expect(train.count).toBe(35);
    expect(train.labels).toEqual(data.train.labels);
    expect(train.images).toEqual(data.train.images);
    expect(train.files.map((f) => f.slice(dir.length + 1))).toEqual([1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`));
    const test = await loadCifar10Split({ dir, split: 'test', allowPartial: false });
    expect(test.count).toBe(9);
    expect(test.images).toEqual(data.test.images);
    expect(test.images[hwcIndex(8, 31, 31, 2)]).toBe(data.test.images[hwcIndex(8, 31, 31, 2)]);
  });

  it('reports a truncated file with its size and the partial record', async () => {
    await writeCifar10Files(dir, { trainBatches: 1, perBatch: 3, testCount: 4 });
    const file = join(dir, 'test_batch.bin');
    await truncateFile(file, 1000); // 4 * 3073 - 1000 = 11292 bytes: 3 records + 2073
    const err = await loadCifar10Split({ dir, split: 'test', allowPartial: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Cifar10FileSizeError);
    const e = err as Cifar10FileSizeError;
    expect(e).toMatchObject({ file, size: 11292, records: 3, trailingBytes: 2073 });
    expect(e.message).toContain(file);
    expect(e.message).toContain('11,292 bytes');
    expect(e.message).toContain('partial record 3 of 2,073 bytes at offset 9,219');
  });

  it('rejects an empty file', async () => {
    await writeFile(join(dir, 'test_batch.bin'), new Uint8Array(0));
    await expect(loadCifar10Split({ dir, split: 'test', allowPartial: false })).rejects.toThrow(/test_batch\.bin is empty/);
  });

  it('names file, record, offset and value of a bad label', async () => {
    await writeCifar10Files(dir, { trainBatches: 2, perBatch: 5, testCount: 1 });
    const file = join(dir, 'data_batch_2.bin');
    await setLabelByte(file, 3, 10);
    const err = await loadCifar10Split({ dir, split: 'train', allowPartial: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidLabelError);
    expect(err).toMatchObject({ file, record: 3, offset: recordOffset(3), value: 10 });
    const message = (err as Error).message;
    expect(message).toContain(file);
    expect(message).toContain('record 3');
    expect(message).toContain('byte offset 9,219');
    expect(message).toContain('label byte is 10');
  });

  it('requires all five train batches unless allowPartial', async () => {
    await writeCifar10Files(dir, { trainBatches: 2, perBatch: 4, testCount: 2 });
    const err = await loadCifar10Split({ dir, split: 'train', allowPartial: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingDataFilesError);
    expect(err).toMatchObject({ dir, split: 'train', missing: ['data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] });
    const message = (err as Error).message;
    expect(message).toContain(dir);
    expect(message).toContain('data_batch_3.bin, data_batch_4.bin, data_batch_5.bin');
    expect(message).toContain('fleet data download');
    // A setting of the run: the worker, which loads train too, has no such flag.
    expect(message).toContain(
      "start the run with --allow-partial (fleet train or fleet coordinator; workers follow the coordinator's setting)",
    );

    const partial = await loadCifar10Split({ dir, split: 'train', allowPartial: true });
    expect(partial.count).toBe(8);
    expect(partial.files).toHaveLength(2);
  });

  it('uses non-consecutive batches with allowPartial', async () => {
    const data = await writeCifar10Files(dir, { trainBatches: 3, perBatch: 2, testCount: 1 });
    await rm(join(dir, 'data_batch_2.bin'));
    const split = await loadCifar10Split({ dir, split: 'train', allowPartial: true });
    expect(split.count).toBe(4);
    expect(split.labels).toEqual(Uint8Array.from([...data.train.labels.subarray(0, 2), ...data.train.labels.subarray(4, 6)]));
  });

  it('fails clearly with allowPartial when no train batch exists', async () => {
    await writeCifar10Files(dir, { trainBatches: 0, perBatch: 1, testCount: 2 });
    await expect(loadCifar10Split({ dir, split: 'train', allowPartial: true })).rejects.toThrow(
      /CIFAR-10 data missing in .*: the train split needs data_batch_1\.bin, .*data_batch_5\.bin, not found\. Put /,
    );
  });

  it('requires test_batch.bin even with allowPartial', async () => {
    await writeCifar10Files(dir, { trainBatches: 1, perBatch: 2, testCount: 0 });
    const err = await loadCifar10Split({ dir, split: 'test', allowPartial: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingDataFilesError);
    expect((err as Error).message).toContain('test_batch.bin');
    // No partial way out for the test split: the hint does not offer one.
    expect((err as Error).message).not.toContain('--allow-partial');
  });

  it('takes the first `limit` records, across files', async () => {
    const data = await writeCifar10Files(dir, { trainBatches: 3, perBatch: 4, testCount: 5 });
    const split = await loadCifar10Split({ dir, split: 'train', allowPartial: true, limit: 6 });
    expect(split.count).toBe(6);
    expect(split.labels).toEqual(data.train.labels.subarray(0, 6));
    expect(split.images).toEqual(data.train.images.subarray(0, 6 * 3072));
    expect(split.files).toHaveLength(2); // the third file is not read at all
    const all = await loadCifar10Split({ dir, split: 'test', allowPartial: false, limit: 1000 });
    expect(all.count).toBe(5);
  });

  it('rejects a limit below 1 or not an integer', async () => {
    await writeCifar10Files(dir, { trainBatches: 1, perBatch: 2, testCount: 2 });
    for (const limit of [0, -3, 1.5, Number.NaN]) {
      await expect(loadCifar10Split({ dir, split: 'test', allowPartial: false, limit })).rejects.toBeInstanceOf(Cifar10OptionError);
    }
  });

  it('accepts the parent folder holding cifar-10-batches-bin/', async () => {
    const data = await writeCifar10Files(dir, { trainBatches: 1, perBatch: 3, testCount: 2, layout: 'nested' });
    expect(data.batchesDir).toBe(join(dir, 'cifar-10-batches-bin'));
    const split = await loadCifar10Split({ dir, split: 'train', allowPartial: true });
    expect(split.images).toEqual(data.train.images);
    expect(split.files[0]).toBe(join(dir, 'cifar-10-batches-bin', 'data_batch_1.bin'));
  });

  it('names the expected folder when the parent form is empty', async () => {
    await mkdir(join(dir, 'cifar-10-batches-bin'));
    await expect(loadCifar10Split({ dir, split: 'test', allowPartial: false })).rejects.toThrow(`${join(dir, 'cifar-10-batches-bin')}`);
  });
});

describe('loadCifar10', () => {
  it('returns both splits and the class names, with limits', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    const data = await writeCifar10Files(dir, { trainBatches: 2, perBatch: 10, testCount: 6, classNames: names, layout: 'nested' });
    const loaded = await loadCifar10({ dir, allowPartial: true, limitTrain: 15, limitTest: 4 });
    expect(loaded.classNames).toEqual(names);
    expect(loaded.train.count).toBe(15);
    expect(loaded.test.count).toBe(4);
    expect(loaded.train.labels).toEqual(data.train.labels.subarray(0, 15));
    expect(loaded.test.images).toEqual(data.test.images.subarray(0, 4 * 3072));
  });

  it('fails on a missing test file before decoding train', async () => {
    await writeCifar10Files(dir, { trainBatches: 5, perBatch: 1, testCount: 0 });
    await expect(loadCifar10({ dir, allowPartial: false })).rejects.toMatchObject({ split: 'test', missing: ['test_batch.bin'] });
  });
});
