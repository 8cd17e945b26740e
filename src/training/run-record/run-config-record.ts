import { z } from 'zod';
import { runConfigFields } from '../../runtime/config/run-config.js';
import { runConfigOf, type TrainConfig, type TrainPlan } from '../../runtime/config/train-config.js';

const count = z.number().int().min(0);

/**
 * config.json: what defines the run (the RunConfig, as a checkpoint keeps it:
 * machine-local keys such as paths stay out, so two runs of one configuration
 * on different machines have the same file), what it was planned as, the
 * backend it ran on and its data.
 */
export const runConfigRecordSchema = z
  .object({
    config: runConfigFields.strict(),
    plan: z.object({ trainCount: count, stepsPerEpoch: count, totalSteps: count, warmupSteps: count }).strict(),
    /** The compute backend the writing process selected ('tensorflow', 'wasm', 'cpu'). */
    backend: z.string().min(1),
    data: z.object({ train: count, test: count, classNames: z.array(z.string()) }).strict(),
  })
  .strict();

export type RunConfigRecord = z.infer<typeof runConfigRecordSchema>;

/** The one place a run's configuration becomes config.json, for a one-process run and a coordinator alike. */
export function runConfigRecord(
  config: TrainConfig,
  backend: string,
  run: { plan: TrainPlan; train: number; test: number; classNames: readonly string[] },
): RunConfigRecord {
  return {
    config: runConfigOf(config),
    plan: run.plan,
    backend,
    data: { train: run.train, test: run.test, classNames: [...run.classNames] },
  };
}
