import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { runFleet } from '../helpers/run-fleet.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-config-file-'));
  await writeCifar10Files(join(root, 'data'), { trainBatches: 1, perBatch: 64, testCount: 32, pattern: 'learnable', seed: 5 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A run.yaml as a user writes it (the flags' names in camelCase); changes replace or add lines. */
async function runYaml(name: string, changes: Record<string, string> = {}): Promise<string> {
  const lines: Record<string, string> = {
    workers: '1',
    model: 'tiny',
    epochs: '1',
    batchSize: '32',
    lr: '0.02',
    seed: '11',
    dataDir: JSON.stringify(join(root, 'data')),
    allowPartial: 'yes',
    backend: 'wasm',
    progress: 'log',
    ...changes,
  };
  const file = join(root, name);
  await writeFile(
    file,
    Object.entries(lines)
      .map(([k, v]) => `${k}: ${v}\n`)
      .join(''),
  );
  return file;
}

describe('fleet train --config run.yaml', () => {
  it('trains from the file; a flag given too wins over the file (config.json shows it)', async () => {
    const file = await runYaml('run.yaml');
    const fromFile = join(root, 'from-file');
    const overridden = join(root, 'overridden');
    const [a, b] = await Promise.all([
      runFleet(['train', '--config', file, '--out', fromFile]),
      runFleet(['train', '--config', file, '--out', overridden, '--batch-size', '16', '--seed', '12']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const configA = JSON.parse(await readFile(join(fromFile, 'config.json'), 'utf8')).config;
    const configB = JSON.parse(await readFile(join(overridden, 'config.json'), 'utf8')).config;
    expect(configA).toMatchObject({ model: 'tiny', epochs: 1, batchSize: 32, seed: 11, allowPartial: true });
    expect(configB).toMatchObject({ model: 'tiny', epochs: 1, batchSize: 16, seed: 12 });
    expect((await readFile(join(fromFile, 'metrics.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(1);
  });

  it('a FLEET_ variable wins over the file, and the flag over the variable', async () => {
    const file = await runYaml('env.yaml');
    const out = join(root, 'env');
    const r = await runFleet(['train', '--config', file, '--out', out, '--lr', '0.01'], { env: { FLEET_LR: '0.05', FLEET_SEED: '13' } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).config).toMatchObject({ lr: 0.01, seed: 13 });
  });

  it('a wrong key in the file exits 2 naming the file and the key, and writes no run directory', async () => {
    const cases = [
      { name: 'unknown.yaml', key: 'batchsize', value: '64' },
      { name: 'bad-value.yaml', key: 'epochs', value: 'many' },
      { name: 'out-of-range.yaml', key: 'momentum', value: '1.5' },
      { name: 'bad-boolean.yaml', key: 'download', value: 'perhaps' },
    ];
    const results = await Promise.all(
      cases.map(async ({ name, key, value }) => {
        const file = await runYaml(name, { [key]: value });
        const out = join(root, `refused-${name}`);
        return { file, key, out, result: await runFleet(['train', '--config', file, '--out', out], { timeoutMs: 30_000 }) };
      }),
    );
    for (const { file, key, out, result } of results) {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`${file}: ${key}`);
      await expect(stat(out)).rejects.toThrow(/ENOENT/);
    }
  });
});
