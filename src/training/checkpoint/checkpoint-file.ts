import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { atomicTempPath, writeFileAtomic } from '../../runtime/atomic-file.js';
import { FleetError } from '../../runtime/errors.js';

/**
 * A coordinator checkpoint: everything a restarted coordinator needs to go on
 * exactly where it was. Layout: 8-byte magic, u32 little-endian header length,
 * a JSON header, then the raw float32 arrays the header lists (master
 * parameters, optimizer slots), each 4-byte aligned. The header carries a
 * SHA-256 of its own other fields and of the data, so a torn or altered file
 * is refused on load, whether the fault is in the arrays or in the state.
 */
export interface CheckpointHeader {
  /** 2: the digest covers the header and the data; 1 (files of earlier versions, still read): the data only. */
  format: 1 | 2;
  savedAt: string;
  /** Opaque to this module: config, sampler state, counters, seeds. */
  state: Record<string, unknown>;
  arrays: { name: string; byteOffset: number; length: number }[];
  sha256: string;
}

/**
 * Format 2's digest: the header's other fields as JSON, then the data. The
 * reader recomputes it from the parsed header (JSON.stringify of what
 * JSON.parse returned gives the bytes JSON.stringify wrote), so any change
 * to the header's values shows, while the padding after the JSON does not matter.
 */
function digestOf(header: Omit<CheckpointHeader, 'sha256'>, data: Uint8Array): string {
  const { format, savedAt, state, arrays } = header;
  return createHash('sha256').update(JSON.stringify({ format, savedAt, state, arrays }), 'utf8').update(data).digest('hex');
}

export class CheckpointError extends FleetError {
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`checkpoint ${file} is unusable: ${reason}`, options);
  }
}

const MAGIC = Buffer.from('FLEETCK1', 'ascii');

export async function writeCheckpoint(file: string, state: Record<string, unknown>, arrays: Record<string, Float32Array>): Promise<void> {
  const entries: CheckpointHeader['arrays'] = [];
  let offset = 0;
  for (const [name, values] of Object.entries(arrays)) {
    entries.push({ name, byteOffset: offset, length: values.length });
    offset += values.byteLength;
  }
  const data = Buffer.allocUnsafe(offset);
  for (const entry of entries) {
    const values = arrays[entry.name]!;
    data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), entry.byteOffset);
  }
  const fields = { format: 2 as const, savedAt: new Date().toISOString(), state, arrays: entries };
  const header: CheckpointHeader = { ...fields, sha256: digestOf(fields, data) };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad the header with spaces so the data starts 4-byte aligned (zero-copy Float32Array views on load).
  const pad = (4 - ((MAGIC.length + 4 + json.length) % 4)) % 4;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const bytes = Buffer.concat([MAGIC, length, json, data]);
  await crashMidWriteIfAsked(file, bytes);
  await writeFileAtomic(file, bytes);
}

/**
 * Test-only fault injection, for the chaos suite (test/chaos): with
 * FLEET_FAULT_CHECKPOINT_KILL_AT=n in its environment, the process writes
 * half of its n-th checkpoint's temporary file, fsyncs it and kills itself
 * with SIGKILL, as a crash or a power cut in the middle of the write would.
 * Never set it outside tests.
 */
export const FAULT_CHECKPOINT_KILL_AT_ENV = 'FLEET_FAULT_CHECKPOINT_KILL_AT';
let checkpointWrites = 0;

async function crashMidWriteIfAsked(file: string, bytes: Buffer): Promise<void> {
  checkpointWrites++;
  const killAt = Number(process.env[FAULT_CHECKPOINT_KILL_AT_ENV] ?? '');
  if (!Number.isInteger(killAt) || killAt !== checkpointWrites) return;
  const handle = await open(atomicTempPath(file), 'wx', 0o644);
  await handle.write(bytes, 0, Math.floor(bytes.length / 2));
  await handle.sync();
  process.kill(process.pid, 'SIGKILL');
  await new Promise(() => {}); // SIGKILL is not delivered synchronously everywhere: never go on
}

export interface LoadedCheckpoint {
  header: CheckpointHeader;
  arrays: Record<string, Float32Array>;
}

export async function readCheckpoint(file: string): Promise<LoadedCheckpoint> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CheckpointError(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC))
    throw new CheckpointError(file, 'not a fleet checkpoint (bad magic)');
  const headerLength = bytes.readUInt32LE(MAGIC.length);
  const dataStart = MAGIC.length + 4 + headerLength;
  if (dataStart > bytes.length) throw new CheckpointError(file, `header length ${headerLength} runs past the end of the file`);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(bytes.subarray(MAGIC.length + 4, dataStart).toString('utf8')) as CheckpointHeader;
  } catch (err) {
    throw new CheckpointError(file, 'header is not valid JSON', { cause: err });
  }
  if ((header.format !== 1 && header.format !== 2) || !Array.isArray(header.arrays) || typeof header.sha256 !== 'string')
    throw new CheckpointError(file, 'header is missing fields');
  const data = bytes.subarray(dataStart);
  const expectedBytes = header.arrays.reduce((n, a) => Math.max(n, a.byteOffset + a.length * 4), 0);
  if (data.length !== expectedBytes) throw new CheckpointError(file, `data is ${data.length} bytes, the header describes ${expectedBytes}`);
  const digest = header.format === 2 ? digestOf(header, data) : createHash('sha256').update(data).digest('hex');
  if (digest !== header.sha256)
    throw new CheckpointError(file, `${header.format === 2 ? 'header and data' : 'data'} checksum mismatch (torn or altered file)`);
  const aligned = data.byteOffset % 4 === 0 ? data : Buffer.from(data);
  const arrays: Record<string, Float32Array> = {};
  for (const a of header.arrays) arrays[a.name] = new Float32Array(aligned.buffer, aligned.byteOffset + a.byteOffset, a.length);
  return { header, arrays };
}
