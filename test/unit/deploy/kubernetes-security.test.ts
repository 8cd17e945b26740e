import { describe, expect, it } from 'vitest';
import { find, kubectl, OVERLAYS, renderOverlay, selects, workloadOf, workloads, type K8sObject } from '../../helpers/kustomize.js';

/**
 * The security posture of every pod the overlays make: the "restricted" Pod
 * Security Standard and more (a read-only root filesystem, writable volumes
 * only where fleet writes, no service account token, requests and limits),
 * and NetworkPolicies that let only the run's workers and evaluator reach
 * the coordinator, only fleet's pods reach NATS and only Prometheus the
 * metrics ports.
 */

const UID = 10001;

/** Where each container may write: everything else is the read-only image. */
const WRITABLE: Record<string, string[]> = {
  coordinator: ['/runs', '/tmp'],
  worker: ['/tmp'],
  evaluator: ['/runs', '/tmp'],
  download: ['/data/cifar10', '/tmp'],
  nats: ['/data'],
};

interface NetworkPolicySpec {
  podSelector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values: string[] }[] };
  policyTypes: string[];
  ingress?: {
    from: {
      podSelector?: NetworkPolicySpec['podSelector'];
      namespaceSelector?: { matchLabels: Record<string, string> };
    }[];
    ports: { protocol: string; port: number }[];
  }[];
}

/** Which pods (by component label) may open a TCP connection to `port` of pods of component `target`, from inside the namespace. */
function allowedFrom(objects: readonly K8sObject[], target: string, port: number): string[] {
  const pods = workloads(objects).map((w) => w.template.metadata?.labels ?? {});
  const targetLabels = pods.find((l) => l['app.kubernetes.io/component'] === target)!;
  const policies = objects
    .filter((o) => o.kind === 'NetworkPolicy')
    .map((o) => o.spec as unknown as NetworkPolicySpec)
    .filter((p) => selects(p.podSelector, targetLabels) && p.policyTypes.includes('Ingress'));
  expect(policies.length, `${target}: no policy selects it, so everything may reach it`).toBeGreaterThan(0);
  const sources = new Set<string>();
  for (const policy of policies) {
    for (const rule of policy.ingress ?? []) {
      if (!rule.ports.some((p) => p.port === port && p.protocol === 'TCP')) continue;
      for (const from of rule.from) {
        // A namespaceSelector alone or with a podSelector names other namespaces: not the run's pods.
        if (from.namespaceSelector) continue;
        for (const labels of pods)
          if (from.podSelector && selects(from.podSelector, labels)) sources.add(labels['app.kubernetes.io/component']!);
      }
    }
  }
  return [...sources].sort();
}

describe.skipIf(kubectl() === null)('deploy/kubernetes: security posture', () => {
  it.each(OVERLAYS)(
    'overlays/%s: every pod and container runs as non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp',
    (overlay) => {
      const all = workloads(renderOverlay(overlay));
      expect(all.length).toBeGreaterThanOrEqual(5);
      for (const w of all) {
        const pod = w.template.spec;
        expect(pod.securityContext, w.name).toMatchObject({
          runAsNonRoot: true,
          runAsUser: UID,
          runAsGroup: UID,
          fsGroup: UID,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(pod.automountServiceAccountToken, w.name).toBe(false);
        // Kubernetes would otherwise put FLEET_COORDINATOR_PORT=tcp://... and the like into every container.
        expect(pod.enableServiceLinks, w.name).toBe(false);
        for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
          const where = `${w.name}/${c.name}`;
          expect(c.securityContext, where).toEqual({
            runAsNonRoot: true,
            runAsUser: UID,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          });
          for (const kind of ['requests', 'limits'] as const) {
            expect(c.resources?.[kind]?.cpu, `${where} ${kind}.cpu`).toBeDefined();
            expect(c.resources?.[kind]?.memory, `${where} ${kind}.memory`).toBeDefined();
          }
        }
      }
    },
  );

  it.each(OVERLAYS)(
    'overlays/%s: writable volumes only where fleet writes (the run dir, /tmp, the data for its download, the NATS store)',
    (overlay) => {
      for (const w of workloads(renderOverlay(overlay))) {
        const pod = w.template.spec;
        for (const c of pod.containers) {
          const writable = (c.volumeMounts ?? []).filter((m) => m.readOnly !== true).map((m) => m.mountPath);
          expect(writable.sort(), `${w.name}/${c.name}`).toEqual([...(WRITABLE[c.name] ?? ['?'])].sort());
          for (const m of c.volumeMounts ?? []) {
            const volume = pod.volumes?.find((v) => v.name === m.name);
            // Secrets and config are always read-only; /tmp is a bounded emptyDir.
            if (volume?.secret || volume?.configMap) expect(m.readOnly, `${w.name}/${c.name} ${m.mountPath}`).toBe(true);
            if (m.mountPath === '/tmp') expect(volume?.emptyDir?.sizeLimit, `${w.name}/${c.name} /tmp`).toBeDefined();
          }
        }
      }
    },
  );

  it.each(OVERLAYS)('overlays/%s: the namespace enforces the restricted Pod Security Standard', (overlay) => {
    expect(find(renderOverlay(overlay), 'Namespace', 'fleet').metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
  });

  it.each(OVERLAYS)(
    'overlays/%s: only the workers and the evaluator reach the coordinator gRPC port; only fleet pods reach NATS',
    (overlay) => {
      const objects = renderOverlay(overlay);
      const deny = find(objects, 'NetworkPolicy', 'fleet-default-deny-ingress').spec as unknown as NetworkPolicySpec;
      expect(deny).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
      expect(allowedFrom(objects, 'coordinator', 7070)).toEqual(['evaluator', 'worker']);
      // fleet's pods all carry part-of=fleet: they may; a pod without the label (another app in the namespace) may not.
      expect(allowedFrom(objects, 'nats', 4222)).toEqual(['coordinator', 'data', 'evaluator', 'nats', 'worker']);
      const nats = find(objects, 'NetworkPolicy', 'fleet-nats-clients').spec as unknown as NetworkPolicySpec;
      expect(nats.ingress![0]!.from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/part-of': 'fleet' } } }]);
      // Nobody in the namespace reaches the metrics ports; the data Job and NATS have none open to anyone.
      for (const component of ['coordinator', 'worker', 'evaluator']) expect(allowedFrom(objects, component, 9464)).toEqual([]);
      expect(allowedFrom(objects, 'worker', 7070)).toEqual([]);
    },
  );

  it.each(OVERLAYS)(
    'overlays/%s: Prometheus (app.kubernetes.io/name=prometheus in namespace monitoring) reaches the metrics ports',
    (overlay) => {
      const objects = renderOverlay(overlay);
      const policy = find(objects, 'NetworkPolicy', 'fleet-metrics-prometheus').spec as unknown as NetworkPolicySpec;
      // One peer with both selectors: pods with that label in that namespace (two peers would allow either).
      expect(policy.ingress).toEqual([
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: 9464 }],
        },
      ]);
      for (const component of ['coordinator', 'worker', 'evaluator']) {
        const w = workloadOf(objects, component);
        expect(selects(policy.podSelector, w.template.metadata?.labels), component).toBe(true);
        expect(w.template.spec.containers[0]!.ports, component).toContainEqual({ name: 'metrics', containerPort: 9464 });
        expect(w.template.metadata?.annotations?.['prometheus.io/port']).toBe('9464');
      }
      expect(find(objects, 'ConfigMap', 'fleet-env').data!.FLEET_METRICS_PORT).toBe('9464');
    },
  );
});
