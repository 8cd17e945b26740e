import { parseTrainConfig, type TrainConfig } from '../../src/runtime/config/train-config.js';

/**
 * A validated config for tests: a tiny model on the cpu backend, no
 * augmentation, small batches. Tests name only what they are about; the
 * schema still validates the result, so a test cannot build a config that
 * the command line would refuse.
 */
export function testConfig(overrides: Partial<TrainConfig> & Pick<TrainConfig, 'dataDir' | 'outDir'>): TrainConfig {
  return parseTrainConfig({
    runId: 'test',
    workers: 1,
    model: 'tiny',
    epochs: 1,
    batchSize: 4,
    lr: 0.05,
    minLr: 0,
    warmupEpochs: 0,
    momentum: 0.9,
    weightDecay: 0,
    augment: 'none',
    mixupAlpha: 0,
    cutmixAlpha: 0,
    labelSmoothing: 0,
    download: false,
    allowPartial: true,
    limitTrain: null,
    limitTest: null,
    seed: 1,
    backend: 'cpu',
    evalBatchSize: 100,
    progress: 'log',
    syncEvery: 1,
    lrScaling: 'none',
    balance: 'equal',
    ...overrides,
  });
}
