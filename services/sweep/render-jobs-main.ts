import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { FlagError } from '../../src/runtime/config/flag-error.js';
import type { Logger } from '../../src/runtime/logger.js';
import { checkOutDir, OutDirError } from '../../src/runtime/out-dir.js';
import { expandTrials } from './search-space.js';
import { checkRunnable, loadSweepSpec } from './sweep-spec.js';
import { checkSweepId, newSweepId } from './sweep-main.js';
import { CLUSTER_NATS_URL, renderTrialJobs, sweepsClaim, SWEEPS_CLAIM } from './trial-jobs.js';

export interface RenderJobsOptions {
  specFile: string;
  /** --render-jobs DIR: new or empty. */
  dir: string;
  scale: string | null;
  set: readonly string[];
  maxTrials: number | null;
  sweepId: string | null;
  /** --job-image. */
  image: string;
  log: Logger;
}

export interface RenderedSweep {
  sweepId: string;
  files: string[];
}

/**
 * `fleet sweep SPEC --render-jobs DIR`: the spec's trials as Kubernetes Jobs
 * in DIR (one file each), the claim they write into and a kustomization
 * listing them (`kubectl apply -k DIR`). Nothing runs and no sweep directory
 * is made; a pruning rule in the spec is not applied (said in the log).
 */
export async function runRenderJobsCommand(o: RenderJobsOptions): Promise<RenderedSweep> {
  const spec = await loadSweepSpec(o.specFile, { scale: o.scale, set: o.set });
  checkRunnable(spec);
  let trials = expandTrials(spec);
  if (o.maxTrials !== null && trials.length > o.maxTrials) trials = trials.slice(0, o.maxTrials);
  const sweepId = o.sweepId ?? newSweepId(spec.name);
  checkSweepId(sweepId, trials);
  await checkRenderDir(o.dir);

  const jobs = renderTrialJobs({ sweepId, trials, workersPerTrial: spec.workersPerTrial, image: o.image, natsUrl: CLUSTER_NATS_URL });
  await mkdir(o.dir, { recursive: true });
  const claimFile = `${SWEEPS_CLAIM}-claim.yaml`;
  await writeFile(join(o.dir, claimFile), stringify(sweepsClaim()));
  for (const job of jobs) {
    await writeFile(
      join(o.dir, job.file),
      `# sweep ${sweepId} (${spec.file}), trial ${job.trial}: ${job.params}\n${stringify(job.manifest, { aliasDuplicateObjects: false })}`,
    );
  }
  const files = [claimFile, ...jobs.map((j) => j.file)];
  await writeFile(
    join(o.dir, 'kustomization.yaml'),
    `# fleet sweep ${spec.file}${spec.scale ? ` --scale ${spec.scale}` : ''}: ${jobs.length} trial Jobs of sweep ${sweepId}.\n` +
      '# Apply into the namespace of deploy/kubernetes (the data claim, NATS): kubectl apply -k THIS_DIR\n' +
      stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', namespace: 'fleet', resources: files }),
  );
  if (spec.pruning.rule !== 'none') {
    o.log.warn(
      { rule: spec.pruning.rule },
      `the spec prunes with ${spec.pruning.rule}, which needs the sweep driver's view of every trial's curve: the rendered Jobs all run to their last epoch`,
    );
  }
  o.log.info(
    { sweep: sweepId, dir: o.dir, trials: jobs.length, image: o.image, workersPerTrial: spec.workersPerTrial },
    `trial Jobs written: kubectl apply -k ${o.dir}`,
  );
  return { sweepId, files: ['kustomization.yaml', ...files] };
}

/** DIR must be new or empty: the kustomization lists exactly this sweep's Jobs. */
async function checkRenderDir(dir: string): Promise<void> {
  const state = await checkOutDir(dir, { mode: 'shared', flag: '--render-jobs' });
  if (!state.exists) return;
  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new OutDirError(
      '--render-jobs',
      dir,
      `--render-jobs ${dir} is not empty (${entries.slice(0, 3).join(', ')}...): choose a new folder`,
    );
  }
}

/** --render-jobs refuses the flags of a running sweep. */
export function checkRenderFlags(flags: { resume: boolean; out: string | null; gpus: string[] | null; parallel: number | null }): void {
  const conflicting = [
    ...(flags.resume ? ['--resume'] : []),
    ...(flags.out !== null ? ['--out'] : []),
    ...(flags.gpus !== null ? ['--gpus'] : []),
    ...(flags.parallel !== null ? ['--parallel'] : []),
  ];
  if (conflicting.length > 0) {
    throw new FlagError(
      '--render-jobs',
      conflicting.join(' '),
      `--render-jobs writes Jobs and runs nothing: ${conflicting.join(', ')} ${conflicting.length === 1 ? 'belongs' : 'belong'} to a sweep run here`,
    );
  }
}
