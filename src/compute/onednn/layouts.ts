/**
 * Which memory layouts each convolution runs in:
 *   'plain'    oneDNN reads tfjs's NHWC/HWIO buffers as they are (its
 *              gemm-based path);
 *   'blocked'  oneDNN picks every layout (format_tag::any); activations it
 *              wants blocked are reordered in and out on each call;
 *   'mixed'    activations stay NHWC, only the filter takes the layout oneDNN
 *              picks, so the direct jit kernels run with a per-call reorder of
 *              the (small) filter alone;
 *   'auto'     mixed, except the input gradient of a layer with few input
 *              channels (the image layer), where the gemm path is faster.
 *
 * Measured on the cnn's six convolutions, batch 128, one thread (AMD EPYC
 * with AVX-512), reorders included, ms plain / blocked / mixed: forward
 * 672 / 324 / 324, input gradient 422 / 362 / 360 (the 3-channel layer alone
 * 10 / 27 / 25), filter gradient 519 / 388 / 354.
 */
export type ConvLayout = 'plain' | 'blocked' | 'mixed' | 'auto';
export type ConvOp = 'forward' | 'backwardData' | 'backwardWeights';

const FEW_CHANNELS = 8;
const CODES = { plain: 0, blocked: 1, mixed: 2 } as const;
const DEFAULTS: Record<ConvOp, ConvLayout> = { forward: 'auto', backwardData: 'auto', backwardWeights: 'auto' };
let chosen: Record<ConvOp, ConvLayout> = { ...DEFAULTS };

/** Overrides the layout of some ops (benchmarks compare them in one process); no argument restores the defaults. */
export function setOnednnConvLayouts(layouts?: Partial<Record<ConvOp, ConvLayout>>): void {
  chosen = layouts === undefined ? { ...DEFAULTS } : { ...chosen, ...layouts };
}

export function onednnConvLayouts(): Record<ConvOp, ConvLayout> {
  return { ...chosen };
}

/** The addon's layout argument for `op` on a layer with `inChannels`. */
export function layoutCode(op: ConvOp, inChannels: number): number {
  const layout = chosen[op];
  if (layout !== 'auto') return CODES[layout];
  return op === 'backwardData' && inChannels < FEW_CHANNELS ? CODES.plain : CODES.mixed;
}
