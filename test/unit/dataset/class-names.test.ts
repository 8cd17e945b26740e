import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClassNamesError, STANDARD_CLASS_NAMES, loadCifar10, readClassNames } from '../../../src/dataset/index.js';
import { writeCifar10Files, writeClassNames } from '../../fixtures/cifar10-files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-cifar-meta-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('batches.meta.txt', () => {
  it('reads names in label order, ignoring blank lines and CRLF', async () => {
    const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    await writeFile(join(dir, 'batches.meta.txt'), `${names.join('\r\n')}\r\n\r\n`);
    expect(await readClassNames(dir)).toEqual(names);
  });

  it('falls back to the standard names when absent', async () => {
    await writeCifar10Files(dir, { trainBatches: 1, perBatch: 2, testCount: 2, classNames: null });
    const data = await loadCifar10({ dir, allowPartial: true });
    expect(data.classNames).toEqual([...STANDARD_CLASS_NAMES]);
    expect(data.classNames[0]).toBe('airplane');
    expect(data.classNames[9]).toBe('truck');
  });

  it('rejects a wrong number of names, naming the file', async () => {
    await writeCifar10Files(dir, { trainBatches: 1, perBatch: 2, testCount: 2 });
    const file = await writeClassNames(dir, ['cat', 'dog', 'bird']);
    const err = await loadCifar10({ dir, allowPartial: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClassNamesError);
    expect(err).toMatchObject({ file, count: 3, expected: 10 });
    expect((err as Error).message).toContain(file);
  });
});
