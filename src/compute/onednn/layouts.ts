/**
 * Which memory layout each convolution runs in. 'plain': oneDNN reads tfjs's
 * NHWC/HWIO buffers directly (its gemm-based path). 'blocked': oneDNN picks
 * its own blocked layouts (direct jit kernels) and every call reorders inputs
 * in and the output out. 'auto': blocked, except the gradients of a layer with
 * few input channels (the image layer), where the blocked kernels are slower.
 *
 * Measured on the cnn's six convolutions, batch 128, one thread (AMD EPYC,
 * AVX2), reorders included: forward 684 ms plain / 330 blocked, input
 * gradient 437 / 360 (the 3-channel layer alone 10 / 27), filter gradient
 * 558 / 392 (3-channel layer 11 / 13).
 */
export type ConvLayout = 'plain' | 'blocked' | 'auto';
export type ConvOp = 'forward' | 'backwardData' | 'backwardWeights';

const FEW_CHANNELS = 8;
const DEFAULTS: Record<ConvOp, ConvLayout> = { forward: 'auto', backwardData: 'auto', backwardWeights: 'auto' };
let chosen: Record<ConvOp, ConvLayout> = { ...DEFAULTS };

/** Overrides the layout of some ops (benchmarks compare them in one process); no argument restores the defaults. */
export function setOnednnConvLayouts(layouts?: Partial<Record<ConvOp, ConvLayout>>): void {
  chosen = layouts === undefined ? { ...DEFAULTS } : { ...chosen, ...layouts };
}

export function onednnConvLayouts(): Record<ConvOp, ConvLayout> {
  return { ...chosen };
}

/** The addon's layout argument (0 plain, 1 blocked) for `op` on a layer with `inChannels`. */
export function layoutCode(op: ConvOp, inChannels: number): number {
  const layout = chosen[op];
  if (layout === 'auto') return op !== 'forward' && inChannels < FEW_CHANNELS ? 0 : 1;
  return layout === 'blocked' ? 1 : 0;
}
