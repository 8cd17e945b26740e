/**
 * The contribution check: a worker whose gradients are finite but wrong (a
 * failing GPU, a bad host: silent data corruption) is told apart from the
 * others by two figures computed while its contribution is summed (no second
 * pass over memory): the L2 norm of its per-sample gradient, and its cosine
 * with the sum of the contributions the round accepted before it (the same
 * parameters, other samples). The rule (docs/architecture.md, "Contribution
 * check"):
 *
 * - norm: refused when above `normFactor` x the median norm of the accepted
 *   contributions of the last `windowRounds` rounds (all workers). A median
 *   is not moved by one bad worker among three. There is no lower bound: a
 *   tiny gradient adds next to nothing, and honest norms fall by far more
 *   than any safe factor as the loss goes to zero (measured: 0.03x the
 *   window's median on the test data).
 * - cosine: refused when below `cosineMin`: honest gradients of one round
 *   point the same way (measured cosines: median 0.65), a sign-flipped one
 *   the other way. Norm alone cannot see a sign flip. Judged only when the
 *   round already holds a contribution (the first to arrive has nothing to
 *   be compared with: the run's recent direction is too noisy for a
 *   rule, median cosine 0.06) and only for full shards.
 *
 * - clip: an accepted contribution above `clipFactor` x the median is scaled
 *   down to it before it joins the sum (bounded influence): what passes under
 *   the norm factor, noise with no direction included, moves the run by at
 *   most that. A cosine near 0 is no rule: honest cosines fall that low too.
 *   Not for an epoch's leftover (its norm is not comparable); not counted.
 *
 * The first `warmupRounds` rounds only collect (no median yet).
 * A member refused `quarantineAfter` times within the last `quarantineWithin`
 * rounds it took part in is quarantined: evicted, and its name refused for
 * the rest of the run.
 *
 * Second opinion: a batch whose honest gradient is far off is refused for
 * whoever trains it, so a norm-above or cosine refusal judged with `defer`
 * is not recorded until another member has trained the same batches
 * (`settle`): accepted from it, the refusal counts; refused by the same rule
 * with a like norm (`sameBatch`), the batch is at fault and neither counts.
 */
export interface ContributionCheckOptions {
  normFactor: number;
  /** Accepted norms above this times the median are scaled down to it; 0: never. */
  clipFactor: number;
  cosineMin: number;
  warmupRounds: number;
  windowRounds: number;
  quarantineAfter: number;
  quarantineWithin: number;
  /** The direction rule: quarantined when the round's lowest leave-one-out cosine, and negative, in `directionLowest` of its last `directionWindow` full rounds. */
  directionWindow: number;
  directionLowest: number;
}

export const CONTRIBUTION_CHECK_DEFAULTS: ContributionCheckOptions = {
  normFactor: 4,
  clipFactor: 3,
  cosineMin: -0.3,
  warmupRounds: 5,
  windowRounds: 20,
  quarantineAfter: 3,
  quarantineWithin: 5,
  // An honest member was the lowest, and negative, in 5-17% of full rounds (3 workers, the garbage-worker bench's
  // data): 12 of 20 by chance at 17% is a probability of about 1e-5 a round; a sign-flipped one was in 55-70%.
  directionWindow: 20,
  directionLowest: 12,
};

/** What a contribution looked like as it was summed. */
export interface ContributionFigures {
  /** L2 norm of the per-sample (averaged) gradient. */
  norm: number;
  /** Cosine with the round's earlier contributions; null for the round's first. */
  cosine: number | null;
}

/**
 * conflict: the round held one contribution and this one points against it, neither on probation: which
 * is wrong cannot be told; both go, not counted (the earlier stays when the last round applied nothing:
 * an honest pair served again at the same parameters would conflict again, forever). probation: refused recently and first in its round (nothing to compare it with) while a member in good standing is to come: held back, not counted. */
export type CheckRule = 'norm-above' | 'cosine' | 'probation' | 'conflict';

/**
 * Where a deferred refusal stands. pending: not recorded yet, its batches go to another member first. confirmed:
 * another member's contribution on them was accepted, so it counts. alone: no other member to ask (today's rule: it
 * counts). batch: another member's contribution on them was refused by the same rule with a like norm: the batch is
 * at fault, not counted.
 */
export type SecondOpinion = 'pending' | 'confirmed' | 'alone' | 'batch';

/** Two refusals of the same batches blame the batch only when their norms are within this factor of each other. */
export const SAME_BATCH_NORM_RATIO = 4;

export interface CheckVerdict {
  accepted: boolean;
  /** Why it was refused (absent when accepted). */
  rule?: CheckRule;
  /** The figures and the bounds they were held to. */
  figures: ContributionFigures & { medianNorm: number | null; normFactor: number; clipFactor: number; cosineMin: number };
  /** Refused, and this member's refusals reached the quarantine limit. */
  quarantine: boolean;
  /** Refusals within the member's last `quarantineWithin` rounds, this one included. */
  recentRefusals: number;
  /**
   * The round's one earlier contribution, to drop from the sum: it and this one point against each
   * other and it is the one on probation (`refusal`: its counted refusal), or it cannot be told which
   * is wrong (`refusal` absent: this one is refused too, as a conflict).
   */
  dropEarlier?: { member: string; refusal?: CheckVerdict };
  /** A norm-above or cosine refusal judged with `defer`: where its second opinion stands (ContributionCheck.settle). */
  secondOpinion?: SecondOpinion;
  /** Accepted above the clip bound: the factor (below 1) its values are scaled by before they join the sum. */
  clip?: number;
}

/** A member the direction rule quarantines: its figures over its last full rounds. */
export interface DirectionVerdict {
  member: string;
  /** Full rounds (of its last `rounds`) in which its leave-one-out cosine was the round's lowest, and negative. */
  lowest: number;
  rounds: number;
  /** Its leave-one-out cosine in the round that decided, and the mean over its last `rounds`. */
  cosine: number;
  meanCosine: number;
  directionLowest: number;
}

/** The norm window as the run checkpoint keeps it. */
export interface NormWindowState {
  roundsSeen: number;
  norms: { round: number; values: number[] }[];
}

/** The rule's state over the run: recent accepted norms by round, each member's recent outcomes. */
export class ContributionCheck {
  readonly o: ContributionCheckOptions;
  /** Accepted norms of recent rounds, oldest first. */
  private readonly norms: { round: number; values: number[] }[] = [];
  /** Rounds with at least one accepted contribution, seen so far. */
  private roundsSeen = 0;
  /** Per member: its last outcomes (true = refused), newest last. */
  private readonly outcomes = new Map<string, boolean[]>();
  /** Per member: its leave-one-out cosine in its last full rounds, and whether it was the round's lowest and negative. */
  private readonly directions = new Map<string, { cosine: number; lowest: boolean }[]>();

  constructor(options: Partial<ContributionCheckOptions> = {}) {
    this.o = { ...CONTRIBUTION_CHECK_DEFAULTS, ...options };
    if (!(this.o.normFactor > 1)) throw new RangeError(`normFactor must be > 1, got ${this.o.normFactor}`);
    if (!(this.o.clipFactor === 0 || this.o.clipFactor >= 1))
      throw new RangeError(`clipFactor must be 0 or >= 1, got ${this.o.clipFactor}`);
  }

  /**
   * The median of the accepted norms of the last `windowRounds` rounds before
   * `round` (all of them by default), or null while warming up. A round's
   * contributions are judged against the rounds before it only: the same
   * bound whichever arrives first, so a run's result does not depend on
   * arrival order (a resumed run ends with the weights of an uninterrupted one).
   */
  medianNorm(round = Number.POSITIVE_INFINITY): number | null {
    const before = this.norms.filter((r) => r.round < round);
    if (this.roundsSeen - (this.norms.length - before.length) < this.o.warmupRounds) return null;
    const all = before
      .slice(-this.o.windowRounds)
      .flatMap((r) => r.values)
      .sort((a, b) => a - b);
    if (all.length === 0) return null;
    const mid = all.length >> 1;
    return all.length % 2 ? all[mid]! : (all[mid - 1]! + all[mid]!) / 2;
  }

  /**
   * Judges `member`'s contribution to `round` and records the outcome (an
   * accepted norm joins the window). `partial`: its direction cannot be
   * judged (a round of fewer than three members has no majority), so only
   * the norm rules apply to it, and its norm stays out of the window (with
   * one or two members an outlier batch has nobody, or one, to give a second
   * opinion: fed by such rounds, the window quarantined a lone honest worker
   * whose loss had gone to zero, one batch at 25x refused over and over).
   * `leftover`: partial by its size (an epoch's last scraps, half a batch or
   * less): its norm is not comparable, so it is not clipped either;
   * accepted, it is not a round the member's outcomes count: it could not
   * have caught a direction fault, and a worker that sits out for second
   * opinions plays fewer full rounds to weigh it against.
   */
  judge(
    member: string,
    round: number,
    f: ContributionFigures,
    o: {
      partial?: boolean;
      /** Partial by its size (half a batch or less); implies partial. */
      leftover?: boolean;
      othersPending?: readonly string[];
      /** The round's sum holds exactly one contribution, this member's. */
      alone?: string;
      /** Refuse without judging, counted, by this rule (an earlier contribution found bad: dropEarlier). */
      blame?: CheckRule;
      /** The last round applied nothing: a conflict keeps the earlier contribution. */
      keepEarlier?: boolean;
      /** A norm-above or cosine refusal is not recorded (secondOpinion 'pending'): `settle` records it later. */
      defer?: boolean;
    } = {},
  ): CheckVerdict {
    const leftover = o.leftover ?? false;
    const partial = (o.partial ?? false) || leftover;
    const defer = o.defer ?? false;
    // Against a single earlier contribution, a cosine refusal blames the one on probation, or neither.
    if (o.alone !== undefined && !partial && f.cosine !== null && f.cosine < this.o.cosineMin) {
      const mine = this.onProbation(member);
      const theirs = this.onProbation(o.alone);
      if (!(mine && !theirs)) {
        const against = { norm: f.norm, cosine: f.cosine };
        if (theirs && !mine) {
          const refusal = this.judge(o.alone, round, against, { blame: 'cosine' });
          return {
            ...this.judge(member, round, { ...f, cosine: null }, { partial, leftover, defer }),
            dropEarlier: { member: o.alone, refusal: { ...refusal, figures: { ...refusal.figures, ...against } } },
          };
        }
        return {
          accepted: false,
          rule: 'conflict',
          figures: {
            ...f,
            medianNorm: this.medianNorm(round),
            normFactor: this.o.normFactor,
            clipFactor: this.o.clipFactor,
            cosineMin: this.o.cosineMin,
          },
          quarantine: false,
          recentRefusals: (this.outcomes.get(member) ?? []).filter(Boolean).length,
          ...(o.keepEarlier ? {} : { dropEarlier: { member: o.alone } }),
        };
      }
    }
    const blame = o.blame;
    const medianNorm = this.medianNorm(round);
    const { normFactor, clipFactor, cosineMin } = this.o;
    let rule: CheckRule | undefined = blame;
    if (blame) {
      // A counted refusal of an earlier contribution (dropEarlier): no figures of its own to judge.
    } else if (!Number.isFinite(f.norm)) rule = 'norm-above';
    else if (medianNorm !== null) {
      if (f.norm > normFactor * medianNorm) rule = 'norm-above';
      // A partial contribution (an epoch's leftover samples): its direction is noisier.
      else if (!partial && f.cosine !== null && f.cosine < cosineMin) rule = 'cosine';
      // Accepted first, a sign-flipped gradient would make the honest ones after it look flipped: a member
      // refused recently waits for one in good standing to arrive first (its samples go back to the pool).
      else if (f.cosine === null && this.onProbation(member) && (o.othersPending ?? []).some((m) => !this.onProbation(m)))
        rule = 'probation';
    }
    const accepted = rule === undefined;
    if (accepted && !partial) this.noteNorm(round, f.norm);
    const clip = accepted && !leftover ? this.clipScale(f.norm, medianNorm) : undefined;
    const deferred = defer && !blame && (rule === 'norm-above' || rule === 'cosine');
    if (rule !== 'probation' && !deferred && !(accepted && leftover)) this.record(member, !accepted);
    const recentRefusals = this.recentRefusals(member);
    return {
      accepted,
      ...(rule ? { rule } : {}),
      figures: { ...f, medianNorm, normFactor, clipFactor, cosineMin },
      quarantine: !accepted && rule !== 'probation' && !deferred && recentRefusals >= this.o.quarantineAfter,
      recentRefusals,
      ...(deferred ? { secondOpinion: 'pending' as const } : {}),
      ...(clip !== undefined ? { clip } : {}),
    };
  }

  /** The factor that scales `norm` down to the clip bound (clipFactor x `medianNorm`), or undefined when it is under it. */
  clipScale(norm: number, medianNorm: number | null): number | undefined {
    const bound = this.o.clipFactor * (medianNorm ?? 0);
    return bound > 0 && Number.isFinite(norm) && norm > bound ? bound / norm : undefined;
  }

  /**
   * Records a deferred refusal of `member` (`verdict`, secondOpinion 'pending') once its second opinion is known:
   * 'confirmed' and 'alone' count it (and may quarantine), 'batch' records the round as not refused. The member
   * sat out the rounds in between (the runner leaves it out of them), so its outcomes stay in round order.
   */
  settle(member: string, verdict: CheckVerdict, opinion: Exclude<SecondOpinion, 'pending'>): CheckVerdict {
    const counted = opinion !== 'batch';
    this.record(member, counted);
    const recentRefusals = this.recentRefusals(member);
    return { ...verdict, secondOpinion: opinion, quarantine: counted && recentRefusals >= this.o.quarantineAfter, recentRefusals };
  }

  /**
   * Whether a second opinion blames the batch: both refused by the norm rule, with norms within
   * SAME_BATCH_NORM_RATIO of each other (the same samples at nearby parameters give a like gradient; a worker
   * scaling garbage on an outlier batch does not). Never for the cosine rule: a sign-flipped worker keeps its
   * norm, and asked about an honest batch the cosine rule refused (refused because the flipped contribution
   * came earlier in its round) it would be refused alike, clear the honest worker and have its own applied.
   */
  sameBatch(first: CheckVerdict, second: CheckVerdict): boolean {
    if (first.accepted || second.accepted || first.rule !== 'norm-above' || second.rule !== 'norm-above') return false;
    const a = first.figures.norm;
    const b = second.figures.norm;
    if (!Number.isFinite(a) || !Number.isFinite(b) || !(a > 0) || !(b > 0)) return false;
    return Math.max(a, b) / Math.min(a, b) <= SAME_BATCH_NORM_RATIO;
  }

  private record(member: string, refused: boolean): void {
    const history = this.outcomes.get(member) ?? [];
    history.push(refused);
    while (history.length > this.o.quarantineWithin) history.shift();
    this.outcomes.set(member, history);
  }

  private recentRefusals(member: string): number {
    return (this.outcomes.get(member) ?? []).filter(Boolean).length;
  }

  /**
   * A round that applied nothing because the norm rule refused every one of
   * its contributions (two or more): the run moved, not the workers (a
   * diverging loss grows every gradient at once, faster than the window's
   * median follows). The window starts again (warm-up) and these refusals
   * are not counted, so honest workers of a diverging run are not
   * quarantined; the run goes on to its own divergence error.
   */
  runMoved(members: readonly string[]): void {
    this.norms.length = 0;
    this.roundsSeen = 0;
    for (const m of members) {
      const history = this.outcomes.get(m);
      if (history && history.at(-1) === true) history[history.length - 1] = false;
    }
  }

  /** Refused within its last `quarantineWithin` judged rounds. */
  onProbation(member: string): boolean {
    return this.outcomes.get(member)?.includes(true) ?? false;
  }

  /**
   * The norm window, for the run checkpoint: a resumed run judges and clips
   * as the uninterrupted one would (an empty window warms up again and
   * clips nothing for 5 rounds).
   */
  windowState(): NormWindowState {
    return { roundsSeen: this.roundsSeen, norms: this.norms.map((r) => ({ round: r.round, values: [...r.values] })) };
  }

  /** Takes a checkpoint's norm window (windowState); throws on a malformed one. */
  restoreWindow(state: NormWindowState): void {
    const ok =
      Number.isInteger(state?.roundsSeen) &&
      state.roundsSeen >= 0 &&
      Array.isArray(state.norms) &&
      state.norms.every(
        (r) => Number.isInteger(r?.round) && Array.isArray(r.values) && r.values.every((v) => typeof v === 'number' && v >= 0),
      );
    if (!ok) throw new RangeError('the contribution check norm window is malformed');
    this.roundsSeen = state.roundsSeen;
    this.norms.length = 0;
    for (const r of state.norms.slice(-(this.o.windowRounds + 1))) this.norms.push({ round: r.round, values: [...r.values] });
  }

  /**
   * The direction rule, over rounds: `cosines` are a closed round's
   * leave-one-out cosines (leaveOneOutCosines: each applied full
   * contribution against the sum of the others, three or more). A
   * sign-flipped gradient can pass the cosine rule round after round when
   * honest gradients barely agree (a small batch: honest cosines of 0.2, a
   * flipped one of -0.2, both above cosineMin), and then it is applied. Its
   * leave-one-out cosine is the round's lowest far more often than an honest
   * member's, whose rank is uniform whatever the gradients' noise: a member
   * that is the lowest, with a negative cosine, in `directionLowest` of its
   * last `directionWindow` full rounds, and below 0 on average over them, is
   * returned, to be quarantined. Not during the warm-up (the first rounds'
   * gradients turn fast).
   */
  noteDirections(cosines: readonly { member: string; cosine: number }[]): DirectionVerdict[] {
    if (cosines.length < 3 || this.roundsSeen <= this.o.warmupRounds) return [];
    const low = cosines.reduce((a, b) => (b.cosine < a.cosine ? b : a));
    const out: DirectionVerdict[] = [];
    for (const c of cosines) {
      const history = this.directions.get(c.member) ?? [];
      history.push({ cosine: c.cosine, lowest: c === low && c.cosine < 0 });
      while (history.length > this.o.directionWindow) history.shift();
      this.directions.set(c.member, history);
      const lowest = history.filter((h) => h.lowest).length;
      const meanCosine = history.reduce((n, h) => n + h.cosine, 0) / history.length;
      // And against the others on average: an honest member's mean is positive wherever the gradients have a direction.
      if (lowest >= this.o.directionLowest && meanCosine < 0)
        out.push({
          member: c.member,
          lowest,
          rounds: history.length,
          cosine: c.cosine,
          meanCosine,
          directionLowest: this.o.directionLowest,
        });
    }
    return out;
  }

  /** Forgets a member (left, evicted, quarantined). */
  forget(member: string): void {
    this.outcomes.delete(member);
    this.directions.delete(member);
  }

  private noteNorm(round: number, norm: number): void {
    let last = this.norms.at(-1);
    if (!last || last.round !== round) {
      last = { round, values: [] };
      this.norms.push(last);
      this.roundsSeen++;
      // One more than the window: the round being judged, and the windowRounds before it.
      while (this.norms.length > this.o.windowRounds + 1) this.norms.shift();
    }
    last.values.push(norm);
  }
}

/** Buckets of a contribution's count sketch (FigureSums.sketch): a cosine between two sketches is within about 1/sqrt(this) of the true one. */
export const SKETCH_BUCKETS = 4096;
const SKETCH_SHIFT = 32 - Math.log2(SKETCH_BUCKETS);

/**
 * Running sums of a contribution's figures, chunk by chunk: its squared
 * norm, its dot product with the round's sum so far (the contributions
 * accepted before it in this round, at the same parameters) with that sum's
 * squared norm, and its count sketch. One pass over the chunk, as it is
 * summed.
 *
 * The sketch (each value added, with a sign, into one of SKETCH_BUCKETS
 * buckets, both picked by hashing its index) is linear and keeps dot
 * products: after the round, each contribution's cosine with the sum of all
 * the others comes from the sketches alone (leaveOneOutCosines), whatever
 * the order they arrived in, without keeping any contribution (the
 * coordinator holds one model-sized sum however many workers contribute).
 */
export class FigureSums {
  sumSq = 0;
  roundDot = 0;
  roundSq = 0;
  readonly sketch = new Float64Array(SKETCH_BUCKETS);

  /** `roundCount`: how many contributions the round's sum held when this one was staged. */
  constructor(private readonly roundCount = 0) {}

  /** `roundSum`: the round's sum at the chunk's offset (null when the round has none yet); `offset`: the chunk's first index. */
  add(values: Float32Array, roundSum: Float32Array | null, offset = 0): void {
    let sq = 0;
    let rdot = 0;
    let rsq = 0;
    const sketch = this.sketch;
    if (roundSum) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        const r = roundSum[i]!;
        sq += v * v;
        rdot += v * r;
        rsq += r * r;
        const j = offset + i;
        sketch[Math.imul(j, 0x9e3779b1) >>> SKETCH_SHIFT]! += Math.imul(j, 0x85ebca6b) < 0 ? -v : v;
      }
    } else {
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        sq += v * v;
        const j = offset + i;
        sketch[Math.imul(j, 0x9e3779b1) >>> SKETCH_SHIFT]! += Math.imul(j, 0x85ebca6b) < 0 ? -v : v;
      }
    }
    this.sumSq += sq;
    this.roundDot += rdot;
    this.roundSq += rsq;
  }

  /** The norm, and the cosine with the round's earlier contributions (null for the round's first). */
  figures(): ContributionFigures {
    const norm = Math.sqrt(this.sumSq);
    if (this.roundCount === 0) return { norm, cosine: null };
    return { norm, cosine: norm > 0 && this.roundSq > 0 ? this.roundDot / (norm * Math.sqrt(this.roundSq)) : 0 };
  }
}

/** A contribution the round applied, for its direction: its sketch (FigureSums.sketch), scaled as it was summed. */
export interface SketchedContribution {
  member: string;
  weight: number;
  /** The clip's factor (1 when not clipped). */
  scale: number;
  sketch: Float64Array;
}

/**
 * Each contribution's cosine with the weighted sum of the round's others,
 * from their sketches (order-independent: the first to arrive is judged
 * like the last). Fewer than 3: none (with two, each one's "others" is the
 * other: a disagreement cannot say which side is wrong).
 */
export function leaveOneOutCosines(applied: readonly SketchedContribution[]): { member: string; cosine: number }[] {
  if (applied.length < 3) return [];
  const total = new Float64Array(SKETCH_BUCKETS);
  for (const a of applied) for (let b = 0; b < SKETCH_BUCKETS; b++) total[b]! += a.weight * a.scale * a.sketch[b]!;
  return applied.map((a) => {
    const f = a.weight * a.scale;
    let dot = 0;
    let own = 0;
    let rest = 0;
    for (let b = 0; b < SKETCH_BUCKETS; b++) {
      const mine = f * a.sketch[b]!;
      const others = total[b]! - mine;
      dot += mine * others;
      own += mine * mine;
      rest += others * others;
    }
    return { member: a.member, cosine: own > 0 && rest > 0 ? dot / Math.sqrt(own * rest) : 0 };
  });
}
