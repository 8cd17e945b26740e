import { FLAG_OF } from '../../src/runtime/config/train-config.js';
import type { ConfigScalar } from '../../src/runtime/config/config-file.js';
import type { PlannedTrial } from './search-space.js';
import { trialRunId } from './sweep-driver.js';

/**
 * A sweep's trials as Kubernetes Jobs, one per trial, each running `fleet
 * train` with the trial's flags in the image, security context and volumes
 * of deploy/kubernetes (its data claim read-only, a claim for the sweeps).
 * No driver runs beside them: nothing prunes (ASHA and the median rule need
 * the running sweep's curves), and the cluster, not `parallel`, decides how
 * many run at once. A Job retries a failed pod, which resumes the trial from
 * its checkpoint (--resume auto).
 */

/** Where the pods mount things: the paths of deploy/kubernetes/base. */
export const JOB_PATHS = { data: '/data/cifar10', sweeps: '/runs/sweeps' } as const;
/** The claim every trial writes its run into (ReadWriteMany: trials run on any node). */
export const SWEEPS_CLAIM = 'fleet-sweeps';
export const DATA_CLAIM = 'fleet-cifar10';
/** deploy/kubernetes' NATS Service: the trials' events go there (fleet watch --run <trial run id>). */
export const CLUSTER_NATS_URL = 'nats://fleet-nats:4222';
const UID = 10001;

/** Keys the Job sets itself (the run id, the run folder, workers, progress) or the cluster gives (the data). */
const JOB_OWNED = new Set<string>(['runId', 'outDir', 'workers', 'progress', 'dataDir', 'download', 'dataUrl']);

export interface TrialJobsInput {
  sweepId: string;
  trials: readonly PlannedTrial[];
  workersPerTrial: number;
  image: string;
  /** NATS for the trials' events (fleet watch --run <trial run id>), or null. */
  natsUrl: string | null;
}

export interface RenderedJob {
  /** <job name>.yaml */
  file: string;
  trial: string;
  /** The trial's varied keys, as JSON. */
  params: string;
  manifest: Record<string, unknown>;
}

/** The trial's fleet train flags: its config as flags (booleans when true), then what the Job sets. */
export function trialArgs(sweepId: string, trial: PlannedTrial, workersPerTrial: number): string[] {
  const args = ['train'];
  for (const [key, value] of Object.entries(trial.config)) {
    if (JOB_OWNED.has(key)) continue;
    const flag = FLAG_OF[key as keyof typeof FLAG_OF];
    if (flag === undefined) throw new Error(`trial ${trial.id}: ${key} is not a fleet train key`);
    args.push(...flagArgs(flag, value));
  }
  const runId = trialRunId(sweepId, trial.id);
  args.push(
    '--run-id',
    runId,
    '--out',
    `${JOB_PATHS.sweeps}/${sweepId}/trials/${trial.id}`,
    '--workers',
    String(workersPerTrial),
    '--data-dir',
    JOB_PATHS.data,
    '--progress',
    'log',
    // A pod replaced after a failure or an eviction continues the trial.
    '--resume',
    'auto',
  );
  return args;
}

function flagArgs(flag: string, value: ConfigScalar): string[] {
  if (typeof value === 'boolean') return value ? [flag] : [];
  return [flag, String(value)];
}

/** A DNS-1123 label: lower case letters, digits and '-', at most 63, starting and ending alphanumeric. */
export function dnsLabel(text: string, max = 63): string {
  const label = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '');
  return label === '' ? 'x' : label;
}

/** Job names: fleet-<sweep id>-<trial id>, the sweep id cut so the trial id always fits. */
export function trialJobName(sweepId: string, trialId: string): string {
  const tail = `-${dnsLabel(trialId)}`;
  return `${dnsLabel(`fleet-${sweepId}`, 63 - tail.length)}${tail}`;
}

const securityContext = {
  runAsNonRoot: true,
  runAsUser: UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export function renderTrialJobs(input: TrialJobsInput): RenderedJob[] {
  const w = input.workersPerTrial;
  const sweepLabel = dnsLabel(input.sweepId);
  return input.trials.map((trial) => {
    const name = trialJobName(input.sweepId, trial.id);
    const labels = {
      'app.kubernetes.io/name': 'fleet-trial',
      'app.kubernetes.io/component': 'trial',
      'app.kubernetes.io/part-of': 'fleet',
      'fleet/sweep': sweepLabel,
      'fleet/trial': dnsLabel(trial.id),
    };
    const manifest = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name,
        labels,
        annotations: { 'fleet/params': JSON.stringify(trial.params), 'fleet/run-id': trialRunId(input.sweepId, trial.id) },
      },
      spec: {
        completions: 1,
        parallelism: 1,
        backoffLimit: 6,
        podFailurePolicy: {
          rules: [
            { action: 'FailJob', onExitCodes: { containerName: 'trial', operator: 'In', values: [2] } },
            // SIGTERM (kubectl delete pod): fleet train checkpoints and exits 143; the replaced pod resumes (--resume auto).
            { action: 'Ignore', onExitCodes: { containerName: 'trial', operator: 'In', values: [143] } },
            { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          ],
        },
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            // SIGTERM: fleet train checkpoints (its children get --stop-grace, 10 s) and the replaced pod resumes.
            terminationGracePeriodSeconds: 60,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: UID,
              runAsGroup: UID,
              fsGroup: UID,
              fsGroupChangePolicy: 'OnRootMismatch',
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'trial',
                image: input.image,
                imagePullPolicy: 'IfNotPresent',
                args: trialArgs(input.sweepId, trial, w),
                ...(input.natsUrl ? { env: [{ name: 'NATS_URL', value: input.natsUrl }] } : {}),
                securityContext,
                // A coordinator and w workers in the pod: a CPU each to start with.
                resources: {
                  requests: { cpu: String(w + 1), memory: `${2 + 2 * w}Gi` },
                  limits: { cpu: String(2 * (w + 1)), memory: `${4 + 2 * w}Gi` },
                },
                volumeMounts: [
                  { name: 'cifar10', mountPath: JOB_PATHS.data, readOnly: true },
                  { name: 'sweeps', mountPath: JOB_PATHS.sweeps },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'cifar10', persistentVolumeClaim: { claimName: DATA_CLAIM, readOnly: true } },
              { name: 'sweeps', persistentVolumeClaim: { claimName: SWEEPS_CLAIM } },
              { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
            ],
          },
        },
      },
    };
    return { file: `${name}.yaml`, trial: trial.id, params: JSON.stringify(trial.params), manifest };
  });
}

/** The claim the trials write into, created once per namespace (apply is idempotent). */
export function sweepsClaim(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: SWEEPS_CLAIM, labels: { 'app.kubernetes.io/part-of': 'fleet', 'app.kubernetes.io/component': 'trial' } },
    spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '20Gi' } } },
  };
}
