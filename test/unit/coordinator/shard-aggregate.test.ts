import { describe, expect, it } from 'vitest';
import { WeightedSum } from '../../../services/coordinator/aggregator/weighted-sum.js';
import { applySgd } from '../../../services/coordinator/optimizer/sgd-update.js';
import { AlreadyContributedError, StaleContributionError } from '../../../services/coordinator/rounds/errors.js';
import { ShardAggregate, ShardStateError } from '../../../services/coordinator/shards/shard-aggregate.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';

/**
 * One aggregator's slice (--shards): the round's contributions summed as
 * the coordinator sums them, the two-phase close (PREPARE: exactly the
 * contributions the coordinator counts, waiting for those still arriving;
 * COMMIT or ABORT), and the refusals that keep a round's sum clean.
 */

const slices: WeightSlice[] = [
  { name: 'a', shape: [5], trainable: true, offset: 0, length: 5 },
  { name: 'b', shape: [3], trainable: false, offset: 5, length: 3 },
];
const hyper = { momentum: 0.9, weightDecay: 5e-4 };

function aggregate(): ShardAggregate {
  const a = new ShardAggregate({ slices, kind: 'gradients', ...hyper, optimizerSteps: 0 });
  a.load(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), new Float32Array(8), 1);
  return a;
}

function contribute(a: ShardAggregate, worker: string, round: number, values: number[], samples: number): void {
  const staged = a.stage(worker, round, a.version, 'gradients', samples);
  expect(staged.accumulate(Float32Array.from(values))).toBe(-1);
  a.commit(worker, round, staged);
}

describe('ShardAggregate', () => {
  it('ends a round as the coordinator would: the same sum, average and SGD step, float for float', async () => {
    const a = aggregate();
    const x = [0.1, -0.2, 0.3, 1e-3, 7, 0.5, 0.25, 0.125];
    const y = [0.3, 0.2, -0.1, 2e-3, -3, 0.1, 0.75, 0.375];
    contribute(a, 'w1', 0, x, 32);
    contribute(a, 'w2', 0, y, 16);
    const contributors = [
      { workerId: 'w1', sampleCount: 32 },
      { workerId: 'w2', sampleCount: 16 },
    ];
    await a.whenHolding(0, contributors, 1000);
    expect(a.prepare(0, 1, contributors)).toBeNull();
    expect(a.commitRound(0, 0.1)).toBe(2);
    // The reference: one aggregator's WeightedSum and applySgd on the same values.
    const sum = new WeightedSum(8);
    sum.add(Float32Array.from(x), 32);
    sum.add(Float32Array.from(y), 16);
    const params = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    applySgd(params, new Float32Array(8), sum.average(), slices, { lr: 0.1, ...hyper }, true);
    expect(Buffer.compare(Buffer.from(a.current().params.buffer), Buffer.from(params.buffer))).toBe(0);
  });

  it('PREPARE waits for a slice still arriving, and names what differs', async () => {
    const a = aggregate();
    contribute(a, 'w1', 0, [1, 1, 1, 1, 1, 1, 1, 1], 8);
    const both = [
      { workerId: 'w1', sampleCount: 8 },
      { workerId: 'w2', sampleCount: 8 },
    ];
    const waited = a.whenHolding(0, both, 10_000);
    setTimeout(() => contribute(a, 'w2', 0, [2, 2, 2, 2, 2, 2, 2, 2], 8), 20);
    await waited;
    expect(a.prepare(0, 1, both)).toBeNull();
    // The coordinator counted only w1 (w2 evicted after its slice arrived here): not ready, and why.
    expect(a.prepare(0, 1, [{ workerId: 'w1', sampleCount: 8 }])).toMatch(/not counted by the coordinator: w2/);
    // A contribution the coordinator counts and this slice never got: the wait ends at its bound.
    const started = Date.now();
    await a.whenHolding(0, [...both, { workerId: 'w3', sampleCount: 8 }], 50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(a.prepare(0, 1, [...both, { workerId: 'w3', sampleCount: 8 }])).toMatch(/missing or different: w3/);
  });

  it('ABORT drops the round: the version stays, a late slice of it is refused, the next round starts clean', () => {
    const a = aggregate();
    contribute(a, 'w1', 4, [1, 1, 1, 1, 1, 1, 1, 1], 8);
    a.abort(4);
    expect(a.version).toBe(1);
    expect(() => a.stage('w2', 4, 1, 'gradients', 8)).toThrow(StaleContributionError);
    contribute(a, 'w1', 5, [2, 2, 2, 2, 2, 2, 2, 2], 8);
    expect(a.prepare(5, 1, [{ workerId: 'w1', sampleCount: 8 }])).toBeNull();
  });

  it('refuses a second copy, another version or kind, and a commit of a round it does not hold', () => {
    const a = aggregate();
    contribute(a, 'w1', 0, [1, 1, 1, 1, 1, 1, 1, 1], 8);
    expect(() => a.stage('w1', 0, 1, 'gradients', 8)).toThrow(AlreadyContributedError);
    expect(() => a.stage('w2', 0, 2, 'gradients', 8)).toThrow(/version 2, this slice is at 1/);
    expect(() => a.stage('w2', 0, 1, 'parameters', 8)).toThrow(/expected gradients/);
    expect(() => a.commitRound(3, 0.1)).toThrow(ShardStateError);
    expect(() => new ShardAggregate({ slices, kind: 'gradients', ...hyper, optimizerSteps: 0 }).version).toThrow(/not loaded/);
  });
});
