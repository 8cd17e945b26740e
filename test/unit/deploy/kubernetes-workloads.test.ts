import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/runtime/config/value-parsers.js';
import {
  containerEnv,
  find,
  kubectl,
  OVERLAYS,
  renderOverlay,
  selects,
  workloadOf,
  workloads,
  type Container,
  type K8sObject,
} from '../../helpers/kustomize.js';

/**
 * What a run is on the cluster: batch workloads that complete with the run
 * and restart only on failure, NATS as a StatefulSet with its store, the
 * coordinator's probes (gRPC; exec `fleet health` under TLS), its
 * disruption budget and grace period, GPUs in the gpu overlay.
 */

const RUN_COMPONENTS = ['coordinator', 'worker', 'evaluator'] as const;

const fleetContainer = (objects: K8sObject[], component: string): Container => workloadOf(objects, component).template.spec.containers[0]!;

/** The value after `flag` in args, or null. */
function argValue(args: readonly string[] | undefined, flag: string): string | null {
  const i = (args ?? []).indexOf(flag);
  return i < 0 ? null : (args![i + 1] ?? null);
}

describe.skipIf(kubectl() === null)('deploy/kubernetes: the run as batch workloads', () => {
  it.each(OVERLAYS)('overlays/%s: coordinator, workers and evaluator are Jobs (or a JobSet), never Deployments', (overlay) => {
    const objects = renderOverlay(overlay);
    expect(objects.filter((o) => o.kind === 'Deployment' || o.kind === 'ReplicaSet')).toEqual([]);
    for (const component of RUN_COMPONENTS) {
      const w = workloadOf(objects, component);
      expect(w.kind, `${overlay}: ${component}`).toBe(overlay === 'jobset' ? 'JobSet' : 'Job');
      const job = w.job!;
      // Restarted on failure only: a pod that exits 0 (the run is finished) completes the Job.
      expect(w.template.spec.restartPolicy).toBe('Never');
      expect(job.backoffLimit).toBeGreaterThan(0);
      const rules = job.podFailurePolicy!.rules;
      expect(rules).toContainEqual({
        action: 'FailJob',
        onExitCodes: { containerName: w.template.spec.containers[0]!.name, operator: 'In', values: [2] },
      });
      expect(rules).toContainEqual({ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] });
    }
    const coordinator = workloadOf(objects, 'coordinator').job!;
    expect([coordinator.parallelism, coordinator.completions]).toEqual([1, 1]);
    const evaluator = workloadOf(objects, 'evaluator').job!;
    expect([evaluator.parallelism, evaluator.completions]).toEqual([1, 1]);
  });

  it.each(OVERLAYS)(
    'overlays/%s: a process stopped before the run finished exits FLEET_STOPPED_EXIT_CODE (143), which each Job ignores (replaced, not a completion)',
    (overlay) => {
      const objects = renderOverlay(overlay);
      for (const component of RUN_COMPONENTS) {
        const w = workloadOf(objects, component);
        const container = w.template.spec.containers[0]!;
        // On the container itself, next to the rule that reads it, not only in a ConfigMap someone may replace.
        expect(container.env, `${overlay}: ${component}`).toContainEqual({ name: 'FLEET_STOPPED_EXIT_CODE', value: '143' });
        const code = Number(containerEnv(objects, container).FLEET_STOPPED_EXIT_CODE);
        const rules = w.job!.podFailurePolicy!.rules;
        const ignoredAt = rules.findIndex(
          (r) =>
            r.action === 'Ignore' &&
            r.onExitCodes?.containerName === container.name &&
            r.onExitCodes.operator === 'In' &&
            r.onExitCodes.values.includes(code),
        );
        expect(ignoredAt, `${overlay}: ${component}: a rule ignoring exit ${code}`).toBeGreaterThanOrEqual(0);
        // No earlier rule decides exit 143 otherwise; exit 2 (bad configuration) still fails the Job, 0 is never a rule's.
        for (const r of rules.slice(0, ignoredAt)) expect(r.onExitCodes?.values ?? []).not.toContain(code);
        const failJob = rules.find((r) => r.action === 'FailJob')!;
        expect(failJob.onExitCodes!.values).toEqual([2]);
        expect(rules.flatMap((r) => r.onExitCodes?.values ?? [])).not.toContain(0);
      }
    },
  );

  it.each(OVERLAYS)(
    'overlays/%s: one worker pod per worker of the run: Indexed, parallelism = completions = workers in run.yaml',
    (overlay) => {
      const objects = renderOverlay(overlay);
      const runYaml = parse(find(objects, 'ConfigMap', 'fleet-run').data!['run.yaml']!) as { workers: number };
      const workers = workloadOf(objects, 'worker').job!;
      expect(workers.completionMode).toBe('Indexed');
      expect(workers.parallelism).toBe(runYaml.workers);
      expect(workers.completions).toBe(runYaml.workers);
    },
  );

  it.each(OVERLAYS)('overlays/%s: the coordinator gets longer than --drain-timeout + --shutdown-grace to stop', (overlay) => {
    const objects = renderOverlay(overlay);
    const pod = workloadOf(objects, 'coordinator').template.spec;
    const args = pod.containers[0]!.args!;
    expect(args).toEqual(expect.arrayContaining(['--resume', 'auto', '--external-evaluator']));
    const drainMs = parseDuration(argValue(args, '--drain-timeout') ?? '20s', 's');
    const shutdownMs = parseDuration(argValue(args, '--shutdown-grace') ?? '5s', 's');
    // Plus the checkpoint write and the NATS flush (a few seconds for resnet18; docs: graceful stop).
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThanOrEqual(drainMs + shutdownMs + 30_000);
  });

  it.each(OVERLAYS)('overlays/%s: a PodDisruptionBudget keeps the coordinator from voluntary eviction', (overlay) => {
    const objects = renderOverlay(overlay);
    const pdb = find(objects, 'PodDisruptionBudget', 'fleet-coordinator').spec as {
      minAvailable: number;
      unhealthyPodEvictionPolicy: string;
      selector: { matchLabels: Record<string, string> };
    };
    expect(pdb.minAvailable).toBe(1);
    expect(pdb.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    const matched = workloads(objects).filter((w) => selects(pdb.selector, w.template.metadata?.labels));
    expect(matched.map((w) => w.template.metadata?.labels?.['app.kubernetes.io/component'])).toEqual(['coordinator']);
  });

  it.each(OVERLAYS)('overlays/%s: NATS is a StatefulSet with its JetStream store on a volume and a headless Service', (overlay) => {
    const objects = renderOverlay(overlay);
    const nats = find(objects, 'StatefulSet', 'fleet-nats').spec as {
      serviceName: string;
      volumeClaimTemplates: { metadata: { name: string } }[];
      template: { spec: { containers: Container[] } };
    };
    expect(nats.serviceName).toBe('fleet-nats');
    const service = find(objects, 'Service', 'fleet-nats').spec as { clusterIP: string; ports: { port: number }[] };
    expect(service.clusterIP).toBe('None');
    expect(service.ports.map((p) => p.port)).toEqual([4222]);
    const container = nats.template.spec.containers[0]!;
    const store = container.volumeMounts!.find((m) => m.name === nats.volumeClaimTemplates[0]!.metadata.name)!;
    const conf = find(objects, 'ConfigMap', 'fleet-nats').data!['nats.conf']!;
    expect(conf).toContain(`store_dir: ${store.mountPath}`);
    expect(conf).toMatch(/max_file_store: \d+GB/);
    for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
      expect(probe?.httpGet?.path).toBe('/healthz?js-enabled-only=true');
    }
    // Every fleet pod finds it by the Service name.
    expect(find(objects, 'ConfigMap', 'fleet-env').data!.NATS_URL).toBe('nats://fleet-nats:4222');
  });

  it.each(['cpu', 'gpu', 'jobset'] as const)('overlays/%s: the coordinator has gRPC probes on its health service', (overlay) => {
    const c = fleetContainer(renderOverlay(overlay), 'coordinator');
    expect(c.startupProbe?.grpc).toEqual({ port: 7070 });
    expect(c.readinessProbe?.grpc).toEqual({ port: 7070, service: 'fleet.v1.Coordinator' });
    expect(c.livenessProbe?.grpc).toEqual({ port: 7070 });
    expect(argValue(c.args, '--port')).toBe('7070');
  });

  it('overlays/tls: TLS on, and the probes are exec probes running fleet health with the TLS flags', () => {
    const objects = renderOverlay('tls');
    const c = fleetContainer(objects, 'coordinator');
    expect(argValue(c.args, '--tls-cert')).toBe('/etc/fleet/tls/tls.crt');
    expect(argValue(c.args, '--tls-key')).toBe('/etc/fleet/tls/tls.key');
    const tlsMount = c.volumeMounts!.find((m) => m.mountPath === '/etc/fleet/tls')!;
    const pod = workloadOf(objects, 'coordinator').template.spec;
    expect(pod.volumes!.find((v) => v.name === tlsMount.name)?.secret?.secretName).toBe('fleet-tls');
    for (const probe of [c.startupProbe!, c.readinessProbe!, c.livenessProbe!]) {
      expect(probe.grpc).toBeUndefined();
      const command = probe.exec!.command;
      expect(command.slice(0, 3)).toEqual(['fleet', 'health', '127.0.0.1:7070']);
      expect(argValue(command, '--tls-ca')).toBe('/etc/fleet/tls/ca.crt');
      expect(argValue(command, '--tls-server-name')).toBe('fleet-coordinator');
    }
    expect(argValue(c.readinessProbe!.exec!.command, '--service')).toBe('fleet.v1.Coordinator');
    // Workers and the evaluator verify the coordinator against the CA, and see nothing else of the Secret.
    for (const component of ['worker', 'evaluator']) {
      const w = workloadOf(objects, component);
      expect(w.template.spec.containers[0]!.env).toContainEqual({ name: 'FLEET_TLS_CA', value: '/etc/fleet/tls/ca.crt' });
      const secret = w.template.spec.volumes!.find((v) => v.secret?.secretName === 'fleet-tls')!.secret!;
      expect(secret.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
    }
    // The cpu overlay's coordinator has no TLS: the component is what turns it on.
    expect(argValue(fleetContainer(renderOverlay('cpu'), 'coordinator').args, '--tls-cert')).toBeNull();
  });

  it('overlays/gpu: one GPU per worker, the GPU image, a node selector and toleration; the other pods stay on CPUs', () => {
    const objects = renderOverlay('gpu');
    const worker = workloadOf(objects, 'worker').template.spec;
    const c = worker.containers[0]!;
    expect(c.resources?.limits?.['nvidia.com/gpu']).toBe(1);
    expect(c.resources?.requests?.['nvidia.com/gpu']).toBe(1);
    expect(c.image).toMatch(/^fleet-gpu:/);
    expect(worker.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(worker.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    for (const component of ['coordinator', 'evaluator']) {
      const other = fleetContainer(objects, component);
      expect(other.resources?.limits?.['nvidia.com/gpu'], component).toBeUndefined();
      expect(other.image).toMatch(/^fleet:/);
    }
    expect(fleetContainer(renderOverlay('cpu'), 'worker').resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
  });

  it('overlays/jobset: the JobSet holds the cpu overlay Jobs spec for spec, completes with the coordinator, starts it first', () => {
    const jobsetObjects = renderOverlay('jobset');
    const cpu = renderOverlay('cpu');
    const jobset = jobsetObjects.find((o) => o.kind === 'JobSet')!;
    const spec = jobset.spec as {
      successPolicy: { operator: string; targetReplicatedJobs: string[] };
      startupPolicy: { startupPolicyOrder: string };
      replicatedJobs: { name: string; replicas: number; template: { spec: unknown } }[];
    };
    expect(spec.successPolicy).toEqual({ operator: 'All', targetReplicatedJobs: ['coordinator'] });
    expect(spec.startupPolicy.startupPolicyOrder).toBe('InOrder');
    expect(spec.replicatedJobs.map((r) => [r.name, r.replicas])).toEqual([
      ['coordinator', 1],
      ['workers', 1],
      ['evaluator', 1],
    ]);
    const byName = { coordinator: 'fleet-coordinator', workers: 'fleet-worker', evaluator: 'fleet-evaluator' } as const;
    for (const r of spec.replicatedJobs) {
      expect(r.template.spec, r.name).toEqual(find(cpu, 'Job', byName[r.name as keyof typeof byName]).spec);
    }
    // The separate Jobs are gone (the data Job stays: it runs before the run).
    expect(jobsetObjects.filter((o) => o.kind === 'Job').map((o) => o.metadata.name)).toEqual(['fleet-data-download']);
  });

  it.each(OVERLAYS)('overlays/%s: the data Job downloads into the volume every run pod mounts read-only', (overlay) => {
    const objects = renderOverlay(overlay);
    const download = workloadOf(objects, 'data');
    const c = download.template.spec.containers[0]!;
    expect(c.args).toEqual(['data', 'download']);
    const dataDir = find(objects, 'ConfigMap', 'fleet-env').data!.FLEET_DATA_DIR!;
    const claimOf = (pod: typeof download.template.spec, path: string) => {
      const mount = pod.containers[0]!.volumeMounts!.find((m) => m.mountPath === path)!;
      return {
        claim: pod.volumes!.find((v) => v.name === mount.name)!.persistentVolumeClaim!.claimName,
        readOnly: mount.readOnly === true,
      };
    };
    expect(claimOf(download.template.spec, dataDir)).toEqual({ claim: 'fleet-cifar10', readOnly: false });
    for (const component of RUN_COMPONENTS) {
      expect(claimOf(workloadOf(objects, component).template.spec, dataDir), component).toEqual({ claim: 'fleet-cifar10', readOnly: true });
    }
    // Applied first and alone (kubectl apply -k ... -l app.kubernetes.io/component=data): it needs nothing else.
    const dataSet = objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'data');
    expect(dataSet.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'Job/fleet-data-download',
      'PersistentVolumeClaim/fleet-cifar10',
    ]);
    expect(c.envFrom).toBeUndefined();
    expect(c.env).toEqual([{ name: 'FLEET_DATA_DIR', value: dataDir }]);
    expect(download.template.spec.volumes!.filter((v) => v.configMap || v.secret)).toEqual([]);
  });

  it.each(OVERLAYS)('overlays/%s: services select their pods by port names the containers have', (overlay) => {
    const objects = renderOverlay(overlay);
    for (const service of objects.filter((o) => o.kind === 'Service')) {
      const spec = service.spec as { selector: Record<string, string>; ports: { targetPort: string }[] };
      const targets = workloads(objects).filter((w) => selects({ matchLabels: spec.selector }, w.template.metadata?.labels));
      expect(targets.length, `service ${service.metadata.name}`).toBe(1);
      const names = targets[0]!.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
      for (const p of spec.ports) expect(names, `service ${service.metadata.name}`).toContain(p.targetPort);
    }
  });
});
