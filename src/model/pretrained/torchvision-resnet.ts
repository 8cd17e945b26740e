import * as tf from '@tensorflow/tfjs';
import { readSafetensors, type SafetensorsFile } from '../safetensors/read-safetensors.js';
import { fitTorchvisionTensors, isStepCounter, type PretrainedImportOptions } from './torchvision-fit.js';

export type { PretrainedImportOptions } from './torchvision-fit.js';
import { PretrainedWeightsError } from './errors.js';

/** How a torchvision tensor becomes one of a fleet layer's weights. */
interface TensorTarget {
  /** torchvision state_dict name. */
  name: string;
  layer: tf.layers.Layer;
  /** Index into layer.weights. */
  weight: number;
  /** Shape in torchvision's layout. */
  torchShape: number[];
  /** Permutation from torchvision's layout to fleet's (absent: same layout). */
  perm?: number[];
}

export interface PretrainedImportReport {
  /** torchvision names loaded into the model. */
  loaded: string[];
  /** torchvision names present but left out (the adaptation replaces them; num_batches_tracked). */
  skipped: string[];
}

const BN_WEIGHTS: Record<string, string> = { gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var' };

/** torchvision module name of a fleet ResNet layer (resnet.ts naming), or undefined. */
export function torchvisionModuleName(layerName: string): string | undefined {
  if (layerName === 'stem_conv') return 'conv1';
  if (layerName === 'stem_bn') return 'bn1';
  if (layerName === 'fc') return 'fc';
  const m = /^stage(\d+)_block(\d+)_(conv1|conv2|bn1|bn2|shortcut_conv|shortcut_bn)$/.exec(layerName);
  if (m === null) return undefined;
  const part = m[3] === 'shortcut_conv' ? 'downsample.0' : m[3] === 'shortcut_bn' ? 'downsample.1' : m[3];
  return `layer${m[1]}.${Number(m[2]) - 1}.${part}`;
}

/** Every torchvision tensor the model's layers take, with layout conversions. */
function targets(model: tf.LayersModel): TensorTarget[] {
  const out: TensorTarget[] = [];
  for (const layer of model.layers) {
    const module = torchvisionModuleName(layer.name);
    if (module === undefined) continue;
    layer.weights.forEach((w, i) => {
      const leaf = (w.originalName.split('/').pop() ?? '').replace(/_\d+$/, '');
      const shape = w.shape as number[];
      if (leaf === 'kernel' && shape.length === 4) {
        // HWIO <- OIHW
        out.push({
          name: `${module}.weight`,
          layer,
          weight: i,
          torchShape: [shape[3], shape[2], shape[0], shape[1]] as number[],
          perm: [2, 3, 1, 0],
        });
      } else if (leaf === 'kernel' && shape.length === 2) {
        out.push({ name: `${module}.weight`, layer, weight: i, torchShape: [shape[1], shape[0]] as number[], perm: [1, 0] });
      } else if (leaf === 'bias') {
        out.push({ name: `${module}.bias`, layer, weight: i, torchShape: shape });
      } else if (Object.hasOwn(BN_WEIGHTS, leaf)) {
        out.push({ name: `${module}.${BN_WEIGHTS[leaf]}`, layer, weight: i, torchShape: shape });
      } else {
        throw new TypeError(`${layer.name}: weight ${w.name} has no torchvision counterpart`);
      }
    });
  }
  return out;
}

/**
 * Loads torchvision ResNet weights (resnet18/resnet34 state_dict names) from
 * a safetensors file into a fleet resnet18/resnet34 built by buildModel.
 * Convolutions go OIHW -> HWIO, fc [out, in] -> [in, out]; BatchNorm's
 * gamma/beta/running statistics map one to one (fleet's BatchNorm eps is
 * torchvision's 1e-5); num_batches_tracked is ignored. The file must hold
 * exactly the model's tensors (skipped ones may be absent): otherwise
 * PretrainedWeightsError lists every missing, unexpected and mis-shaped one,
 * before any weight is changed.
 */
export function loadTorchvisionResNet(model: tf.LayersModel, file: string, options: PretrainedImportOptions = {}): PretrainedImportReport {
  // BatchNorm's step counter is int64 in torchvision's files and means nothing here.
  return applyTorchvisionResNet(model, readSafetensors(file, { ignore: isStepCounter }), file, options);
}

export function applyTorchvisionResNet(
  model: tf.LayersModel,
  weights: SafetensorsFile,
  file: string,
  options: PretrainedImportOptions = {},
): PretrainedImportReport {
  const all = targets(model);
  const { isSkipped, skipped, mismatches } = fitTorchvisionTensors(
    all.map((t) => ({ name: t.name, shape: t.torchShape })),
    weights.tensors,
    options,
  );
  if (mismatches.length > 0) throw new PretrainedWeightsError(file, model.name, mismatches);
  const wanted = all.filter((t) => !isSkipped(t.name));
  const byLayer = new Map<tf.layers.Layer, TensorTarget[]>();
  for (const t of wanted) byLayer.set(t.layer, [...(byLayer.get(t.layer) ?? []), t]);
  for (const [layer, ts] of byLayer) {
    tf.tidy(() => {
      const values = layer.getWeights();
      for (const t of ts) {
        const source = weights.tensors.get(t.name);
        if (source === undefined) throw new TypeError(`${t.name}: checked above`);
        const torchTensor = tf.tensor(source.values, t.torchShape, 'float32');
        values[t.weight] = t.perm === undefined ? torchTensor : tf.transpose(torchTensor, t.perm);
      }
      layer.setWeights(values);
    });
  }
  return { loaded: wanted.map((t) => t.name), skipped };
}

/** A report as a log line's fields: counts, and what was skipped (num_batches_tracked left out). */
export function importSummary(file: string, report: PretrainedImportReport): { pretrained: string; loaded: number; skipped: string[] } {
  return { pretrained: file, loaded: report.loaded.length, skipped: report.skipped.filter((n) => !n.endsWith('.num_batches_tracked')) };
}
