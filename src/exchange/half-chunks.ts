/**
 * The 16-bit values in a stream of byte chunks of any size and alignment:
 * a value may straddle two chunks (its first byte waits here), and a chunk
 * may start at an odd address (a Uint16Array cannot: those bytes are copied
 * through a small staging buffer first). For the receivers of a compressed
 * set, which decode values as chunks arrive.
 */
export class HalfRuns {
  private carry = -1;
  private readonly staging: Uint16Array;
  private readonly stagingBytes: Uint8Array;

  constructor(stagingValues = 32768) {
    this.staging = new Uint16Array(stagingValues);
    this.stagingBytes = new Uint8Array(this.staging.buffer);
  }

  /** A value's first byte is waiting for the next chunk. */
  get pending(): boolean {
    return this.carry >= 0;
  }

  /** Calls `take` with the whole values of `chunk`, in order, in runs (each valid only during its call). */
  split(chunk: Uint8Array, take: (values: Uint16Array) => void): void {
    let at = 0;
    if (this.carry >= 0 && chunk.byteLength > 0) {
      this.staging[0] = this.carry | (chunk[0]! << 8);
      this.carry = -1;
      at = 1;
      take(this.staging.subarray(0, 1));
    }
    while (chunk.byteLength - at >= 2) {
      const whole = (chunk.byteLength - at) >> 1;
      const start = chunk.byteOffset + at;
      if (start % 2 === 0) {
        take(new Uint16Array(chunk.buffer, start, whole));
        at += whole * 2;
      } else {
        const n = Math.min(whole, this.staging.length);
        this.stagingBytes.set(chunk.subarray(at, at + n * 2));
        take(this.staging.subarray(0, n));
        at += n * 2;
      }
    }
    if (at < chunk.byteLength) this.carry = chunk[at]!;
  }
}
