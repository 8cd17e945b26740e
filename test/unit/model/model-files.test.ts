import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  buildModel,
  loadModelFiles,
  ModelFilesError,
  readModelJson,
  readModelMeta,
  saveModelFiles,
  SeededDropout,
} from '../../../src/model/index.js';
import { writeFileAtomic } from '../../../src/runtime/atomic-file.js';
import { batchNorm } from '../../../src/model/layers/batch-norm.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-model-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const input = (): tf.Tensor4D => tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 17) as tf.Tensor4D;

function predict(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

/** A bare file-reading IOHandler: what any plain tfjs user would write, no fleet code involved. */
function plainFileHandler(folder: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const bytes = await readFile(join(folder, manifest[0]!.paths[0]!));
        return [tf.io.getWeightSpecs(manifest), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)];
      });
    },
  };
}

/** Perturb BN running stats so the round trip also covers non-trainable weights. */
function perturbBatchNormStats(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (!layer.name.includes('_bn')) continue;
    layer.setWeights(layer.getWeights().map((w, i) => tf.add(w, tf.randomUniform(w.shape, 0, 0.5, 'float32', i + 1))));
  }
}

describe('model files', () => {
  it('writes a valid tfjs layers-model folder', async () => {
    const model = buildModel({ name: 'tiny-bn', seed: 1 });
    await saveModelFiles(model, join(dir, 'm'), { epoch: 3 });
    expect((await readdir(join(dir, 'm'))).sort()).toEqual(['meta.json', 'model.json', 'weights.bin']);
    const json = JSON.parse(await readFile(join(dir, 'm', 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.generatedBy).toMatch(/^TensorFlow\.js tfjs-layers v4\./);
    expect(json.convertedBy).toBeNull();
    expect(json.userDefinedMetadata.fleet.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(json.modelTopology.config.layers.map((l: { name: string }) => l.name)).toContain('bn1');
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    const specs = json.weightsManifest[0].weights as Array<{ name: string; shape: number[]; dtype: string }>;
    expect(specs.map((s) => s.name)).toEqual(model.weights.map((w) => w.originalName));
    const floats = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    expect((await readFile(join(dir, 'm', 'weights.bin'))).byteLength).toBe(4 * floats);
    expect(await readModelMeta(join(dir, 'm'))).toEqual({ epoch: 3 });
    expect(await readModelMeta(dir)).toBeUndefined();
    model.dispose();
  });

  it('save -> loadModelFiles round trip gives identical predictions (cnn, eval mode)', async () => {
    const model = buildModel({ name: 'cnn', seed: 21 });
    perturbBatchNormStats(model);
    await saveModelFiles(model, dir);
    const loaded = await loadModelFiles(dir);
    const x = input();
    expect(predict(loaded, x)).toEqual(predict(model, x));
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    // dropout comes back as the seeded layer, same seeds
    const seeds = (m: tf.LayersModel): Array<number | null> =>
      m.layers.filter((l): l is SeededDropout => l instanceof SeededDropout).map((l) => l.seed);
    expect(seeds(loaded)).toHaveLength(4);
    expect(seeds(loaded)).toEqual(seeds(model));
    // BatchNorm comes back as fleet's class too (whatever model/layers/batch-norm.ts makes it)
    const fleetBatchNorm = Object.getPrototypeOf(batchNorm()).constructor as new (...args: never[]) => tf.layers.Layer;
    expect(loaded.getLayer('block2_bn1')).toBeInstanceOf(fleetBatchNorm);
    expect(loaded.getLayer('block2_bn1').getClassName()).toBe('BatchNormalization');
    x.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('reloads with plain tf.loadLayersModel, no fleet code, as stock layers (resnet)', async () => {
    const model = buildModel({ name: 'resnet', seed: 8 });
    perturbBatchNormStats(model);
    await saveModelFiles(model, dir);
    const loaded = await tf.loadLayersModel(plainFileHandler(dir));
    const x = input();
    expect(predict(loaded, x)).toEqual(predict(model, x));
    x.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('a plain tfjs load of cnn gets stock Dropout with the channel noise shape', async () => {
    const model = buildModel({ name: 'cnn', seed: 2, inputShape: [8, 8, 3] });
    await saveModelFiles(model, dir);
    const topology = JSON.stringify((await readModelJson(dir)).modelTopology);
    expect(topology).not.toContain('SeededDropout');
    expect(topology).not.toContain('FleetBatchNorm');
    const loaded = await tf.loadLayersModel(plainFileHandler(dir));
    const drop = loaded.getLayer('block1_dropout');
    expect(drop).not.toBeInstanceOf(SeededDropout);
    expect(drop.getClassName()).toBe('Dropout');
    expect(drop.getConfig().noiseShape).toEqual([null, 1, 1, null]);
    model.dispose();
    loaded.dispose();
  });

  it('loadModelFiles restores the dropout streams where they were (seed and step)', async () => {
    const model = buildModel({ name: 'cnn', seed: 2, inputShape: [8, 8, 3] });
    tf.tidy(() => model.apply(tf.ones([1, 8, 8, 3]), { training: true }) as tf.Tensor);
    const original = model.getLayer('fc1_dropout') as SeededDropout;
    expect(original.step).toBe(1);
    await saveModelFiles(model, dir);
    const restored = (await loadModelFiles(dir)).getLayer('fc1_dropout') as SeededDropout;
    expect(restored).toBeInstanceOf(SeededDropout);
    expect([restored.seed, restored.step]).toEqual([original.seed, 1]);
    const next = (layer: SeededDropout): Float32Array =>
      tf.tidy(() => (layer.apply(tf.ones([2, 512]), { training: true }) as tf.Tensor).dataSync() as Float32Array);
    expect(next(restored)).toEqual(next(original));
    model.dispose();
  });

  it('saving again over a folder replaces the model', async () => {
    const a = buildModel({ name: 'tiny', seed: 1 });
    const b = buildModel({ name: 'tiny', seed: 2 });
    await saveModelFiles(a, dir);
    await saveModelFiles(b, dir);
    const loaded = await loadModelFiles(dir);
    const x = input();
    expect(predict(loaded, x)).toEqual(predict(b, x));
    expect(await readdir(dir)).toEqual(expect.not.arrayContaining([expect.stringMatching(/\.tmp$/)]));
    tf.dispose([x]);
    for (const m of [a, b, loaded]) m.dispose();
  });

  it('an interrupted save (temp files left behind) does not corrupt the previous files', async () => {
    const a = buildModel({ name: 'tiny', seed: 1 });
    const b = buildModel({ name: 'tiny', seed: 2 });
    await saveModelFiles(a, dir, { epoch: 1 });
    const before = await Promise.all(['model.json', 'weights.bin', 'meta.json'].map((f) => readFile(join(dir, f))));
    // A crash mid-save of b: its weights fully written to a temp file, model.json torn, nothing renamed yet.
    const bDir = join(dir, 'b');
    await saveModelFiles(b, bDir);
    await writeFile(join(dir, `.weights.bin.${process.pid}.deadbeef.tmp`), await readFile(join(bDir, 'weights.bin')));
    await writeFile(join(dir, `.model.json.${process.pid}.deadbeef.tmp`), '{"modelTopol');
    const after = await Promise.all(['model.json', 'weights.bin', 'meta.json'].map((f) => readFile(join(dir, f))));
    expect(after).toEqual(before);
    const loaded = await loadModelFiles(dir);
    const x = input();
    expect(predict(loaded, x)).toEqual(predict(a, x));
    expect(await readModelMeta(dir)).toEqual({ epoch: 1 });
    // and the next save still succeeds over the leftovers
    await saveModelFiles(b, dir, { epoch: 2 });
    const reloaded = await loadModelFiles(dir);
    expect(predict(reloaded, x)).toEqual(predict(b, x));
    x.dispose();
    for (const m of [a, b, loaded, reloaded]) m.dispose();
  });

  it('a crash between the weights and model.json renames is detected, not loaded as a mix', async () => {
    const a = buildModel({ name: 'tiny', seed: 1 });
    const b = buildModel({ name: 'tiny', seed: 2 });
    await saveModelFiles(a, dir);
    await saveModelFiles(b, join(dir, 'b'));
    // weights.bin of b committed, model.json still a's (same shapes, so tfjs alone would load it silently)
    await writeFileAtomic(join(dir, 'weights.bin'), await readFile(join(dir, 'b', 'weights.bin')));
    await expect(loadModelFiles(dir)).rejects.toMatchObject({ name: 'ModelFilesError', problem: 'checksum-mismatch' });
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(8));
    await expect(loadModelFiles(dir)).rejects.toMatchObject({ problem: 'size-mismatch' });
    a.dispose();
    b.dispose();
  });

  it('reports missing or malformed files with ModelFilesError', async () => {
    await expect(loadModelFiles(dir)).rejects.toMatchObject({ problem: 'missing-file', file: join(dir, 'model.json') });
    await writeFile(join(dir, 'model.json'), '{not json');
    await expect(loadModelFiles(dir)).rejects.toBeInstanceOf(ModelFilesError);
    await writeFile(join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }));
    await expect(loadModelFiles(dir)).rejects.toMatchObject({ problem: 'bad-format' });
    await writeFile(
      join(dir, 'model.json'),
      JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../secret.bin'], weights: [] }] }),
    );
    await expect(loadModelFiles(dir)).rejects.toMatchObject({ problem: 'bad-manifest-path' });
    const model = buildModel({ name: 'tiny', seed: 1 });
    await saveModelFiles(model, dir);
    await rm(join(dir, 'weights.bin'));
    await expect(loadModelFiles(dir)).rejects.toMatchObject({ problem: 'missing-file', file: join(dir, 'weights.bin') });
    model.dispose();
  });
});
