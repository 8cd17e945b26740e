import { WeightedSum, type StagedContribution } from '../aggregator/weighted-sum.js';
import { ParameterStore, type ParameterLease } from '../parameters/parameter-store.js';
import { applySgd } from '../optimizer/sgd-update.js';
import { AlreadyContributedError, StaleContributionError } from '../rounds/errors.js';
import type { UpdateKind } from '../optimizer/round-update.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import type { VectorMemory } from '../../../src/compute/vector-math/index.js';
import { FleetError } from '../../../src/runtime/errors.js';

/** A call out of turn: a round closed that this aggregator holds nothing of, a slice not loaded yet. */
export class ShardStateError extends FleetError {}

export interface ShardAggregateOptions {
  /** The slice's tensors, packed from offset 0. */
  slices: readonly WeightSlice[];
  kind: UpdateKind;
  momentum: number;
  weightDecay: number;
  /** Optimizer steps already taken: the first step starts the momentum (as RoundUpdate). */
  optimizerSteps: number;
  vectors?: VectorMemory;
}

/** A round's contributions as the coordinator counts them: who, with what weight. */
export interface Contributor {
  workerId: string;
  sampleCount: number;
}

/**
 * One aggregator's slice of the run (--shards K): its master values and
 * momentum, the round's running sum of the workers' slices, and the update
 * the coordinator commits. The sum is the coordinator's (WeightedSum:
 * sum + weight x values, in arrival order, one staged contribution at a
 * time) and the update the same elementwise kernels per tensor (applySgd),
 * so each float ends as it would in one aggregator. Which contributions
 * count is the coordinator's call: PREPARE checks this slice holds exactly
 * those, COMMIT applies them, ABORT drops them.
 */
export class ShardAggregate {
  private store: ParameterStore | null = null;
  private readonly sum: WeightedSum;
  private steps: number;
  /** The round the sum holds contributions of (-1: none). */
  private round = -1;
  /** Rounds up to this one are closed (committed or aborted): a late slice of one is refused. */
  private closedThrough = -1;
  private readonly contributors = new Map<string, number>();
  /** PREPAREs waiting for contributions still on their way (a worker's slices travel in parallel). */
  private waiters: { round: number; expected: readonly Contributor[]; done: () => void }[] = [];
  readonly floats: number;

  constructor(private readonly o: ShardAggregateOptions) {
    this.floats = o.slices.reduce((n, s) => n + s.length, 0);
    this.sum = new WeightedSum(this.floats, o.vectors);
    this.steps = o.optimizerSteps;
  }

  /** Takes over `params` and `momentum` (the slice's) at `version`; anything summed is dropped. */
  load(params: Float32Array, momentum: Float32Array, version: number): void {
    if (params.length !== this.floats || momentum.length !== this.floats)
      throw new ShardStateError(`load of ${params.length} values and ${momentum.length} momentum floats; the slice has ${this.floats}`);
    this.store = new ParameterStore({ params, momentum, version, retainVersions: 0 });
    this.reset();
  }

  private get parameters(): ParameterStore {
    if (!this.store) throw new ShardStateError('the slice is not loaded yet (the coordinator loads it before the first round)');
    return this.store;
  }

  get version(): number {
    return this.parameters.version;
  }

  get loaded(): boolean {
    return this.store !== null;
  }

  acquire(version: number): ParameterLease {
    return this.parameters.acquire(version);
  }

  /** The current values and momentum (between rounds: a checkpoint's gather). */
  current(): { version: number; params: Float32Array; momentum: Float32Array } {
    const p = this.parameters;
    return { version: p.version, params: p.values, momentum: p.momentum };
  }

  /**
   * Opens a worker's slice of round `round` (from `version`) for summing as
   * it arrives; refused unless it fits: the current version, not a round
   * already closed, not a second copy. A later round than the sum's means
   * the sum's round was abandoned: it is dropped first.
   */
  stage(workerId: string, round: number, version: number, kind: UpdateKind, sampleCount: number): StagedContribution {
    const current = this.parameters.version;
    if (version !== current)
      throw new StaleContributionError(
        workerId,
        round,
        this.round < 0 ? null : this.round,
        `started from version ${version}, this slice is at ${current}`,
      );
    if (kind !== this.o.kind) throw new StaleContributionError(workerId, round, null, `expected ${this.o.kind}, got ${kind}`);
    if (round <= this.closedThrough || round < this.round)
      throw new StaleContributionError(workerId, round, this.round < 0 ? null : this.round, 'a round already closed');
    if (round > this.round) {
      this.reset();
      this.round = round;
    }
    if (this.contributors.has(workerId)) throw new AlreadyContributedError(workerId, round);
    return this.sum.stage(sampleCount);
  }

  /** Makes a complete staged slice part of its round's sum. */
  commit(workerId: string, round: number, staged: StagedContribution): void {
    if (round !== this.round) throw new StaleContributionError(workerId, round, this.round, 'its round was dropped meanwhile');
    if (this.contributors.has(workerId)) throw new AlreadyContributedError(workerId, round);
    this.sum.commit(staged);
    this.contributors.set(workerId, staged.weight);
    this.waiters = this.waiters.filter((w) => {
      if (!this.holds(w.round, w.expected)) return true;
      w.done();
      return false;
    });
  }

  private holds(round: number, expected: readonly Contributor[]): boolean {
    return this.round === round && expected.every((c) => this.contributors.has(c.workerId));
  }

  /**
   * Resolves once the sum holds a contribution of every worker in
   * `expected` for `round`, or after `timeoutMs` (then prepare names what is
   * missing). A worker sends its slices to every aggregator at once, so the
   * coordinator may count a contribution whose slice here is still arriving.
   */
  whenHolding(round: number, expected: readonly Contributor[], timeoutMs: number): Promise<void> {
    if (this.holds(round, expected)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        round,
        expected,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  discard(staged: StagedContribution): void {
    this.sum.discard(staged);
  }

  /** PREPARE: null when the sum holds exactly `expected` for `round` from `version`, else what differs. */
  prepare(round: number, version: number, expected: readonly Contributor[]): string | null {
    if (version !== this.parameters.version)
      return `this slice is at version ${this.parameters.version}, the round started from ${version}`;
    const held = this.round === round ? this.contributors : new Map<string, number>();
    const missing = expected.filter((c) => held.get(c.workerId) !== c.sampleCount).map((c) => c.workerId);
    const names = new Set(expected.map((c) => c.workerId));
    const extra = [...held.keys()].filter((w) => !names.has(w));
    if (missing.length === 0 && extra.length === 0) return null;
    return `round ${round}: ${missing.length ? `missing or different: ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `not counted by the coordinator: ${extra.join(', ')}` : ''}`;
  }

  /** COMMIT: the round's average becomes the next version (after a successful prepare of the same round). */
  commitRound(round: number, lr: number): number {
    const store = this.parameters;
    if (this.round !== round || this.sum.contributions === 0)
      throw new ShardStateError(
        `commit of round ${round}: this slice holds ${this.sum.contributions} contributions of round ${this.round}`,
      );
    const averaged = this.sum.average();
    store.update((params, momentum) => {
      if (this.o.kind === 'parameters') {
        params.set(averaged);
        return;
      }
      const hyper = { lr, momentum: this.o.momentum, weightDecay: this.o.weightDecay };
      applySgd(params, momentum, averaged, this.o.slices, hyper, this.steps === 0);
      this.steps++;
    });
    this.closedThrough = round;
    this.reset();
    return store.version;
  }

  /** ABORT: the round's contributions are dropped; the version stays. */
  abort(round: number): void {
    this.closedThrough = Math.max(this.closedThrough, round);
    if (this.round <= round) this.reset();
  }

  private reset(): void {
    this.sum.reset();
    this.contributors.clear();
    this.round = -1;
  }
}
