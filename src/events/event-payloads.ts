import { z } from 'zod';

/**
 * The payload of each event type: the contract between the services that
 * publish (coordinator, evaluator, the sweep driver) and those that read
 * (evaluator, fleet watch, tools reading `fleet watch --json`). Validated on publish and on
 * receipt; docs/events.md lists them for people.
 */
const count = z.number().int().min(0);
const worker = z.string().min(1).max(200);
const fraction = z.number().min(0).max(1);
const finite = z.number().finite();
/** A sweep's trial id (t000, t001...) and what it varies. */
const trial = z.string().min(1).max(100);
const trialParams = z.record(z.string().max(200), z.union([z.string().max(500), z.number(), z.boolean()]));
const trialStatus = z.enum(['pending', 'running', 'finished', 'pruned', 'failed']);

export const eventPayloadSchemas = {
  /** The coordinator started (or resumed) a run: what `fleet watch` needs for its totals and ETA. */
  'run.started': z.object({
    workers: z.number().int().min(1),
    model: z.string().min(1),
    epochs: z.number().int().min(1),
    batchSize: z.number().int().min(1),
    syncEvery: z.number().int().min(1),
    trainSamples: count,
    testSamples: count,
    totalSteps: count,
    /** The parameter version the run starts from: 0, or the checkpoint's on --resume. */
    version: count,
    resumed: z.boolean(),
  }),
  'worker.joined': z.object({ worker, name: z.string().max(200), members: count }),
  'worker.left': z.object({ worker, reason: z.string().max(500), members: count }),
  /** A contribution the coordinator's contribution check refused (finite but far off): its batches are trained again by others. */
  'worker.contribution_refused': z.object({
    worker,
    name: z.string().max(200),
    round: count,
    epoch: z.number().int().min(1),
    /**
     * norm-above (above the factor x the recent median), cosine (against the round's other contributions), or
     * probation (refused recently and first to arrive: held back until one in good standing is in; not counted),
     * conflict (it and the round's one earlier contribution point against each other, neither on probation:
     * both dropped, the earlier kept after a round that applied nothing; not counted).
     */
    rule: z.enum(['norm-above', 'cosine', 'probation', 'conflict']),
    norm: z.number().min(0).nullable(),
    medianNorm: z.number().min(0).nullable(),
    cosine: finite.nullable(),
    normFactor: z.number().min(1),
    cosineMin: finite,
    /** Refusals within the worker's recent rounds, this one included. */
    recentRefusals: count,
    /**
     * A norm-above or cosine refusal counted once other members' accepted contributions applied its batches
     * (confirmed), or at once with no other member to ask (alone); absent for the other rules.
     */
    secondOpinion: z.enum(['confirmed', 'alone']).optional(),
  }),
  /**
   * A second opinion blamed the batch: a contribution refused by the norm rule on batches whose earlier refusals
   * (`refused`) waited for another member's opinion, with a like norm. None is counted; this one is applied (clipped).
   */
  'worker.batch_at_fault': z.object({
    round: count,
    epoch: z.number().int().min(1),
    worker,
    name: z.string().max(200),
    norm: z.number().min(0),
    medianNorm: z.number().min(0).nullable(),
    refused: z
      .array(z.object({ worker, name: z.string().max(200), round: count, norm: z.number().min(0) }))
      .min(1)
      .max(64),
  }),
  /** An accepted contribution whose norm was above `clipFactor` x `medianNorm`: scaled by `scale` (below 1) down to that bound before it was summed. */
  'worker.contribution_clipped': z.object({
    worker,
    name: z.string().max(200),
    round: count,
    epoch: z.number().int().min(1),
    norm: z.number().min(0),
    medianNorm: z.number().min(0),
    cosine: finite.nullable(),
    clipFactor: z.number().min(1),
    scale: z.number().gt(0).max(1),
  }),
  /**
   * A worker refused repeatedly, evicted and its name refused for the rest of the run; the figures of its last refusal.
   * rule 'direction': none was refused; its leave-one-out cosine (`cosine`) was the round's lowest and negative in
   * `lowest` of its last `rounds` full rounds (`directionLowest` needed), `meanCosine` over them.
   */
  'worker.quarantined': z.object({
    worker,
    name: z.string().max(200),
    round: count,
    rule: z.enum(['norm-above', 'cosine', 'direction']),
    norm: z.number().min(0).nullable(),
    medianNorm: z.number().min(0).nullable(),
    cosine: finite.nullable(),
    normFactor: z.number().min(1),
    cosineMin: finite,
    recentRefusals: count,
    secondOpinion: z.enum(['confirmed', 'alone']).optional(),
    lowest: count.optional(),
    rounds: count.optional(),
    meanCosine: finite.optional(),
    directionLowest: count.optional(),
  }),
  /** One worker's part of a closed round, as the coordinator saw it arrive. */
  'worker.progress': z.object({
    worker,
    round: count,
    epoch: z.number().int().min(1),
    samples: count,
    loss: finite,
    /** The worker's own training time for its batches (from its contribution). */
    trainMs: z.number().min(0),
    imagesPerSecond: z.number().min(0),
    /** From the round's start until this worker's contribution was in. */
    arrivedMs: z.number().min(0),
    /** The worker's wall time fetching this round's parameters (0: they were current). Absent from older workers and events. */
    downloadMs: z.number().min(0).optional(),
    /**
     * The worker's wall time sending its contribution to `uploadRound`, until acknowledged: its previous
     * accepted one (a round's upload is known only once accepted). Absent on its first contribution.
     */
    uploadMs: z.number().min(0).optional(),
    uploadRound: count.optional(),
  }),
  /** A closed round: the master moved to `version`. */
  round: z.object({
    round: count,
    epoch: z.number().int().min(1),
    version: count,
    globalStep: count,
    members: count,
    samples: count,
    /** Epoch progress after this round: samples applied so far, and the epoch's total. */
    epochSamplesDone: count,
    epochSamples: count,
    roundMs: z.number().min(0),
    /** The member that arrived last, and by how much after the one before it (null alone). */
    straggler: worker.nullable(),
    straggleMs: z.number().min(0),
    bytesIn: count,
    bytesOut: count,
    lr: z.number().min(0),
  }),
  /** An epoch's training totals (test accuracy comes in the eval event of its checkpoint). */
  epoch: z.object({
    epoch: z.number().int().min(1),
    version: count,
    globalStep: count,
    trainLoss: finite,
    trainAccuracy: fraction,
    samples: count,
    epochMs: z.number().min(0),
  }),
  /** Parameters `version` are fetchable from the coordinator for a while (FetchParameters). */
  checkpoint: z.object({
    version: count,
    round: count,
    epoch: z.number().int().min(1),
    globalStep: count,
    /** True for the checkpoint at the end of `epoch` (its metrics line carries the epoch's test accuracy). */
    epochEnd: z.boolean(),
    trainLoss: finite.nullable(),
    trainAccuracy: fraction.nullable(),
    /** Samples trained in the epoch (epoch ends). */
    trainSamples: count.nullable().optional(),
    /** The rest of the epoch's training as its metrics line reports it (epoch ends; docs/run-directory.md). */
    lr: z.number().min(0).nullable().optional(),
    epochSeconds: z.number().min(0).nullable().optional(),
    imagesPerSecond: z.number().min(0).nullable().optional(),
    workers: z.number().int().min(1).nullable().optional(),
  }),
  /** The evaluator scored `version` on the whole test set. */
  eval: z.object({
    version: count,
    epoch: z.number().int().min(1),
    globalStep: count,
    epochEnd: z.boolean(),
    accuracy: fraction,
    loss: finite,
    samples: count,
    perClassAccuracy: z.array(fraction),
    confusion: z.array(z.array(count)),
    evalMs: z.number().min(0),
    best: z.boolean(),
  }),
  /** A new best model was written (TensorFlow.js files + meta.json). */
  best: z.object({
    version: count,
    epoch: z.number().int().min(1),
    accuracy: fraction,
    path: z.string().min(1),
  }),
  /**
   * A run file was not written: the disk refused it (ENOSPC, EDQUOT, EIO, EROFS). The previous file is kept
   * and a later write retries; `consecutive` counts this target's failures in a row (src/runtime/disk-writes.ts).
   */
  'run.write_failed': z.object({
    what: z.enum(['checkpoint', 'metrics', 'best', 'evaluator-state', 'run-file']),
    path: z.string().min(1).max(4096),
    code: z.string().min(1).max(50),
    message: z.string().max(2000),
    consecutive: z.number().int().min(1),
    round: count.nullable(),
    epoch: z.number().int().min(1).nullable(),
  }),
  /** The coordinator ended: every epoch done (finished), an error (failed), or a stop signal after a checkpoint (stopped: a restart resumes it). */
  'run.finished': z.object({
    status: z.enum(['finished', 'failed', 'stopped']),
    version: count,
    epochs: count,
    reason: z.string().max(2000).nullable(),
  }),

  // A sweep's events (`fleet sweep`): their run is the sweep id; each trial is also a run of its own (<sweep>-<trial>).
  /** The sweep driver started (or resumed): every trial with its parameters and status, for the table. */
  'sweep.started': z.object({
    name: z.string().min(1).max(200),
    metric: z.string().min(1).max(100),
    varied: z.array(z.string().max(200)),
    pruning: z.string().max(100),
    /** Trials at once, after fitting the CPUs (or GPUs). */
    parallel: z.number().int().min(1),
    workersPerTrial: z.number().int().min(1),
    resumed: z.boolean(),
    trials: z.array(z.object({ trial, params: trialParams, status: trialStatus })).max(10_000),
  }),
  'trial.started': z.object({
    trial,
    params: trialParams,
    seed: z.number().int(),
    repeat: count,
    /** The trial's own run id: its run directory's config.json and logs say it. */
    runId: z.string().min(1).max(200),
    /** Continued from its checkpoint by a resumed sweep. */
    resumed: z.boolean(),
  }),
  /** A trial's epoch ended: the metric of the epoch and the best so far (what pruning compares). */
  'trial.epoch': z.object({ trial, epoch: z.number().int().min(1), value: finite, best: finite }),
  /** A trial ended on its own: all its epochs (finished), or an error (failed, with its last error line). */
  'trial.finished': z.object({
    trial,
    status: z.enum(['finished', 'failed']),
    epochs: count,
    best: finite.nullable(),
    bestEpoch: count.nullable(),
    reason: z.string().max(2000).nullable(),
  }),
  /** The pruning rule stopped a trial after `epoch`. */
  'trial.pruned': z.object({
    trial,
    epoch: count,
    rule: z.string().max(100),
    reason: z.string().max(2000),
    best: finite.nullable(),
  }),
  'sweep.finished': z.object({
    status: z.enum(['finished', 'failed']),
    finished: count,
    pruned: count,
    failed: count,
    /** The best trial by the metric, or null when no trial scored. */
    best: z.object({ trial, value: finite }).nullable(),
  }),
} as const;

export type EventType = keyof typeof eventPayloadSchemas;
export const EVENT_TYPES = Object.keys(eventPayloadSchemas) as EventType[];
export type EventPayloads = { [T in EventType]: z.infer<(typeof eventPayloadSchemas)[T]> };

/** What travels: the payload in an envelope naming its run, source, time and sequence. */
export interface FleetEvent<T extends EventType = EventType> {
  type: T;
  run: string;
  /** Who published it: `<service>:<instance>`, e.g. coordinator:3f9a. */
  source: string;
  /** 1, 2, 3... per source: a consumer sees each source's events in this order. */
  seq: number;
  /** ISO-8601, the publisher's clock. */
  time: string;
  data: EventPayloads[T];
}

export const envelopeSchema = z.object({
  type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  run: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  source: z.string().min(1).max(200),
  seq: z.number().int().min(1),
  time: z.string().datetime(),
  data: z.unknown(),
});
