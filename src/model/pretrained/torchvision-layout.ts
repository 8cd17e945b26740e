import { RESNET18_LAYOUT, RESNET34_LAYOUT, type ResNetLayout, STEM_CONV } from '../architectures/resnet-layouts.js';
import type { StemKind } from '../architectures/common.js';

/** One tensor of a torchvision state_dict: its name and shape in PyTorch's layout. */
export interface TorchTensorSpec {
  name: string;
  shape: number[];
}

const LAYOUTS: Record<string, ResNetLayout> = { resnet18: RESNET18_LAYOUT, resnet34: RESNET34_LAYOUT };

/** Models whose torchvision checkpoints fleet imports. */
export const TORCHVISION_MODELS: readonly string[] = Object.keys(LAYOUTS);

const bn = (module: string, c: number): TorchTensorSpec[] =>
  ['weight', 'bias', 'running_mean', 'running_var'].map((leaf) => ({ name: `${module}.${leaf}`, shape: [c] }));

/**
 * The torchvision tensors fleet's resnet18/resnet34 take, with the given stem
 * and class count, computed from the architecture's layout without building
 * a model: what the CLI checks a --pretrained file's header against before
 * anything is written. (num_batches_tracked is not listed: it is ignored.)
 * It agrees with the layers buildModel makes (test/unit/model/torchvision-layout.test.ts).
 */
export function torchvisionResNetLayout(model: string, stem: StemKind, numClasses: number): TorchTensorSpec[] {
  const layout = LAYOUTS[model];
  if (layout === undefined) throw new TypeError(`no torchvision layout for model ${model}`);
  const k = STEM_CONV[stem].kernelSize;
  const out: TorchTensorSpec[] = [{ name: 'conv1.weight', shape: [layout.stemChannels, 3, k, k] }, ...bn('bn1', layout.stemChannels)];
  let inC = layout.stemChannels;
  layout.stages.forEach((stage, s) => {
    for (let b = 0; b < stage.blocks; b++) {
      const p = `layer${s + 1}.${b}`;
      const stride = b === 0 ? stage.stride : 1;
      out.push({ name: `${p}.conv1.weight`, shape: [stage.channels, inC, 3, 3] }, ...bn(`${p}.bn1`, stage.channels));
      out.push({ name: `${p}.conv2.weight`, shape: [stage.channels, stage.channels, 3, 3] }, ...bn(`${p}.bn2`, stage.channels));
      if (stride !== 1 || inC !== stage.channels)
        out.push({ name: `${p}.downsample.0.weight`, shape: [stage.channels, inC, 1, 1] }, ...bn(`${p}.downsample.1`, stage.channels));
      inC = stage.channels;
    }
  });
  out.push({ name: 'fc.weight', shape: [numClasses, inC] }, { name: 'fc.bias', shape: [numClasses] });
  return out;
}
