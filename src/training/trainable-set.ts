import type * as tf from '@tensorflow/tfjs';
import type { WeightSlice } from './flat-weights.js';
import { learningRateAt } from './lr-schedule.js';

/** The run keys that decide what trains when (a subset of RunConfig). */
export interface FreezeConfig {
  freezeEpochs: number;
  trainBn: boolean;
  fineTuneLr: number | null;
}

/**
 * Which phase an epoch (1-based) is in: a pure function of the run config and
 * the epoch, so a resumed run (mid-freeze or after) picks the same phase
 * without saving it.
 */
export type FreezePhase = 'frozen' | 'fine-tune';

export function freezePhaseOf(config: FreezeConfig, epoch: number): FreezePhase {
  return epoch <= config.freezeEpochs ? 'frozen' : 'fine-tune';
}

/**
 * What a step trains in a phase: the variables that get gradients and the
 * mode the model is called in. In the frozen phase the model runs in
 * inference mode (BatchNorm normalises with its moving statistics and does
 * not update them, dropout is off), so frozen layers are bit-identical
 * before and after it; with --train-bn BatchNorm gammas and betas train as
 * well, and then the model runs in training mode (batch statistics; the
 * moving statistics update, as they belong to the layers that train).
 */
export interface TrainableSet {
  phase: FreezePhase;
  params: Map<string, tf.Variable>;
  training: boolean;
}

export function trainableSetFor(
  model: tf.LayersModel,
  all: ReadonlyMap<string, tf.Variable>,
  config: FreezeConfig,
  epoch: number,
): TrainableSet {
  const phase = freezePhaseOf(config, epoch);
  if (phase === 'fine-tune') return { phase, params: new Map(all), training: true };
  const names = new Set(headVariableNames(model));
  if (config.trainBn) for (const name of batchNormVariableNames(model)) names.add(name);
  const params = new Map([...all].filter(([name]) => names.has(name)));
  return { phase, params, training: config.trainBn };
}

/** The head: the trainable variables of the model's last Dense layer (its logits). */
export function headVariableNames(model: tf.LayersModel): string[] {
  const dense = model.layers.filter((layer) => layer.getClassName() === 'Dense');
  const head = dense[dense.length - 1];
  if (!head) throw new TypeError(`model ${model.name} has no Dense layer to train as its head`);
  return head.trainableWeights.map((w) => (w.read() as tf.Variable).name);
}

/** BatchNorm gammas and betas (not the moving statistics, which are not trainable). */
export function batchNormVariableNames(model: tf.LayersModel): string[] {
  return model.layers
    .filter((layer) => layer.getClassName() === 'BatchNormalization')
    .flatMap((layer) => layer.trainableWeights.map((w) => (w.read() as tf.Variable).name));
}

/** The schedule's inputs that do not depend on the phase. */
export interface PhasedSchedule {
  /** The run's peak lr (after --lr-scaling). */
  peakLr: number;
  /** --fine-tune-lr after the same scaling, or null. */
  fineTuneLr: number | null;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
  stepsPerEpoch: number;
  freezeEpochs: number;
}

/**
 * The learning rate of 0-based global step `step`. Without --fine-tune-lr the
 * run keeps one warm-up + cosine over all its steps, across the phase change.
 * With it the run is re-planned as two schedules: the frozen steps warm up
 * and anneal from the peak lr to min-lr on their own, and the fine-tuning
 * steps start again from their first step with a warm-up to --fine-tune-lr
 * (min(the run's warm-up steps, a fifth of the remaining steps)) and a cosine
 * to min-lr at the run's last step. A pure function of the step, like the
 * single schedule, so a resume lands on the same rate.
 */
export function phasedLearningRate(step: number, s: PhasedSchedule): number {
  const single = { baseLr: s.peakLr, minLr: s.minLr, warmupSteps: s.warmupSteps, totalSteps: s.totalSteps };
  if (s.fineTuneLr === null || s.freezeEpochs === 0) return learningRateAt(step, single);
  const frozenSteps = s.freezeEpochs * s.stepsPerEpoch;
  if (step < frozenSteps) {
    return learningRateAt(step, { ...single, warmupSteps: Math.min(s.warmupSteps, Math.floor(frozenSteps / 5)), totalSteps: frozenSteps });
  }
  const remaining = s.totalSteps - frozenSteps;
  return learningRateAt(step - frozenSteps, {
    baseLr: s.fineTuneLr,
    minLr: s.minLr,
    warmupSteps: Math.min(s.warmupSteps, Math.floor(remaining / 5)),
    totalSteps: remaining,
  });
}

/**
 * The slices of the flat layout a round exchanges in an epoch, repacked from
 * offset 0 (the tensor-set layout of contributions): every slice when every
 * layer trains; in the frozen phase the head's, and with --train-bn the
 * BatchNorm layers' (gammas, betas and the moving statistics their training
 * mode updates). Frozen tensors do not change, so they are neither sent nor
 * averaged nor updated. A pure function of (model, config, epoch): the
 * coordinator and the workers agree on it without a message.
 */
export function exchangeSlices(model: tf.LayersModel, layout: readonly WeightSlice[], config: FreezeConfig, epoch: number): WeightSlice[] {
  if (freezePhaseOf(config, epoch) === 'fine-tune') return [...layout];
  const names = new Set<string>();
  const dense = model.layers.filter((layer) => layer.getClassName() === 'Dense');
  for (const w of dense[dense.length - 1]?.weights ?? []) names.add(w.originalName);
  if (config.trainBn) {
    for (const layer of model.layers)
      if (layer.getClassName() === 'BatchNormalization') for (const w of layer.weights) names.add(w.originalName);
  }
  let offset = 0;
  return layout
    .filter((slice) => names.has(slice.name))
    .map((slice) => {
      const packed = { ...slice, offset };
      offset += slice.length;
      return packed;
    });
}
