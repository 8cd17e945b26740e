/**
 * Which memory layout each convolution runs in. 'plain': oneDNN reads tfjs's
 * NHWC/HWIO buffers directly (its gemm-based path). 'blocked': oneDNN picks
 * its own blocked layouts (direct jit kernels) and every call reorders inputs
 * in and the output out. Measured per op on the cnn's shapes (see README).
 */
export type ConvLayout = 'plain' | 'blocked';
export type ConvOp = 'forward' | 'backwardData' | 'backwardWeights';

const DEFAULTS: Record<ConvOp, ConvLayout> = { forward: 'blocked', backwardData: 'blocked', backwardWeights: 'blocked' };
let chosen: Record<ConvOp, ConvLayout> = { ...DEFAULTS };

/** Overrides the layout of some ops (benchmarks compare them in one process); no argument restores the defaults. */
export function setOnednnConvLayouts(layouts?: Partial<Record<ConvOp, ConvLayout>>): void {
  chosen = layouts === undefined ? { ...DEFAULTS } : { ...chosen, ...layouts };
}

export function onednnConvLayouts(): Record<ConvOp, ConvLayout> {
  return { ...chosen };
}

/** The addon's layout argument for `op`. */
export function layoutCode(op: ConvOp): number {
  return chosen[op] === 'blocked' ? 1 : 0;
}
