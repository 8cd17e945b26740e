import { PNG } from 'pngjs';

export interface PngFacts {
  width: number;
  height: number;
  /** Distinct RGBA values. */
  colours: number;
  /** Pixels darker than mid-grey (text, axes, lines on a white chart). */
  darkPixels: number;
  /** The share of pixels that are not the most common colour (the background). */
  nonBackground: number;
}

/** Decodes a PNG (throws when it is not one) and counts what shows it is not blank. */
export function pngFacts(bytes: Buffer): PngFacts {
  const png = PNG.sync.read(bytes);
  const counts = new Map<number, number>();
  let dark = 0;
  const d = png.data;
  for (let i = 0; i < d.length; i += 4) {
    const key = ((d[i]! << 24) | (d[i + 1]! << 16) | (d[i + 2]! << 8) | d[i + 3]!) >>> 0;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (d[i]! + d[i + 1]! + d[i + 2]! < 3 * 128 && d[i + 3]! > 128) dark++;
  }
  const pixels = png.width * png.height;
  const background = Math.max(...counts.values());
  return { width: png.width, height: png.height, colours: counts.size, darkPixels: dark, nonBackground: (pixels - background) / pixels };
}
