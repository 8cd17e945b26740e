import * as tf from '@tensorflow/tfjs';
import { batchNorm } from './layers/batch-norm.js';
import { seededDropout, spatialDropout2d } from './layers/seeded-dropout.js';
import { deriveSeed, checkSeed } from './seeds.js';
import { torchBiasInitializer, torchKernelInitializer } from './torch-init.js';

type Sym = tf.SymbolicTensor;

function apply(layer: tf.layers.Layer, x: Sym | Sym[]): Sym {
  return layer.apply(x) as Sym;
}

/**
 * Builds a model's layers in order, handing each seeded layer its own seed
 * deriveSeed(modelSeed, layerIndex): same model seed -> same initial weights
 * and dropout streams. Only the order of seeded layers matters, so builders
 * must create them in a fixed order.
 */
export class LayerKit {
  private index = 0;

  constructor(readonly modelSeed: number) {
    checkSeed(modelSeed);
  }

  /** Seed for the next seeded layer (kernel gets stream 0, bias stream 1). */
  private nextSeed(): number {
    const seed = deriveSeed(this.modelSeed, this.index);
    this.index += 1;
    return seed;
  }

  /**
   * PyTorch-style Conv2d (NHWC). padding = PyTorch's symmetric zero padding;
   * done as an explicit ZeroPadding2D + 'valid' conv when it is not what
   * 'same' would do (stride 2 pads only bottom/right in TF), so outputs match
   * PyTorch's sample positions exactly.
   */
  conv2d(x: Sym, o: { name: string; filters: number; kernelSize: number; strides?: number; padding?: number; useBias: boolean }): Sym {
    const strides = o.strides ?? 1;
    const padding = o.padding ?? 0;
    const inChannels = x.shape[x.shape.length - 1];
    if (typeof inChannels !== 'number') throw new TypeError(`${o.name}: input channels unknown`);
    const seed = this.nextSeed();
    const sameIsSymmetric = strides === 1 && o.kernelSize % 2 === 1 && padding === (o.kernelSize - 1) / 2;
    let input = x;
    if (padding > 0 && !sameIsSymmetric) {
      input = apply(tf.layers.zeroPadding2d({ padding, name: `${o.name}_pad` }), x);
    }
    const conv = tf.layers.conv2d({
      name: o.name,
      filters: o.filters,
      kernelSize: o.kernelSize,
      strides,
      padding: sameIsSymmetric && padding > 0 ? 'same' : 'valid',
      useBias: o.useBias,
      kernelInitializer: torchKernelInitializer(deriveSeed(seed, 0)),
      ...(o.useBias ? { biasInitializer: torchBiasInitializer(inChannels * o.kernelSize * o.kernelSize, deriveSeed(seed, 1)) } : {}),
    });
    return apply(conv, input);
  }

  /** PyTorch nn.Linear. */
  dense(x: Sym, o: { name: string; units: number; useBias?: boolean }): Sym {
    const inFeatures = x.shape[x.shape.length - 1];
    if (typeof inFeatures !== 'number') throw new TypeError(`${o.name}: input features unknown`);
    const useBias = o.useBias ?? true;
    const seed = this.nextSeed();
    const layer = tf.layers.dense({
      name: o.name,
      units: o.units,
      useBias,
      kernelInitializer: torchKernelInitializer(deriveSeed(seed, 0)),
      ...(useBias ? { biasInitializer: torchBiasInitializer(inFeatures, deriveSeed(seed, 1)) } : {}),
    });
    return apply(layer, x);
  }

  /** BatchNorm (gamma 1, beta 0, PyTorch momentum/eps) via the shared batchNorm layer. */
  batchNorm(x: Sym, name: string): Sym {
    return apply(batchNorm({ name }), x);
  }

  relu(x: Sym, name: string): Sym {
    return apply(tf.layers.reLU({ name }), x);
  }

  /**
   * nn.MaxPool2d(size, strides, padding). The padding is zeros, which equals
   * PyTorch's -inf padding only on non-negative inputs (after a ReLU).
   */
  maxPool(x: Sym, name: string, size = 2, strides = size, padding = 0): Sym {
    const input = padding > 0 ? apply(tf.layers.zeroPadding2d({ padding, name: `${name}_pad` }), x) : x;
    return apply(tf.layers.maxPooling2d({ name, poolSize: size, strides, padding: 'valid' }), input);
  }

  /** nn.Dropout, seeded from the model seed. */
  dropout(x: Sym, name: string, rate: number): Sym {
    return apply(seededDropout({ name, rate, seed: this.nextSeed() }), x);
  }

  /** nn.Dropout2d, seeded from the model seed. */
  dropout2d(x: Sym, name: string, rate: number): Sym {
    return apply(spatialDropout2d({ name, rate, seed: this.nextSeed() }), x);
  }

  add(xs: Sym[], name: string): Sym {
    return apply(tf.layers.add({ name }), xs);
  }

  flatten(x: Sym, name = 'flatten'): Sym {
    return apply(tf.layers.flatten({ name }), x);
  }

  globalAvgPool(x: Sym, name = 'avgpool'): Sym {
    return apply(tf.layers.globalAveragePooling2d({ name }), x);
  }
}
