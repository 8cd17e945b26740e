/**
 * The per-image transform: random crop (zero padding), horizontal flip,
 * brightness/contrast jitter and normalisation, uint8 HWC in, float32 HWC out.
 *
 * Semantics follow torchvision's usual CIFAR pipeline
 *   RandomCrop(32, padding=4) -> RandomHorizontalFlip -> ColorJitter(0.2, 0.2) -> ToTensor -> Normalize
 * on float tensors: jitter sees the cropped image INCLUDING its zero padding
 * (so contrast lifts padded pixels towards the mean, as torchvision does), and
 * no uint8 rounding happens between steps (torchvision's PIL path rounds).
 *
 * Every step after geometry is a per-value map once the image's gray mean is
 * known, so the image is built as a 3x256 lookup table and written in one pass.
 * All random choices arrive in TransformParams; drawing them is presets.ts's job.
 */
import { CIFAR10_MEAN, CIFAR10_STD } from '../dataset/cifar10-constants.js';
import * as K from './constants.js';
import { AugmentOptionError, BufferSizeError } from './errors.js';

// Module-local copies for the hot loops: dev loaders (vitest's vite-node) turn
// every use of an imported binding into a property read on the module
// namespace, which made these loops ~5x slower under test.
const { CHANNELS, CROP_PADDING, IMAGE_LEN, IMAGE_SIZE, MAX_CROP_OFFSET, ROW_LEN } = K;
const [MEAN_R, MEAN_G, MEAN_B] = CIFAR10_MEAN;
const [STD_R, STD_G, STD_B] = CIFAR10_STD;
const [GRAY_R, GRAY_G, GRAY_B] = K.GRAY_WEIGHTS;

export interface TransformParams {
  /** Column offset of the 32x32 window in the 40x40 zero-padded image, 0..8; 4 = no shift. */
  dx: number;
  /** Row offset of the window, 0..8; 4 = no shift. */
  dy: number;
  /** Mirror columns after cropping. */
  flip: boolean;
  /** Brightness factor b: x -> clamp(b*x). 1 = off. */
  brightness: number;
  /** Contrast factor c: x -> clamp(c*x + (1-c)*grayMean). 1 = off. */
  contrast: number;
  /** Apply contrast before brightness (ColorJitter picks the order at random). */
  contrastFirst: boolean;
}

/** Normalise only: the test-time transform. */
export const IDENTITY_PARAMS: Readonly<TransformParams> = Object.freeze({
  dx: CROP_PADDING,
  dy: CROP_PADDING,
  flip: false,
  brightness: 1,
  contrast: 1,
  contrastFirst: false,
});

/** (v/255 - mean[ch]) / std[ch]: the last step of every transform. */
export function normalizeValue(unit: number, channel: number): number {
  return channel === 0 ? (unit - MEAN_R) / STD_R : channel === 1 ? (unit - MEAN_G) / STD_G : (unit - MEAN_B) / STD_B;
}

/** Value-to-output table for the no-jitter case, built once. Index: channel*256 + byte. */
const NORMALIZE_LUT = buildNormalizeLut();
/** Per-image table when jitter is on; reused (transforms are synchronous). */
const jitterLut = new Float32Array(CHANNELS * 256);

function buildNormalizeLut(): Float32Array {
  const lut = new Float32Array(CHANNELS * 256);
  for (let ch = 0; ch < CHANNELS; ch++) for (let v = 0; v < 256; v++) lut[ch * 256 + v] = normalizeValue(v / 255, ch);
  return lut;
}

const clamp01 = (x: number): number => (x < 0 ? 0 : Math.min(x, 1));

/**
 * Mean of the grayscale of the cropped image (padding counts as black pixels),
 * after brightness when brightness comes first. Flip does not change it.
 */
export function croppedGrayMean(src: Uint8Array, srcOffset: number, dy: number, dx: number, brightness: number): number {
  const scale = brightness / 255;
  const r0 = Math.max(0, dy - CROP_PADDING);
  const r1 = Math.min(IMAGE_SIZE, dy - CROP_PADDING + IMAGE_SIZE);
  const c0 = Math.max(0, dx - CROP_PADDING);
  const c1 = Math.min(IMAGE_SIZE, dx - CROP_PADDING + IMAGE_SIZE);
  let sum = 0;
  for (let r = r0; r < r1; r++) {
    let s = srcOffset + r * ROW_LEN + c0 * CHANNELS;
    for (let c = c0; c < c1; c++, s += CHANNELS) {
      const red = src[s]! * scale;
      const green = src[s + 1]! * scale;
      const blue = src[s + 2]! * scale;
      sum += GRAY_R * Math.min(red, 1) + GRAY_G * Math.min(green, 1) + GRAY_B * Math.min(blue, 1);
    }
  }
  return sum / (IMAGE_SIZE * IMAGE_SIZE);
}

/** Fills `lut` with byte -> normalised(jitter(byte/255)) for each channel. */
function buildJitterLut(lut: Float32Array, brightness: number, contrast: number, contrastFirst: boolean, grayMean: number): void {
  const offset = (1 - contrast) * grayMean;
  for (let ch = 0; ch < CHANNELS; ch++) {
    for (let v = 0; v < 256; v++) {
      let x = v / 255;
      if (contrastFirst) {
        x = clamp01(clamp01(contrast * x + offset) * brightness);
      } else {
        x = clamp01(contrast * clamp01(brightness * x) + offset);
      }
      lut[ch * 256 + v] = normalizeValue(x, ch);
    }
  }
}

function checkParams(p: Readonly<TransformParams>): void {
  if (!Number.isInteger(p.dx) || p.dx < 0 || p.dx > MAX_CROP_OFFSET)
    throw new AugmentOptionError('crop dx', p.dx, `an integer 0..${MAX_CROP_OFFSET}`);
  if (!Number.isInteger(p.dy) || p.dy < 0 || p.dy > MAX_CROP_OFFSET)
    throw new AugmentOptionError('crop dy', p.dy, `an integer 0..${MAX_CROP_OFFSET}`);
  if (!Number.isFinite(p.brightness) || p.brightness < 0)
    throw new AugmentOptionError('brightness factor', p.brightness, 'a finite number >= 0');
  if (!Number.isFinite(p.contrast) || p.contrast < 0) throw new AugmentOptionError('contrast factor', p.contrast, 'a finite number >= 0');
}

/**
 * Writes the transformed image src[srcOffset .. +3072) into dst[dstOffset .. +3072).
 * Output pixel (r, c) comes from source pixel (r + dy - 4, c' + dx - 4) with
 * c' = flip ? 31 - c : c, or is padding (black) when that lies outside the image.
 */
export function cropFlipJitter(src: Uint8Array, dst: Float32Array, params: Readonly<TransformParams>, srcOffset = 0, dstOffset = 0): void {
  checkParams(params);
  if (srcOffset < 0 || src.length < srcOffset + IMAGE_LEN)
    throw new BufferSizeError('source image buffer', src.length, srcOffset + IMAGE_LEN, false);
  if (dstOffset < 0 || dst.length < dstOffset + IMAGE_LEN)
    throw new BufferSizeError('output image buffer', dst.length, dstOffset + IMAGE_LEN, false);
  const { dx, dy, flip, brightness, contrast, contrastFirst } = params;

  let lut = NORMALIZE_LUT;
  if (brightness !== 1 || contrast !== 1) {
    // The contrast mean is of the image contrast actually sees: before brightness if it runs first.
    const mean = contrast === 1 ? 0 : croppedGrayMean(src, srcOffset, dy, dx, contrastFirst ? 1 : brightness);
    buildJitterLut(jitterLut, brightness, contrast, contrastFirst, mean);
    lut = jitterLut;
  }
  // Padding is byte 0 pushed through the same map (contrast may lift it off black).
  const pad0 = lut[0]!;
  const pad1 = lut[256]!;
  const pad2 = lut[512]!;

  const shiftY = dy - CROP_PADDING;
  const shiftX = dx - CROP_PADDING;
  for (let r = 0; r < IMAGE_SIZE; r++) {
    const sr = r + shiftY;
    let o = dstOffset + r * ROW_LEN;
    if (sr < 0 || sr >= IMAGE_SIZE) {
      for (let c = 0; c < IMAGE_SIZE; c++, o += CHANNELS) {
        dst[o] = pad0;
        dst[o + 1] = pad1;
        dst[o + 2] = pad2;
      }
      continue;
    }
    const srcRow = srcOffset + sr * ROW_LEN;
    for (let c = 0; c < IMAGE_SIZE; c++, o += CHANNELS) {
      const sc = (flip ? IMAGE_SIZE - 1 - c : c) + shiftX;
      if (sc < 0 || sc >= IMAGE_SIZE) {
        dst[o] = pad0;
        dst[o + 1] = pad1;
        dst[o + 2] = pad2;
      } else {
        const s = srcRow + sc * CHANNELS;
        dst[o] = lut[src[s]!]!;
        dst[o + 1] = lut[256 + src[s + 1]!]!;
        dst[o + 2] = lut[512 + src[s + 2]!]!;
      }
    }
  }
}

/** Test-time transform: normalisation only. */
export function normalizeImage(src: Uint8Array, dst: Float32Array, srcOffset = 0, dstOffset = 0): void {
  cropFlipJitter(src, dst, IDENTITY_PARAMS, srcOffset, dstOffset);
}
