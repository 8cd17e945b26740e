import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandTrials } from '../../services/sweep/search-space.js';
import { loadSweepSpec } from '../../services/sweep/sweep-spec.js';
import { readSweepRecord } from '../../src/training/run-record/sweep-record.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { runFleet } from '../helpers/run-fleet.js';

/**
 * Every spec in examples/ runs at a smoke scale: its quick scale with the
 * tiny model on 200 images for one epoch (the --set overrides win over the
 * spec, its variants and ablation), 2 trials at a time, every trial
 * finished. A spec that `requires` a feature fleet train does not have yet
 * is not run: the sweep refuses it with that text (exit 2), as tested here.
 */

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const SMOKE = [
  '--scale',
  'quick',
  '--set',
  'model=tiny',
  '--set',
  'limitTrain=200',
  '--set',
  'limitTest=100',
  '--set',
  'epochs=1',
  '--set',
  'batchSize=32',
  '--set',
  'allowPartial=true',
  '--set',
  'backend=wasm',
  '--parallel',
  '2',
  // The largest quick scale has 6 trials: all of them run.
  '--max-trials',
  '6',
];

const specs = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml')).sort();

let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-sweep-examples-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 200, testCount: 100, pattern: 'learnable', seed: 5 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('examples/*.yaml at smoke scale', () => {
  it('are the five exercises', () => {
    expect(specs).toHaveLength(5);
  });

  for (const name of specs) {
    const file = join(EXAMPLES, name);
    it(`${name} parses and runs (or, when it requires a feature, is refused with that text)`, async () => {
      const spec = await loadSweepSpec(file, { scale: 'quick' });
      const out = join(root, name.replace(/\.yaml$/, ''));
      const run = await runFleet(['sweep', file, '--out', out, '--data-dir', dataDir, ...SMOKE], { timeoutMs: 60_000 });
      if (spec.requires !== null) {
        // Skipped at smoke scale: it cannot run until the feature it names lands.
        console.info(`skipped ${name}: requires ${spec.requires}`);
        expect(run.code).toBe(2);
        expect(run.stderr).toContain(spec.requires.slice(0, 60));
        expect(existsSync(out)).toBe(false);
        return;
      }
      expect(run.code, `${run.stderr}\n${run.stdout.slice(-3000)}`).toBe(0);
      const record = await readSweepRecord(out);
      expect(record.trials).toHaveLength(Math.min(6, expandTrials(spec).length));
      expect(record.trials.map((t) => `${t.id} ${t.status} ${t.error ?? ''}`)).toEqual(record.trials.map((t) => `${t.id} finished `));
      for (const f of ['results.csv', 'results.md', 'best.yaml']) expect(existsSync(join(out, f)), f).toBe(true);
    });
  }
});
