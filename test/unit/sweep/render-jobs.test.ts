import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim } from 'kubernetes-models/v1';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../cli/main.js';
import { trainConfigFrom } from '../../../cli/train-command.js';
import { runRenderJobsCommand } from '../../../services/sweep/render-jobs-main.js';
import { expandTrials } from '../../../services/sweep/search-space.js';
import { loadSweepSpec } from '../../../services/sweep/sweep-spec.js';
import { trialJobName } from '../../../services/sweep/trial-jobs.js';
import { captureLog } from '../../helpers/capture-log.js';
import { kubectl, render, renderOverlay, workloadOf, type JobSpec } from '../../helpers/kustomize.js';
import { parseFleet } from '../../helpers/fleet-args.js';

/**
 * `fleet sweep SPEC --render-jobs DIR`: one Kubernetes Job per trial, each
 * running `fleet train` with exactly the trial's configuration (checked by
 * parsing its args with fleet's own program and comparing the validated
 * config key by key), in the image, security context and volumes of
 * deploy/kubernetes; no pruning; nothing run.
 */

let dir: string;
let spec: string;

const SPEC = `
name: render-test
metric: testAccuracy
base:
  model: cnn
  epochs: 4
  batchSize: 64
  lr: 0.05
  allowPartial: true
  limitTrain: 2000
  dataDir: /somewhere/on/my/laptop
  download: true
parameters:
  augment: [none, full]
  mixup: [0, 0.2]
variants:
  plain: {}
  smooth: { labelSmoothing: 0.1 }
repeats: 1
workersPerTrial: 2
pruning: { rule: asha, gracePeriod: 1 }
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-render-jobs-'));
  spec = join(dir, 'render-test.yaml');
  await writeFile(spec, SPEC);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readJobs(out: string): Promise<{ file: string; job: { metadata: { name: string }; spec: JobSpec } }[]> {
  const files = (await readdir(out)).filter((f) => f.startsWith('fleet-render-test-'));
  return Promise.all(files.sort().map(async (file) => ({ file, job: parse(await readFile(join(out, file), 'utf8')) })));
}

describe('fleet sweep --render-jobs', () => {
  it('writes one Job per trial whose fleet train flags give exactly the trial’s config, plus the claim and a kustomization', async () => {
    const out = join(dir, 'jobs');
    const { log, warnings } = captureLog();
    const rendered = await runRenderJobsCommand({
      specFile: spec,
      dir: out,
      scale: null,
      set: [],
      maxTrials: null,
      sweepId: 'render-test-1',
      image: 'fleet:9.9.9',
      log,
    });
    const trials = expandTrials(await loadSweepSpec(spec));
    expect(trials).toHaveLength(8);
    const jobs = await readJobs(out);
    expect(jobs.map((j) => j.job.metadata.name)).toEqual(trials.map((t) => trialJobName('render-test-1', t.id)));
    const kustomization = parse(await readFile(join(out, 'kustomization.yaml'), 'utf8')) as { namespace: string; resources: string[] };
    expect(kustomization.namespace).toBe('fleet');
    expect(kustomization.resources.sort()).toEqual([...jobs.map((j) => j.file), 'fleet-sweeps-claim.yaml'].sort());
    expect(rendered.files.sort()).toEqual([...kustomization.resources, 'kustomization.yaml'].sort());
    const claim = parse(await readFile(join(out, 'fleet-sweeps-claim.yaml'), 'utf8'));
    expect(() => new PersistentVolumeClaim(claim).validate()).not.toThrow();
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);

    for (const [i, { job }] of jobs.entries()) {
      const trial = trials[i]!;
      expect(() => new Job(job as never).validate(), trial.id).not.toThrow();
      const container = job.spec.template.spec.containers[0]!;
      expect(container.image).toBe('fleet:9.9.9');
      const parsed = await parseFleet(container.args!, Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value!])));
      expect(parsed.path).toBe('train');
      const config = trainConfigFrom(parsed.flags, parsed.command) as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(trial.config)) {
        if (['dataDir', 'download'].includes(key)) continue;
        expect(config[key], `${trial.id} ${key}`).toEqual(value);
      }
      // What the Job sets: the trial's run id and folder on the sweeps claim, the workers, the cluster's data, a resumable pod.
      expect(config).toMatchObject({
        runId: `render-test-1-${trial.id}`,
        outDir: `/runs/sweeps/render-test-1/trials/${trial.id}`,
        workers: 2,
        // Derived by fleet train from the trial's own batchSize (64) and workers: never a spec value.
        globalBatch: 128,
        dataDir: '/data/cifar10',
        download: false,
        progress: 'log',
      });
      expect(parsed.flags.resume).toBe('auto');
      expect(container.env).toEqual([{ name: 'NATS_URL', value: 'nats://fleet-nats:4222' }]);
      expect(job.spec.template.metadata?.labels).toMatchObject({ 'app.kubernetes.io/part-of': 'fleet', 'fleet/trial': trial.id });
    }
    // The variants and mixup differ between trials, as the flags show.
    expect(new Set(jobs.map(({ job }) => job.spec.template.spec.containers[0]!.args!.join(' '))).size).toBe(8);
    // ASHA is not applied: said once.
    expect(warnings().map((w) => w.msg)).toEqual([
      "the spec prunes with asha, which needs the sweep driver's view of every trial's curve: the rendered Jobs all run to their last epoch",
    ]);
  });

  it.skipIf(kubectl() === null)(
    'the Jobs share the cpu overlay’s security context, data volume and failure policy, and render with kubectl kustomize',
    async () => {
      const out = join(dir, 'jobs-cpu');
      const code = await main(['node', 'fleet', 'sweep', spec, '--render-jobs', out, '--sweep-id', 'render-test-2', '--max-trials', '2']);
      expect(code).toBe(0);
      const jobs = await readJobs(out);
      expect(jobs).toHaveLength(2);
      const worker = workloadOf(renderOverlay('cpu'), 'worker');
      for (const { job } of jobs) {
        const pod = job.spec.template.spec;
        const c = pod.containers[0]!;
        expect(pod.securityContext).toEqual(worker.template.spec.securityContext);
        expect(c.securityContext).toEqual(worker.template.spec.containers[0]!.securityContext);
        expect(c.image).toBe(worker.template.spec.containers[0]!.image);
        for (const key of ['restartPolicy', 'automountServiceAccountToken', 'enableServiceLinks'] as const)
          expect(pod[key]).toBe(worker.template.spec[key]);
        expect(pod.volumes!.find((v) => v.name === 'cifar10')).toEqual(worker.template.spec.volumes!.find((v) => v.name === 'cifar10'));
        expect(c.volumeMounts!.find((m) => m.name === 'cifar10')).toEqual(
          worker.template.spec.containers[0]!.volumeMounts!.find((m) => m.name === 'cifar10'),
        );
        expect(job.spec.podFailurePolicy!.rules.map((r) => r.action)).toEqual(worker.job!.podFailurePolicy!.rules.map((r) => r.action));
      }
      // kubectl kustomize renders the folder into the run's namespace.
      const objects = render(out);
      expect(objects.map((o) => `${o.kind}/${o.metadata.namespace}`).sort()).toEqual([
        'Job/fleet',
        'Job/fleet',
        'PersistentVolumeClaim/fleet',
      ]);
    },
  );

  it('refuses a folder that is not empty, the flags of a sweep run here, and --job-image alone (exit 2, nothing written)', async () => {
    const out = join(dir, 'jobs-twice');
    expect(await main(['node', 'fleet', 'sweep', spec, '--render-jobs', out, '--max-trials', '1'])).toBe(0);
    const before = await readdir(out);
    expect(await main(['node', 'fleet', 'sweep', spec, '--render-jobs', out])).toBe(2);
    expect(await readdir(out)).toEqual(before);
    const fresh = join(dir, 'jobs-never');
    expect(await main(['node', 'fleet', 'sweep', spec, '--render-jobs', fresh, '--resume'])).toBe(2);
    expect(await main(['node', 'fleet', 'sweep', spec, '--render-jobs', fresh, '--gpus', '0,1'])).toBe(2);
    expect(await main(['node', 'fleet', 'sweep', spec, '--job-image', 'fleet:1'])).toBe(2);
    await expect(readdir(fresh)).rejects.toThrow(/ENOENT/);
  });
});
