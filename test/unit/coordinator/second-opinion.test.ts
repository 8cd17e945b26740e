/**
 * The contribution check's second opinion, over the real rounds and sampler:
 * a refused contribution's batches go to another member while its worker
 * sits out, and the refusal counts only when that member's contribution on
 * them is accepted. An honest worker whose batch is an outlier is not
 * quarantined (the other member's contribution on it is refused alike: the
 * batch is at fault, and applied); a garbage worker still is; every sample
 * is applied exactly once per epoch either way. And the direction rule over
 * the same rounds: a sign-flipped worker no single round can tell from an
 * honest one is quarantined by its leave-one-out cosines; honest ones are not.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { planTraining } from '../../../src/runtime/config/train-config.js';
import { epochPermutation } from '../../../src/training/epoch-order.js';
import { ContributionCheck } from '../../../services/coordinator/aggregator/contribution-check.js';
import { NotAMemberError, QuarantinedWorkerError } from '../../../services/coordinator/rounds/errors.js';
import {
  RoundController,
  type Assignment,
  type BatchAtFault,
  type ContributionRefusal,
  type DirectionQuarantine,
} from '../../../services/coordinator/rounds/round-controller.js';
import { AppliedLedger, EpochSampler } from '../../../services/coordinator/sampler/index.js';
import { testConfig } from '../../helpers/test-config.js';
import { FLOATS, LAYOUT } from './round-harness.js';

const BATCH = 16;
const WORKERS = 3;
const COUNT = 480; // 10 rounds of 48 an epoch

/** How a worker's gradient looks for an assignment: the per-sample gradient's size (its direction is the same for all), its values, or it leaves. */
type Behaviour = (a: Assignment, indices: readonly number[]) => number | Float32Array | 'leave';

/** Honest: a size that wobbles with the samples, 0.8x-1.2x. */
const honest = (_a: Assignment, indices: readonly number[]): number => 0.1 * (1 + 0.2 * Math.sin(indices.reduce((s, i) => s + i, 0)));

interface Seen {
  /** Rounds each worker was given work in. */
  assigned: Map<string, number[]>;
  /** Rounds each worker was told its contribution was refused. */
  refused: Map<string, number[]>;
  /** Who contributed which indices in which round, as the rounds accepted them. */
  accepted: { worker: string; round: number; epoch: number; indices: number[] }[];
}

/** A run of `names` workers, each sending what `behaviour` says, until the run finishes or every worker is gone. */
async function run(names: string[], behaviours: Record<string, Behaviour>, o: { epochs: number; count?: number }) {
  const count = o.count ?? COUNT;
  const config = testConfig({ dataDir: '/nonexistent', outDir: '/nonexistent', workers: names.length, batchSize: BATCH, epochs: o.epochs });
  const ledger = new AppliedLedger(count);
  const sampler = new EpochSampler({ seed: 1, count, batchSize: BATCH, syncEvery: 1, globalBatch: BATCH * WORKERS }, { ledger });
  const refusals: ContributionRefusal[] = [];
  const left: string[] = [];
  const atFault: BatchAtFault[] = [];
  const directions: DirectionQuarantine[] = [];
  const controller = new RoundController({
    config,
    plan: planTraining(config, count),
    layout: LAYOUT,
    params: new Float32Array(FLOATS).fill(0.5),
    momentum: new Float32Array(FLOATS),
    sampler,
    contributionCheck: new ContributionCheck(),
    expectedWorkers: names.length,
    roundTimeoutMs: 60_000,
    heartbeatTimeoutMs: 60_000,
    checkpointEveryRounds: 0,
    log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    hooks: {
      onEpochEnd: async () => {},
      onCheckpoint: async () => {},
      onContributionRefused: (r) => refusals.push(r),
      onBatchAtFault: (b) => atFault.push(b),
      onDirectionQuarantine: (q) => directions.push(q),
      onMembership: (c) => {
        if (c.kind === 'left') left.push(c.worker);
      },
    },
  });
  const seen: Seen = { assigned: new Map(), refused: new Map(), accepted: [] };
  const ids = new Map<string, string>();
  const loop = async (name: string, id: string) => {
    for (let from = 0; ; ) {
      let a: Assignment | null;
      try {
        a = await controller.nextRound(id, from);
      } catch {
        return; // evicted
      }
      if (!a) return;
      const indices = a.batches.flatMap((b) => [...b.indices]);
      seen.assigned.set(name, [...(seen.assigned.get(name) ?? []), a.round]);
      const size = behaviours[name]!(a, indices);
      if (size === 'leave') {
        controller.leave(id, 'test');
        return;
      }
      const staged = controller.stageContribution(indices.length, typeof size === 'number' ? new Float32Array(FLOATS).fill(size) : size);
      try {
        controller.contribute(id, {
          round: a.round,
          version: a.version,
          kind: 'gradients',
          sampleCount: indices.length,
          lossSum: indices.length,
          correct: 0,
          values: staged,
        });
        seen.accepted.push({ worker: name, round: a.round, epoch: a.epoch, indices });
      } catch (err) {
        // As the RPC service does: a refused contribution leaves the sum.
        controller.discardContribution(staged);
        if (!(err instanceof NotAMemberError)) throw err;
        seen.refused.set(name, [...(seen.refused.get(name) ?? []), a.round]);
      }
      from = a.round + 1;
      // Let the others' contributions in: the arrival order is not what these tests are about.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  for (const name of names) ids.set(name, controller.register(name));
  const loops = Promise.all(names.map((name) => loop(name, ids.get(name)!)));
  return { controller, ledger, refusals, left, atFault, directions, seen, ids, loops };
}

/** Honest, with an outlier batch: in epoch 1 a shard holding any of `outlier` has a gradient 50x the others'. */
function spikyOn(outlier: ReadonlySet<number>) {
  return (a: Assignment, indices: readonly number[]): number =>
    (a.epoch === 1 && indices.some((i) => outlier.has(i)) ? 50 : 1) * honest(a, indices);
}

/** Epoch 1's round `round` (from 0), first shard: what the first of 3 members trains then. */
function firstShard(round: number): Set<number> {
  const order = epochPermutation(1, 1, COUNT);
  return new Set(order.slice(round * BATCH * WORKERS, round * BATCH * WORKERS + BATCH));
}

describe('contribution check: the second opinion', () => {
  it('does not quarantine an honest worker whose batch is an outlier: the batch is refused for another member too, and applied once', async () => {
    // Early in training one batch's honest gradient is 50x the others' (above the norm rule's 20x the median), whoever trains it.
    const outlier = firstShard(7);
    const spiky = spikyOn(outlier);
    const r = await run(['w-a', 'w-b', 'w-c'], { 'w-a': spiky, 'w-b': spiky, 'w-c': spiky }, { epochs: 2 });
    await r.controller.finished;
    await r.loops;
    // Nobody was quarantined or counted: the first refusal waited for the second, which was refused alike.
    expect(r.left).toEqual([]);
    expect(r.refusals).toEqual([]);
    const firstRefused = [...r.seen.refused.entries()];
    expect(firstRefused).toHaveLength(1);
    const [who, rounds] = firstRefused[0]!;
    expect(rounds).toEqual([7]);
    // Told: the second opinion (round 8, another member) blamed the batch of the refusal of round 7.
    expect(r.atFault.map((b) => [b.round, b.applied.name !== who, b.refused.map((x) => [x.name, x.round])])).toEqual([
      [8, true, [[who, 7]]],
    ]);
    // It sat out the next round, whose first shard (the pool's) went to another member and was applied there.
    expect(r.seen.assigned.get(who)).not.toContain(8);
    const applied = r.seen.accepted.filter((c) => c.epoch === 1 && c.indices.some((i) => outlier.has(i)));
    expect(applied).toHaveLength(1);
    expect(applied[0]!.round).toBe(8);
    expect(applied[0]!.worker).not.toBe(who);
    expect([...outlier].every((i) => applied[0]!.indices.includes(i))).toBe(true);
    for (const epoch of [1, 2]) expect(r.ledger.report(epoch)).toMatchObject({ ok: true, missingCount: 0, repeatedCount: 0 });
  });

  it('still quarantines a worker that computes garbage: its batches are accepted from the others, so its refusals count', async () => {
    const garbage: Behaviour = (a, indices) => (a.round >= 7 ? 100 : 1) * honest(a, indices);
    const r = await run(['w-a', 'w-b', 'w-c'], { 'w-a': honest, 'w-b': garbage, 'w-c': honest }, { epochs: 2 });
    await r.controller.finished;
    await r.loops;
    const bad = r.ids.get('w-b')!;
    expect(r.left).toEqual([bad]);
    expect(() => r.controller.register('w-b')).toThrow(QuarantinedWorkerError);
    // Each refusal reported once its batches were accepted from another member, the third quarantining.
    expect(
      r.refusals.map((x) => [x.name, x.verdict.rule, x.verdict.secondOpinion, x.verdict.recentRefusals, x.verdict.quarantine]),
    ).toEqual([
      ['w-b', 'norm-above', 'confirmed', 1, false],
      ['w-b', 'norm-above', 'confirmed', 2, false],
      ['w-b', 'norm-above', 'confirmed', 3, true],
    ]);
    // Told refused in those rounds, sitting out the round after each.
    const refusedRounds = r.refusals.map((x) => x.round);
    expect(r.seen.refused.get('w-b')).toEqual(refusedRounds);
    for (const round of refusedRounds) expect(r.seen.assigned.get('w-b')).not.toContain(round + 1);
    expect(r.seen.refused.get('w-a') ?? []).toEqual([]);
    expect(r.seen.refused.get('w-c') ?? []).toEqual([]);
    // Its refused batches were trained by the honest members: every sample applied exactly once.
    for (const epoch of [1, 2]) expect(r.ledger.report(epoch)).toMatchObject({ ok: true, missingCount: 0, repeatedCount: 0 });
    expect(r.seen.accepted.filter((c) => c.worker === 'w-b').every((c) => c.round < 7)).toBe(true);
  });

  it('does not blame the batch when the second opinion is garbage on it: an outlier batch refused for a worker scaling x100 is no excuse', async () => {
    const outlier = firstShard(7);
    const spiky = spikyOn(outlier);
    // The second opinion's norm is 100x the first's: not the same batch's gradient.
    const garbage: Behaviour = (a, indices) => (a.round >= 8 ? 100 : 1) * spiky(a, indices);
    // w-a trains the outlier first (it is the first member); w-b, the first member after it sits out, is garbage.
    const r = await run(['w-a', 'w-b', 'w-c'], { 'w-a': spiky, 'w-b': garbage, 'w-c': spiky }, { epochs: 2 });
    await r.controller.finished;
    await r.loops;
    expect(r.seen.refused.get('w-a')).toEqual([7]);
    expect(r.seen.refused.get('w-b')?.[0]).toBe(8);
    // w-a's refusal waited past w-b's garbage to w-c's opinion: refused alike there, the batch was at fault; w-b counted.
    expect(r.refusals.some((x) => x.name === 'w-a' || x.name === 'w-c')).toBe(false);
    expect(r.refusals.filter((x) => x.name === 'w-b').at(-1)!.verdict.quarantine).toBe(true);
    for (const epoch of [1, 2]) expect(r.ledger.report(epoch)).toMatchObject({ ok: true, missingCount: 0, repeatedCount: 0 });
  });

  it('with a single member there is no second opinion: its refusals count at once, as without one', async () => {
    // The others leave while w-a's outlier batch waits for their opinion (the norm rule needs a window of rounds of
    // three members first): it comes back to w-a until the third refusal quarantines it, nobody else could train it.
    const outlier = firstShard(7);
    const spiky = spikyOn(outlier);
    const leaving: Behaviour = (a, indices) => (a.round >= 8 ? 'leave' : spiky(a, indices));
    const r = await run(['w-a', 'w-b', 'w-c'], { 'w-a': spiky, 'w-b': leaving, 'w-c': leaving }, { epochs: 1 });
    await r.loops;
    expect(r.refusals.map((x) => [x.verdict.secondOpinion, x.verdict.recentRefusals, x.verdict.quarantine])).toEqual([
      ['alone', 1, false],
      ['alone', 2, false],
      ['alone', 3, true],
    ]);
    expect(r.left).toEqual([r.ids.get('w-b'), r.ids.get('w-c'), r.ids.get('w-a')]);
    expect(r.refusals.map((x) => x.round)).toEqual([7, 9, 10]);
    r.controller.close('test over');
  });
});

/**
 * Gradients that barely agree, as small batches give: a shared direction (the first float) and each worker's own
 * noise, twice its size, along a float of its own that changes every round. Two honest ones have a cosine of 0.2;
 * `flipped` sends the negative of its honest gradient: -0.2 against one honest, -0.26 against two, above the cosine
 * rule's -0.3 every round.
 */
function smallBatch(worker: number, flipped = false): Behaviour {
  return (a) => {
    const g = new Float32Array(FLOATS);
    g[0] = 1;
    g[1 + ((worker + a.round) % (FLOATS - 1))] = 2;
    return flipped ? g.map((v) => -v) : g;
  };
}

describe('contribution check: the direction rule, over the real rounds', () => {
  it('quarantines a sign-flipped worker the cosine rule lets through every round; its applied contributions stay applied once', async () => {
    const r = await run(['w-a', 'w-b', 'w-c'], { 'w-a': smallBatch(0), 'w-b': smallBatch(1, true), 'w-c': smallBatch(2) }, { epochs: 3 });
    await r.controller.finished;
    await r.loops;
    const bad = r.ids.get('w-b')!;
    // No round refused it: the per-round rules could not tell.
    expect(r.refusals).toEqual([]);
    expect(r.seen.refused.get('w-b') ?? []).toEqual([]);
    expect(r.directions).toEqual([expect.objectContaining({ worker: bad, name: 'w-b', lowest: 12, rounds: 12, directionLowest: 12 })]);
    const q = r.directions[0]!;
    // Its leave-one-out cosine against two honest ones: -2 / (sqrt(5) sqrt(12)).
    expect(q.cosine).toBeCloseTo(-2 / Math.sqrt(60), 5);
    expect(q.meanCosine).toBeCloseTo(q.cosine, 5);
    expect(r.left).toEqual([bad]);
    expect(() => r.controller.register('w-b')).toThrow(QuarantinedWorkerError);
    // Not judged in the warm-up (rounds 0-4), then 12 full rounds against it: 5 to 16.
    expect(q.round).toBe(16);
    expect(r.seen.accepted.filter((c) => c.worker === 'w-b').every((c) => c.round <= 16)).toBe(true);
    for (const epoch of [1, 2, 3]) expect(r.ledger.report(epoch)).toMatchObject({ ok: true, missingCount: 0, repeatedCount: 0 });
  });

  it('quarantines nobody among honest workers whose gradients barely agree', async () => {
    const r = await run(['w-a', 'w-b', 'w-c'], { 'w-a': smallBatch(0), 'w-b': smallBatch(1), 'w-c': smallBatch(2) }, { epochs: 3 });
    await r.controller.finished;
    await r.loops;
    expect([r.directions, r.refusals, r.left]).toEqual([[], [], []]);
  });
});
