import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { FleetError } from '../../src/runtime/errors.js';

/** An image file fleet predict cannot take: not PNG or JPEG, corrupt, or of another size than the model's input. */
export class ImageFileError extends FleetError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** An image's pixels as RGB bytes, row by row (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

/** Reads a PNG or JPEG (told apart by their first bytes, not the name) and drops any alpha channel. */
export async function readRgbImage(file: string): Promise<RgbImage> {
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new ImageFileError(file, `cannot be read (${err.code ?? err.message})`);
  });
  const startsWith = (sig: number[]) => sig.every((b, i) => bytes[i] === b);
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    if (startsWith(PNG_SIGNATURE)) rgba = PNG.sync.read(bytes);
    else if (startsWith(JPEG_SIGNATURE)) rgba = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    else throw new ImageFileError(file, 'is not a PNG or JPEG image');
  } catch (err) {
    if (err instanceof ImageFileError) throw err;
    throw new ImageFileError(file, `cannot be decoded: ${(err as Error).message}`);
  }
  const pixels = rgba.width * rgba.height;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    rgb[p * 3] = rgba.data[p * 4]!;
    rgb[p * 3 + 1] = rgba.data[p * 4 + 1]!;
    rgb[p * 3 + 2] = rgba.data[p * 4 + 2]!;
  }
  return { width: rgba.width, height: rgba.height, rgb };
}
