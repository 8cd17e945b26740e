import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/model/index.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { logLines, runFleet } from '../helpers/run-fleet.js';
import { formulaTensors, readTorchReference } from '../unit/model/torch-formula.js';

let root: string;
let resnet18File: string;
let resnet34File: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-pretrained-cli-'));
  await writeCifar10Files(join(root, 'data'), { trainBatches: 1, perBatch: 64, testCount: 32, pattern: 'learnable', seed: 3 });
  resnet18File = join(root, 'resnet18.safetensors');
  resnet34File = join(root, 'resnet34.safetensors');
  writeSafetensors(resnet18File, formulaTensors(readTorchReference('resnet18')));
  writeSafetensors(resnet34File, formulaTensors(readTorchReference('resnet34')));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const train = (out: string, model: string, pretrained: string) => [
  'train',
  '--workers',
  '1',
  '--model',
  model,
  '--pretrained',
  pretrained,
  '--epochs',
  '1',
  '--batch-size',
  '32',
  '--data-dir',
  join(root, 'data'),
  '--allow-partial',
  '--backend',
  'wasm',
  '--progress',
  'log',
  '--out',
  out,
];

describe('fleet train --pretrained', () => {
  it.each([
    ['a missing file', 'resnet18', 'missing.safetensors', /--pretrained "missing.safetensors": no such file/],
    ['a model without ImageNet weights', 'tiny', 'RESNET18', /--pretrained .*: needs --model resnet18 or resnet34, not tiny/],
  ])('refuses %s with exit 2 before anything is written', async (_case, model, file, message) => {
    const out = join(root, `refused-${model}`);
    const result = await runFleet(train(out, model, file === 'RESNET18' ? resnet18File : file));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a resnet34 file for --model resnet18 with exit 2 before anything is written, listing the tensors that do not fit', async () => {
    const out = join(root, 'r34');
    const result = await runFleet(train(out, 'resnet18', resnet34File));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('does not fit --model resnet18');
    expect(result.stderr).toContain('80 mismatches');
    expect(result.stderr).toContain('unexpected layer3.5.bn2.running_var [256]');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a truncated file with exit 2 before anything is written', async () => {
    const truncated = join(root, 'truncated.safetensors');
    await writeFile(truncated, (await readFile(resnet18File)).subarray(0, 4096));
    const out = join(root, 'truncated');
    const result = await runFleet(train(out, 'resnet18', truncated));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /--pretrained ".*truncated.safetensors": bad-header-length: header length \d+ runs past the end of the file \(4096 bytes\)/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('loads torchvision weights into resnet18 with the CIFAR stem (conv1 and fc skipped) and trains', async () => {
    const result = await runFleet(train(join(root, 'ok'), 'resnet18', resnet18File));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const loaded = logLines(result.stdout).find((l) => l.msg === 'pretrained weights loaded');
    // 102 tensors besides num_batches_tracked, less conv1.weight, fc.weight and fc.bias.
    expect(loaded).toMatchObject({ pretrained: resnet18File, loaded: 99, skipped: ['conv1.weight', 'fc.weight', 'fc.bias'] });
  });
});
