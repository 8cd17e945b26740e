// The weights and input of scripts/torch-reference/resnet_logits.py, regenerated in TypeScript.
import { readFileSync } from 'node:fs';
import type { TensorToWrite } from '../../../src/model/index.js';

export interface TorchReference {
  arch: 'resnet18' | 'resnet34';
  input: { batch: number; channels: number; height: number; width: number };
  tensors: { name: string; shape: number[] }[];
  logits: number[][];
}

export function readTorchReference(arch: 'resnet18' | 'resnet34'): TorchReference {
  const url = new URL(`../../fixtures/torch-reference/${arch}-logits.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf-8')) as TorchReference;
}

/** Same formula as resnet_logits.py's formula(): float64, then float32. */
export function formulaTensor(name: string, shape: readonly number[], t: number): Float32Array {
  const n = shape.reduce((a, d) => a * d, 1);
  const leaf = name.slice(name.lastIndexOf('.') + 1);
  const isBn = `.${name}`.includes('.bn') || name.includes('downsample.1');
  const out = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const s = Math.sin(0.37 * k + 1.3 * t);
    let v: number;
    if (name.startsWith('fc.')) v = leaf === 'weight' ? s / Math.sqrt(shape[1] as number) : 0.01 * s;
    else if (leaf === 'weight' && shape.length === 4)
      v = s * Math.sqrt(2 / ((shape[1] as number) * (shape[2] as number) * (shape[3] as number)));
    else if (isBn && leaf === 'weight') v = 1 + 0.1 * s;
    else if (leaf === 'bias' || leaf === 'running_mean') v = 0.1 * s;
    else if (leaf === 'running_var') v = 0.75 + 0.25 * s;
    else throw new Error(`no formula for ${name}`);
    out[k] = v;
  }
  return out;
}

/** Every state_dict entry of the reference, by formula (num_batches_tracked as 0). */
export function formulaTensors(ref: TorchReference): TensorToWrite[] {
  return ref.tensors.map(({ name, shape }, t) => ({
    name,
    shape,
    values: name.endsWith('num_batches_tracked') ? new Float32Array(1) : formulaTensor(name, shape, t),
  }));
}

/** The reference input, NHWC: sin(0.7 n + 1.1 c + 0.13 h + 0.29 w). */
export function formulaInputNhwc(ref: TorchReference): Float32Array {
  const { batch, channels, height, width } = ref.input;
  const out = new Float32Array(batch * height * width * channels);
  let i = 0;
  for (let n = 0; n < batch; n++)
    for (let h = 0; h < height; h++)
      for (let w = 0; w < width; w++) for (let c = 0; c < channels; c++) out[i++] = Math.sin(0.7 * n + 1.1 * c + 0.13 * h + 0.29 * w);
  return out;
}
