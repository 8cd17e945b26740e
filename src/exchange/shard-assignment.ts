import { FleetError } from '../runtime/errors.js';
import type { WeightSlice } from '../training/flat-weights.js';
import { compareNames } from './tensor-layout.js';

/** A --shards count the model cannot be cut into (0, negative, not whole, more than its tensors). */
export class ShardCountError extends FleetError {
  constructor(
    readonly shards: number,
    readonly tensors: number,
    reason: string,
  ) {
    super(`--shards ${shards}: ${reason}`);
  }
}

/** A shard map that does not fit this model (another model, another build): a tensor or range it names is not there. */
export class ShardMapError extends FleetError {}

/**
 * A tensor, or a range of one, in a shard's packed buffer. A range travels
 * as a tensor of its own, named `name@start+length` (floats into the
 * tensor's flat values), of shape [length].
 */
export interface ShardPiece extends WeightSlice {
  /** The model's tensor it is of, and where in that tensor's values it starts. */
  source: string;
  sourceStart: number;
}

/** One aggregator's slice of the parameters, packed from offset 0. */
export interface ShardSlice {
  shard: number;
  /** The pieces' names, in their packed (name) order: what the wire and the shard map carry. */
  tensors: string[];
  slices: ShardPiece[];
  floats: number;
}

const RANGE = /^(.+)@(\d+)\+(\d+)$/;

/**
 * Cuts the model's flat vector (its tensors in layout order) into `shards`
 * contiguous ranges of as equal a size as floats allow (they differ by at
 * most one float). A tensor across a boundary is split there: each part is
 * a range of it. Everything the parameters go through after the sum is
 * elementwise (float32 kernels whose scalar tails do what their lanes do),
 * so a range is summed and stepped as its tensor would be. A pure function
 * of the layout and K: the coordinator, its aggregators and every worker
 * derive or check the same map. Shard 0 is the coordinator's.
 */
export function assignShards(layout: readonly WeightSlice[], shards: number): ShardSlice[] {
  if (!Number.isInteger(shards) || shards < 1) throw new ShardCountError(shards, layout.length, 'must be a whole number of 1 or more');
  if (shards > layout.length)
    throw new ShardCountError(shards, layout.length, `the model has ${layout.length} tensors; a shard holds at least one`);
  const total = layout.reduce((n, s) => n + s.length, 0);
  const bound = (k: number) => Math.round((k * total) / shards);
  return Array.from({ length: shards }, (_, k) => {
    const [from, to] = [bound(k), bound(k + 1)];
    const pieces: Omit<ShardPiece, 'offset'>[] = [];
    let at = 0;
    for (const t of layout) {
      const start = Math.max(from, at) - at;
      const end = Math.min(to, at + t.length) - at;
      if (end > start) pieces.push(pieceOf(t, start, end - start));
      at += t.length;
    }
    return packed(k, pieces);
  });
}

function pieceOf(t: WeightSlice, start: number, length: number): Omit<ShardPiece, 'offset'> {
  if (start === 0 && length === t.length)
    return { name: t.name, shape: [...t.shape], trainable: t.trainable, length, source: t.name, sourceStart: 0 };
  return { name: `${t.name}@${start}+${length}`, shape: [length], trainable: t.trainable, length, source: t.name, sourceStart: start };
}

/** The pieces sorted by name (the wire's order), each given its offset in the packed buffer. */
function packed(shard: number, pieces: Omit<ShardPiece, 'offset'>[]): ShardSlice {
  let offset = 0;
  const slices = [...pieces]
    .sort((a, b) => compareNames(a.name, b.name))
    .map((p) => {
      const piece = { ...p, offset };
      offset += p.length;
      return piece;
    });
  return { shard, tensors: slices.map((s) => s.name), slices, floats: offset };
}

/** Shard `shard` from the names the coordinator's map gives (a worker), checked against this model's layout. */
export function shardSliceOf(layout: readonly WeightSlice[], shard: number, names: readonly string[]): ShardSlice {
  const byName = new Map(layout.map((s) => [s.name, s]));
  const pieces = names.map((name) => {
    const whole = byName.get(name);
    if (whole) return pieceOf(whole, 0, whole.length);
    const m = RANGE.exec(name);
    const t = m ? byName.get(m[1]!) : undefined;
    const start = Number(m?.[2]);
    const length = Number(m?.[3]);
    if (!t || !(length > 0) || start + length > t.length)
      throw new ShardMapError(`the coordinator's shard ${shard} names ${name}, not a tensor (or a range of one) of this worker's model`);
    return pieceOf(t, start, length);
  });
  return packed(shard, pieces);
}

/** Copies each of `shard`'s pieces out of the model-sized `full` into its packed `into`. */
export function packShard(layout: readonly WeightSlice[], shard: ShardSlice, full: Float32Array, into: Float32Array): Float32Array {
  const at = offsetsOf(layout);
  for (const s of shard.slices) {
    const from = at.get(s.source)! + s.sourceStart;
    into.set(full.subarray(from, from + s.length), s.offset);
  }
  return into;
}

/** Copies a shard's packed values into their places in the model-sized `full`. */
export function unpackShard(layout: readonly WeightSlice[], shard: ShardSlice, packedValues: Float32Array, full: Float32Array): void {
  const at = offsetsOf(layout);
  for (const s of shard.slices) full.set(packedValues.subarray(s.offset, s.offset + s.length), at.get(s.source)! + s.sourceStart);
}

/** Where `slice` starts in the model-sized buffer: a layout tensor's offset, or a shard piece's within its tensor. */
export function originOf(slice: WeightSlice, layoutOffsets: ReadonlyMap<string, number>): number {
  const piece = slice as Partial<ShardPiece>;
  return piece.source !== undefined ? layoutOffsets.get(piece.source)! + (piece.sourceStart ?? 0) : layoutOffsets.get(slice.name)!;
}

function offsetsOf(layout: readonly WeightSlice[]): Map<string, number> {
  return new Map(layout.map((s) => [s.name, s.offset]));
}
