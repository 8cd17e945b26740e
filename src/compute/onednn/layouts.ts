/**
 * How each convolution runs:
 *   'plain'     oneDNN reads tfjs's NHWC/HWIO buffers as they are (its
 *               gemm-based path);
 *   'blocked'   oneDNN picks every layout (format_tag::any); activations it
 *               wants blocked are reordered in and out on each call;
 *   'mixed'     activations stay NHWC, only the filter takes the layout oneDNN
 *               picks: the direct jit kernels with a per-call reorder of the
 *               (small) filter alone;
 *   'winograd'  layouts and algorithm left to oneDNN (convolution_auto):
 *               Winograd F(4x4, 3x3) where oneDNN picks it (AVX-512, 3x3
 *               stride 1, batch of about 16 or more), 'mixed' where it does not;
 *   'auto'      winograd for 3x3 stride-1 layers, mixed for the rest, and the
 *               gemm path for the input gradient of a layer with few input
 *               channels (the image layer).
 *
 * Measured on the cnn's six convolutions, batch 128, one thread (AMD EPYC
 * with AVX-512), reorders included, ms plain / blocked / mixed / winograd:
 * forward 669 / 336 / 323 / 172, input gradient 419 / 356 / 356 / 174,
 * filter gradient 513 / 387 / 352 / 193 (Winograd on the five 64+-channel
 * layers); the 3-channel image layer alone (forward, input, filter gradient)
 * 49/10/9 plain, 5/24/9 mixed. Winograd's results differ from the direct
 * kernels' by at most 1.2e-5 of the largest value on these shapes.
 */
export type ConvLayout = 'plain' | 'blocked' | 'mixed' | 'winograd' | 'auto';
export type ConvOp = 'forward' | 'backwardData' | 'backwardWeights';

const FEW_CHANNELS = 8;
const CODES = { plain: 0, blocked: 1, mixed: 2, winograd: 3 } as const;
const DEFAULTS: Record<ConvOp, ConvLayout> = { forward: 'auto', backwardData: 'auto', backwardWeights: 'auto' };
let chosen: Record<ConvOp, ConvLayout> = { ...DEFAULTS };

/** Overrides the layout of some ops (benchmarks compare them in one process); no argument restores the defaults. */
export function setOnednnConvLayouts(layouts?: Partial<Record<ConvOp, ConvLayout>>): void {
  chosen = layouts === undefined ? { ...DEFAULTS } : { ...chosen, ...layouts };
}

export function onednnConvLayouts(): Record<ConvOp, ConvLayout> {
  return { ...chosen };
}

/** The addon's layout argument for `op` on a convolution of the addon's 17-int geometry. */
export function layoutCode(op: ConvOp, geometry: Int32Array): number {
  const layout = chosen[op];
  if (layout !== 'auto') return CODES[layout];
  const [inChannels = 0, kh, kw, sh, sw, dh, dw] = [3, 7, 8, 9, 10, 15, 16].map((i) => geometry[i] as number);
  if (inChannels < FEW_CHANNELS) return op === 'backwardData' ? CODES.plain : CODES.mixed;
  const winogradShape = kh === 3 && kw === 3 && sh === 1 && sw === 1 && dh === 1 && dw === 1;
  return winogradShape ? CODES.winograd : CODES.mixed;
}
