import { FleetError } from '../runtime/errors.js';
import type { WeightSlice } from '../training/flat-weights.js';

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

/** A shard map that does not fit this model (another model, another build): a tensor it names is not there. */
export class ShardMapError extends FleetError {}

/** One aggregator's slice of the parameters: whole tensors, packed in layout order. */
export interface ShardSlice {
  shard: number;
  /** The slice's tensors, in the model's layout order. */
  tensors: string[];
  /** The same tensors with offsets into the slice's own packed buffer (from 0). */
  slices: WeightSlice[];
  floats: number;
}

/**
 * Cuts the model's tensors into `shards` byte-balanced sets: whole tensors
 * (the wire format, the finite checks and the optimizer all work per tensor),
 * the largest first, each to the shard with the fewest floats so far (ties:
 * the lower shard; equal sizes: by name). A pure function of the layout and
 * K, so the coordinator, its aggregators and every worker derive the same map.
 * Shard 0 is the coordinator's.
 */
export function assignShards(layout: readonly WeightSlice[], shards: number): ShardSlice[] {
  if (!Number.isInteger(shards) || shards < 1) throw new ShardCountError(shards, layout.length, 'must be a whole number of 1 or more');
  if (shards > layout.length)
    throw new ShardCountError(shards, layout.length, `the model has ${layout.length} tensors; a shard holds at least one`);
  const bySize = [...layout].sort((a, b) => b.length - a.length || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const load = new Array<number>(shards).fill(0);
  const owner = new Map<string, number>();
  for (const tensor of bySize) {
    let least = 0;
    for (let k = 1; k < shards; k++) if (load[k]! < load[least]!) least = k;
    owner.set(tensor.name, least);
    load[least]! += tensor.length;
  }
  return load.map((_, shard) => sliceOf(layout, shard, (name) => owner.get(name) === shard));
}

/** The named tensors of `layout` as a shard slice (a worker told the map by the coordinator). */
export function shardSliceOf(layout: readonly WeightSlice[], shard: number, tensors: readonly string[]): ShardSlice {
  const wanted = new Set(tensors);
  const known = new Set(layout.map((s) => s.name));
  for (const name of wanted)
    if (!known.has(name)) throw new ShardCountError(0, layout.length, `shard ${shard} names ${name}, not a tensor of this model`);
  return sliceOf(layout, shard, (name) => wanted.has(name));
}

function sliceOf(layout: readonly WeightSlice[], shard: number, holds: (name: string) => boolean): ShardSlice {
  let offset = 0;
  const slices = layout
    .filter((s) => holds(s.name))
    .map((s) => {
      const packed = { ...s, shape: [...s.shape], offset };
      offset += s.length;
      return packed;
    });
  return { shard, tensors: slices.map((s) => s.name), slices, floats: offset };
}

/** Copies each of `shard`'s tensors out of the model-sized `full` into its packed `into`. */
export function packShard(layout: readonly WeightSlice[], shard: ShardSlice, full: Float32Array, into: Float32Array): Float32Array {
  const at = offsetsOf(layout);
  for (const s of shard.slices) {
    const from = at.get(s.name)!;
    into.set(full.subarray(from, from + s.length), s.offset);
  }
  return into;
}

/** Copies a shard's packed values into their places in the model-sized `full`. */
export function unpackShard(layout: readonly WeightSlice[], shard: ShardSlice, packed: Float32Array, full: Float32Array): void {
  const at = offsetsOf(layout);
  for (const s of shard.slices) full.set(packed.subarray(s.offset, s.offset + s.length), at.get(s.name)!);
}

function offsetsOf(layout: readonly WeightSlice[]): Map<string, number> {
  return new Map(layout.map((s) => [s.name, s.offset]));
}
