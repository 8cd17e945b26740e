import { writeFileSync } from 'node:fs';

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  values: Float32Array;
}

/**
 * Encodes F32 tensors as safetensors (for tests and checks; fleet only reads
 * the format at run time). The header is padded with spaces to 8 bytes, as
 * the reference implementation does.
 */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.values.length * 4;
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf-8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    for (let i = 0; i < t.values.length; i++) view.setFloat32(at + i * 4, t.values[i] as number, true);
    at += t.values.length * 4;
  }
  return out;
}

export function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): void {
  writeFileSync(file, encodeSafetensors(tensors, metadata));
}
