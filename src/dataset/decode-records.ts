import { NUM_CLASSES } from './cifar10-constants.js';
import { IMAGE_BYTES, PLANE_BYTES, RECORD_BYTES } from './cifar10-format.js';
import { InvalidLabelError } from './errors.js';

/**
 * Decodes `count` records from a batch file's bytes into preallocated output,
 * converting each image from the file's planar CHW to interleaved HWC once,
 * here, so batches can become NHWC tensors without another copy.
 *
 * @param bytes   the whole file
 * @param file    its path, for error messages
 * @param images  output, N*3072 bytes; this file's images go at `at * 3072`
 * @param labels  output, N bytes; this file's labels go at `at`
 * @throws InvalidLabelError naming file, record, byte offset and value
 */
export function decodeRecords(bytes: Uint8Array, file: string, count: number, images: Uint8Array, labels: Uint8Array, at: number): void {
  for (let r = 0; r < count; r++) {
    const src = r * RECORD_BYTES;
    const label = bytes[src]!;
    if (label >= NUM_CLASSES) throw new InvalidLabelError(file, r, src, label);
    labels[at + r] = label;
    const red = src + 1;
    const green = red + PLANE_BYTES;
    const blue = green + PLANE_BYTES;
    let dst = (at + r) * IMAGE_BYTES;
    for (let p = 0; p < PLANE_BYTES; p++) {
      images[dst++] = bytes[red + p]!;
      images[dst++] = bytes[green + p]!;
      images[dst++] = bytes[blue + p]!;
    }
  }
}
