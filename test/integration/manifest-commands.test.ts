import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLocalPort } from '../../services/launcher/nats-server-process.js';
import { connectNatsBus, type AnyFleetEvent } from '../../src/events/index.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { startFleet, type FleetProcess } from '../helpers/fleet-processes.js';
import {
  containerEnv,
  find,
  kubectl,
  renderOverlay,
  workloadOf,
  type Container,
  type K8sObject,
  type PodSpec,
} from '../helpers/kustomize.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { until } from '../helpers/wait.js';

/**
 * The cpu overlay's run, as real processes: the coordinator, worker and
 * evaluator containers' own args and variables, taken from the rendered
 * manifests (kubectl kustomize), with only what a cluster provides emulated:
 * each volume a temp folder (paths under a mount are rewritten to it), the
 * Services' names 127.0.0.1 (the coordinator's port a free one), the metrics
 * port 0 (three pods on one host), and the run sized for a test through the
 * run.yaml the manifests mount (a tiny model, 2 workers, 2 epochs). Then the
 * pods' lives: a worker pod deleted mid-run (SIGTERM: exit 143, the
 * manifests' FLEET_STOPPED_EXIT_CODE, which the Job's podFailurePolicy
 * ignores) and its index's new pod joining; SIGTERM on the coordinator
 * mid-run (exit 143, stopped, checkpoint) and on the evaluator while the
 * coordinator is away (exit 143); the coordinator restarted with the
 * manifest's command (--resume auto) completes the run, every process
 * exiting 0; restarted once more it exits 0 and changes nothing.
 */

const WORKERS = 2;
let root: string;
let nats: NatsServerHandle | null = null;
let objects: K8sObject[];
let coordinatorPort: number;
const started: FleetProcess[] = [];

/** One pod's fleet container as a process: its args and env with the cluster's names and volumes replaced. */
interface PodProcess {
  args: string[];
  env: Record<string, string>;
}

const volumeDir = (kind: string, name: string) => join(root, 'volumes', kind, name);

/** Where each of the pod's mounts is on this machine: a folder per claim, ConfigMap, Secret and emptyDir. */
function mountsOf(pod: PodSpec, container: Container): { mountPath: string; dir: string; subPath?: string }[] {
  return (container.volumeMounts ?? []).map((m) => {
    const v = pod.volumes!.find((x) => x.name === m.name)!;
    const dir = v.persistentVolumeClaim
      ? volumeDir('pvc', v.persistentVolumeClaim.claimName)
      : v.configMap
        ? volumeDir('configmap', v.configMap.name)
        : v.secret
          ? volumeDir('secret', v.secret.secretName)
          : volumeDir('emptydir', `${container.name}-${v.name}`);
    return { mountPath: m.mountPath, dir, ...(m.subPath ? { subPath: m.subPath } : {}) };
  });
}

function podProcess(component: string, rewriteEnv: (env: Record<string, string>) => Record<string, string>): PodProcess {
  const w = workloadOf(objects, component);
  const container = w.template.spec.containers[0]!;
  const mounts = mountsOf(w.template.spec, container);
  const local = (value: string) => {
    for (const m of mounts) {
      if (value === m.mountPath) return m.subPath ? join(m.dir, m.subPath) : m.dir;
      if (value.startsWith(`${m.mountPath}/`)) return join(m.dir, value.slice(m.mountPath.length + 1));
    }
    return value;
  };
  const env = Object.fromEntries(Object.entries(containerEnv(objects, container)).map(([k, v]) => [k, local(v)]));
  return { args: container.args!.map(local), env: rewriteEnv(env) };
}

/** What the cluster's Services and the pod's host give: names to 127.0.0.1, the coordinator's real port, any free metrics port. */
const onThisHost = (env: Record<string, string>): Record<string, string> => ({
  ...env,
  FLEET_COORDINATOR: env.FLEET_COORDINATOR!.replace(/^fleet-coordinator:7070$/, `127.0.0.1:${coordinatorPort}`),
  NATS_URL: env.NATS_URL!.replace(/^nats:\/\/fleet-nats:4222$/, nats!.url),
  FLEET_METRICS_PORT: '0',
});

/** A process with exactly `p`'s variables among FLEET_ and NATS_ ones. */
function start(p: PodProcess, extraEnv: Record<string, string> = {}): FleetProcess {
  for (const key of Object.keys(process.env)) if (/^(FLEET|NATS)_/.test(key)) delete process.env[key];
  const proc = startFleet(p.args, { ...p.env, ...extraEnv });
  started.push(proc);
  return proc;
}

const json = (line: string) => JSON.parse(line) as Record<string, unknown>;

/** The exit code the manifests give a process stopped before the run's end, checked against the Job's podFailurePolicy: a rule ignores it. */
function stoppedExitCode(component: string): number {
  const w = workloadOf(objects, component);
  const container = w.template.spec.containers[0]!;
  const code = Number(containerEnv(objects, container).FLEET_STOPPED_EXIT_CODE);
  const rule = w.job!.podFailurePolicy!.rules.find(
    (r) => r.onExitCodes?.containerName === container.name && r.onExitCodes.values.includes(code),
  );
  expect(rule?.action, `${component}: the podFailurePolicy rule for exit ${code}`).toBe('Ignore');
  return code;
}
const logLines = (p: FleetProcess) => p.lines.filter((l) => l.startsWith('{')).map(json);

async function runEvents(run: string): Promise<AnyFleetEvent[]> {
  const bus = await connectNatsBus({ servers: nats!.url, name: 'test-reader', log: pino({ level: 'silent' }) });
  const events: AnyFleetEvent[] = [];
  try {
    const sub = await bus.follow(run, (e) => events.push(e), { from: 'start' });
    let seen = -1;
    await until(
      'the history read',
      () => {
        const quiet = events.length === seen && seen > 0;
        seen = events.length;
        return quiet;
      },
      10_000,
      300,
    );
    await sub.stop();
  } finally {
    await bus.close();
  }
  return events;
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const s = await stat(path);
    files[path.slice(dir.length + 1)] = `${s.size} ${s.mtimeMs}`;
  }
  return files;
}

const ready = kubectl() !== null && natsServerAvailable();

beforeAll(async () => {
  if (!ready) return;
  root = await mkdtemp(join(tmpdir(), 'fleet-manifests-'));
  objects = renderOverlay('cpu');
  nats = await startNatsServer();
  coordinatorPort = await freeLocalPort([7070, 9464]);
  // The data Job's work (fleet data download into the claim fleet-cifar10), done by the fixture: a few hundred learnable images.
  await writeCifar10Files(volumeDir('pvc', 'fleet-cifar10'), {
    trainBatches: 1,
    perBatch: 480,
    testCount: 100,
    pattern: 'learnable',
    seed: 7,
  });
  // The Secret the README says to create.
  await mkdir(volumeDir('secret', 'fleet-token'), { recursive: true });
  await writeFile(join(volumeDir('secret', 'fleet-token'), 'token'), 'a-test-token-0123456789abcdef\n');
  // The ConfigMap's run.yaml, sized for a test: same keys, a tiny model on a few hundred images.
  const run = parse(find(objects, 'ConfigMap', 'fleet-run').data!['run.yaml']!) as Record<string, unknown>;
  expect(Object.keys(run)).toEqual(expect.arrayContaining(['workers', 'model', 'epochs', 'batchSize']));
  Object.assign(run, { workers: WORKERS, model: 'tiny-bn', epochs: 2, batchSize: 16, lr: 0.02, allowPartial: true, backend: 'wasm' });
  await mkdir(volumeDir('configmap', 'fleet-run'), { recursive: true });
  await writeFile(join(volumeDir('configmap', 'fleet-run'), 'run.yaml'), stringify(run));
  for (const claim of ['fleet-runs', 'fleet-evaluator-runs']) await mkdir(volumeDir('pvc', claim), { recursive: true });
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await nats?.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

describe.skipIf(!ready)('the cpu overlay’s commands as processes: stop, resume and restart like pods', () => {
  it('SIGTERM mid-run: a worker exits 143 and its replacement joins; the coordinator exits 143 with a checkpoint (stopped), the evaluator 143; the manifest’s command resumes and completes the run (all exit 0); run again it exits 0 and changes nothing', async () => {
    const coordinatorPod = podProcess('coordinator', onThisHost);
    // The Service's port is the container's: the manifest listens on 7070, here on a free port.
    expect(coordinatorPod.args.slice(coordinatorPod.args.indexOf('--port'), coordinatorPod.args.indexOf('--port') + 2)).toEqual([
      '--port',
      '7070',
    ]);
    coordinatorPod.args[coordinatorPod.args.indexOf('--port') + 1] = String(coordinatorPort);
    expect(coordinatorPod.args).toEqual(expect.arrayContaining(['--resume', 'auto', '--external-evaluator', '--drain-timeout']));
    const workerPod = podProcess('worker', onThisHost);
    const evaluatorPod = podProcess('evaluator', onThisHost);
    const runId = coordinatorPod.env.FLEET_RUN_ID!;
    const coordinatorOut = coordinatorPod.env.FLEET_OUT!;
    const evaluatorOut = evaluatorPod.env.FLEET_OUT!;
    // Separate volumes, as on the cluster: the coordinator's claim and the evaluator's.
    expect([dirname(coordinatorOut), dirname(evaluatorOut)]).toEqual([
      volumeDir('pvc', 'fleet-runs'),
      volumeDir('pvc', 'fleet-evaluator-runs'),
    ]);

    const stopped = {
      coordinator: stoppedExitCode('coordinator'),
      worker: stoppedExitCode('worker'),
      evaluator: stoppedExitCode('evaluator'),
    };
    expect(stopped).toEqual({ coordinator: 143, worker: 143, evaluator: 143 });

    // 1. The pods start (in any order: workers and evaluator wait for the coordinator).
    const workers = Array.from({ length: WORKERS }, (_, i) => start(workerPod, { FLEET_WORKER_NAME: `fleet-worker-${i}-test${i}` }));
    const firstEvaluator = start(evaluatorPod);
    const first = start(coordinatorPod);
    await first.waitFor(/"msg":"listening"/, 60_000);

    // 2. Mid-run (epoch 2 under way), the coordinator's pod is deleted: SIGTERM.
    await until('a round of epoch 2', () => logLines(first).some((l) => l.msg === 'round closed' && l.epoch === 2), 120_000, 50);
    const stoppedAt = Date.now();
    first.child.kill('SIGTERM');
    const firstExit = await first.exited;
    expect(firstExit.code, first.lines.slice(-8).join('\n')).toBe(stopped.coordinator);
    const drained = logLines(first).find((l) => l.msg === 'drained')!;
    expect(drained.checkpoint).toBe('written');
    expect((await stat(join(coordinatorOut, 'checkpoint.fleet'))).mtimeMs).toBeGreaterThanOrEqual(stoppedAt - 1000);
    expect(logLines(first).some((l) => l.msg === 'run stopped: a coordinator started with --resume auto continues it')).toBe(true);
    await until('run.finished stopped on the bus', async () =>
      (await runEvents(runId)).some((e) => e.type === 'run.finished' && (e.data as { status: string }).status === 'stopped'),
    );
    // The other pods ride it out.
    for (const p of [...workers, firstEvaluator]) expect(p.child.exitCode, p.lines.slice(-3).join('\n')).toBeNull();

    // 3. Meanwhile a worker's pod and the evaluator's are deleted. The run is not finished: each exits 143 (exit 0
    // would complete the worker's index and the evaluator's Job), and its Job's next pod takes over.
    const stoppedWorker = workers[0]!;
    for (const p of [stoppedWorker, firstEvaluator]) p.child.kill('SIGTERM');
    expect((await stoppedWorker.exited).code, stoppedWorker.lines.slice(-3).join('\n')).toBe(stopped.worker);
    expect(logLines(stoppedWorker).find((l) => l.msg === 'worker done')).toMatchObject({ outcome: 'stopped' });
    expect((await firstEvaluator.exited).code, firstEvaluator.lines.slice(-3).join('\n')).toBe(stopped.evaluator);
    workers[0] = start(workerPod, { FLEET_WORKER_NAME: 'fleet-worker-0-replaced' });
    const evaluator = start(evaluatorPod);

    // 4. The Job's next pod: the same command. It resumes from the stop's checkpoint and completes the run.
    const second = start(coordinatorPod);
    const resumed = json(await second.waitFor(/"msg":"resumed from checkpoint"/, 60_000));
    expect(resumed.version).toBe(drained.version);
    const exits = await Promise.all([second, ...workers, evaluator].map((p) => p.exited));
    expect(
      exits.map((e) => e.code),
      [second, ...workers, evaluator].map((p) => p.lines.slice(-2).join('\n')).join('\n'),
    ).toEqual([0, ...workers.map(() => 0), 0]);
    expect(logLines(second).some((l) => l.msg === 'run finished')).toBe(true);
    // Told the run is finished, a worker exits 0 although FLEET_STOPPED_EXIT_CODE is 143: its Job completes.
    for (const w of workers) expect(logLines(w).find((l) => l.msg === 'worker done')).toMatchObject({ outcome: 'run finished' });
    // The index's new pod trained in the resumed run.
    expect(logLines(workers[0]!).filter((l) => l.msg === 'round contributed').length).toBeGreaterThan(0);
    const metrics = (await readFile(join(evaluatorOut, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number });
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    const ends = (await runEvents(runId)).filter((e) => e.type === 'run.finished').map((e) => (e.data as { status: string }).status);
    expect(ends).toEqual(['stopped', 'finished']);

    // 5. The pod started again after the end (a node restart, a re-applied Job): exit 0 at once, nothing changes.
    const before = { coordinator: await snapshot(coordinatorOut), evaluator: await snapshot(evaluatorOut) };
    expect(Object.keys(before.coordinator)).toContain('checkpoint.fleet');
    const third = start(coordinatorPod);
    expect((await third.exited).code, third.lines.join('\n')).toBe(0);
    expect(logLines(third).map((l) => l.msg)).toEqual(['run already finished: nothing to resume']);
    const evaluatorAgain = start(evaluatorPod);
    expect((await evaluatorAgain.exited).code, evaluatorAgain.lines.slice(-3).join('\n')).toBe(0);
    expect({ coordinator: await snapshot(coordinatorOut), evaluator: await snapshot(evaluatorOut) }).toEqual(before);
    expect((await runEvents(runId)).filter((e) => e.type === 'run.finished')).toHaveLength(2);
  }, 400_000);
});
