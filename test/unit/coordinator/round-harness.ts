import pino from 'pino';
import { planTraining, type TrainConfig } from '../../../src/runtime/config/train-config.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import {
  RoundController,
  type Assignment,
  type ControllerHooks,
  type EpochTotals,
  type MembershipChange,
  type RoundSummary,
} from '../../../services/coordinator/rounds/round-controller.js';
import { EpochSampler } from '../../../services/coordinator/sampler/index.js';
import { testConfig } from '../../helpers/test-config.js';

/** A 6-float "model": enough for the rounds, nothing to train. */
export const LAYOUT: WeightSlice[] = [
  { name: 'dense/bias', shape: [2], offset: 0, length: 2, trainable: true },
  { name: 'dense/kernel', shape: [2, 2], offset: 2, length: 4, trainable: true },
];
export const FLOATS = 6;

/** Every hook call in order, as data. */
export type HookCall =
  | { hook: 'epochEnd'; totals: EpochTotals; version: number }
  | { hook: 'checkpoint'; round: number }
  | { hook: 'membership'; change: MembershipChange }
  | { hook: 'roundClosed'; summary: RoundSummary };

export interface RoundsSetup {
  workers: number;
  /** Training samples per epoch. */
  count: number;
  batchSize: number;
  epochs?: number;
  roundTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  checkpointEveryRounds?: number;
  retainVersions?: number;
  /** Extra work in the checkpoint hook, as the coordinator's run does (retain the version). */
  onCheckpoint?: (controller: RoundController) => void;
}

/** A RoundController over the real sampler with hooks that record what they are told. */
export function startRounds(s: RoundsSetup) {
  const config: TrainConfig = testConfig({
    dataDir: '/nonexistent',
    outDir: '/nonexistent',
    workers: s.workers,
    batchSize: s.batchSize,
    epochs: s.epochs ?? 1,
  });
  const sampler = new EpochSampler({ seed: 1, count: s.count, batchSize: s.batchSize, syncEvery: 1 });
  const calls: HookCall[] = [];
  const hooks: ControllerHooks = {
    onEpochEnd: async (totals, version) => {
      calls.push({ hook: 'epochEnd', totals: { ...totals }, version });
    },
    onCheckpoint: async (round) => {
      calls.push({ hook: 'checkpoint', round });
      s.onCheckpoint?.(controller);
    },
    onMembership: (change) => calls.push({ hook: 'membership', change }),
    onRoundClosed: (summary) => calls.push({ hook: 'roundClosed', summary }),
  };
  const controller: RoundController = new RoundController({
    config,
    plan: planTraining(config, s.count),
    layout: LAYOUT,
    params: new Float32Array(FLOATS).fill(0.5),
    momentum: new Float32Array(FLOATS),
    sampler,
    expectedWorkers: s.workers,
    roundTimeoutMs: s.roundTimeoutMs ?? 60_000,
    heartbeatTimeoutMs: s.heartbeatTimeoutMs ?? 60_000,
    checkpointEveryRounds: s.checkpointEveryRounds ?? 0,
    retainVersions: s.retainVersions ?? 2,
    log: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    hooks,
  });
  const of = <K extends HookCall['hook']>(hook: K) => calls.filter((c): c is Extract<HookCall, { hook: K }> => c.hook === hook);

  /** `worker` sends its whole assignment: gradients of `gradient` everywhere, loss 1 per sample. */
  const contribute = (worker: string, a: Assignment, gradient = 0.1) => {
    const samples = a.batches.reduce((n, b) => n + b.indices.length, 0);
    return controller.contribute(worker, {
      round: a.round,
      version: a.version,
      kind: 'gradients',
      sampleCount: samples,
      lossSum: samples,
      correct: 0,
      values: controller.stageContribution(samples, new Float32Array(FLOATS).fill(gradient)),
    });
  };
  return { controller, sampler, calls, of, contribute };
}

/** Indices of an assignment in training order. */
export function indicesOf(a: Assignment): number[] {
  return a.batches.flatMap((b) => [...b.indices]);
}
