/** Convolution shapes of the classic CIFAR-10 CNN (3x3, stride 1, 'same'), for kernel benchmarks. */
export interface ConvShape {
  name: string;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
}

export const CNN_CONV_SHAPES: ConvShape[] = [
  { name: 'block1_conv1', height: 32, width: 32, inChannels: 3, outChannels: 64 },
  { name: 'block1_conv2', height: 32, width: 32, inChannels: 64, outChannels: 64 },
  { name: 'block2_conv1', height: 16, width: 16, inChannels: 64, outChannels: 128 },
  { name: 'block2_conv2', height: 16, width: 16, inChannels: 128, outChannels: 128 },
  { name: 'block3_conv1', height: 8, width: 8, inChannels: 128, outChannels: 256 },
  { name: 'block3_conv2', height: 8, width: 8, inChannels: 256, outChannels: 256 },
];

/** Multiply-adds x 2 of one 3x3 'same' stride-1 convolution over `batch` images. */
export function convFlops(s: ConvShape, batch: number): number {
  return 2 * batch * s.height * s.width * 9 * s.inChannels * s.outChannels;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.length > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

/** True when this module file is the node entry point. */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  return metaUrl === new URL(`file://${entry.startsWith('/') ? entry : `${process.cwd()}/${entry}`}`).href;
}
