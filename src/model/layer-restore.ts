import * as tf from '@tensorflow/tfjs';
import { batchNorm } from './layers/batch-norm.js';
import { SeededDropout, seededDropoutLayers } from './layers/seeded-dropout.js';

/**
 * fleet's own layers save under stock tfjs class names (plain
 * tf.loadLayersModel must read our files), so the class is lost in
 * model.json. What each one was is kept in the model's user metadata, and
 * loadModelFiles uses it to bring back fleet's classes and their state.
 */
export type FleetLayerState = { kind: 'seeded-dropout'; seed: number | null; step: number } | { kind: 'batch-norm' };

type LayerClass = (new (args: Record<string, unknown>) => tf.layers.Layer) & { className?: string };

const RESTORED_BATCH_NORM = 'FleetBatchNorm';
let batchNormClasses: { fleet: LayerClass; restored: LayerClass | null } | undefined;

/**
 * fleet's BatchNorm class, and a registered subclass to load it as. When
 * batchNorm() is still the stock tfjs layer there is nothing to restore.
 * Resolved at first use: the class is model/layers/batch-norm.ts's business.
 */
function fleetBatchNorm(): { fleet: LayerClass; restored: LayerClass | null } {
  if (batchNormClasses) return batchNormClasses;
  const fleet = Object.getPrototypeOf(batchNorm()).constructor as LayerClass;
  const stock = Object.getPrototypeOf(tf.layers.batchNormalization({})).constructor as LayerClass;
  let restored: LayerClass | null = null;
  if (fleet !== stock) {
    class RestoredBatchNorm extends fleet {
      static override className = RESTORED_BATCH_NORM;
      override getClassName(): string {
        return 'BatchNormalization';
      }
    }
    tf.serialization.registerClass(RestoredBatchNorm as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
    restored = RestoredBatchNorm;
  }
  batchNormClasses = { fleet, restored };
  return batchNormClasses;
}

/** The fleet layers of `model` and their state, by layer name. */
export function describeFleetLayers(model: tf.LayersModel): Record<string, FleetLayerState> {
  const states: Record<string, FleetLayerState> = {};
  for (const layer of seededDropoutLayers(model)) states[layer.name] = { kind: 'seeded-dropout', seed: layer.seed, step: layer.step };
  const bn = fleetBatchNorm();
  if (bn.restored !== null) {
    for (const layer of model.layers) if (layer instanceof bn.fleet) states[layer.name] = { kind: 'batch-norm' };
  }
  return states;
}

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Point the stock class names of fleet layers in a parsed model.json topology at fleet's registered classes. */
export function rewriteTopology(modelTopology: unknown, states: Record<string, FleetLayerState>): void {
  const config = isObject(modelTopology) ? modelTopology.config : undefined;
  const layers = isObject(config) ? config.layers : undefined;
  if (!Array.isArray(layers)) return;
  for (const layer of layers) {
    if (!isObject(layer) || !isObject(layer.config)) continue;
    const state = states[String(layer.config.name)];
    if (state?.kind === 'seeded-dropout' && layer.class_name === 'Dropout') {
      layer.class_name = SeededDropout.className;
      layer.config.seed = state.seed;
    } else if (state?.kind === 'batch-norm' && layer.class_name === 'BatchNormalization' && fleetBatchNorm().restored !== null) {
      layer.class_name = RESTORED_BATCH_NORM;
    }
  }
}

/** Restore the state that does not live in the layer config (dropout step). */
export function applyLayerStates(model: tf.LayersModel, states: Record<string, FleetLayerState>): void {
  for (const layer of seededDropoutLayers(model)) {
    const state = states[layer.name];
    if (state?.kind === 'seeded-dropout') layer.reseed(state.seed, state.step);
  }
}
