import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/**
 * The Kubernetes overlays as `kubectl apply -k` would send them: rendered by
 * `kubectl kustomize` (offline, no cluster), once per overlay and test file.
 * kubectl is the one outside tool these tests run: kustomize is not an npm or
 * Debian package, and what the overlays mean is what kustomize makes of them.
 */
export const KUBERNETES_DIR = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
export const OVERLAYS = ['cpu', 'gpu', 'tls', 'jobset'] as const;
export type Overlay = (typeof OVERLAYS)[number];

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface Probe {
  grpc?: { port: number; service?: string };
  exec?: { command: string[] };
  httpGet?: { path: string; port: number | string };
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
  privileged?: boolean;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: SecurityContext;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}

export interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  configMap?: { name: string };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  emptyDir?: { sizeLimit?: string };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: SecurityContext;
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator: string; effect?: string }[];
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}

/** A workload's pods: a Job, a StatefulSet, or one replicated Job of a JobSet (named <jobset>/<replicated job>). */
export interface Workload {
  kind: string;
  name: string;
  /** The Job's spec (parallelism, completions, podFailurePolicy...) for Jobs and JobSet children; null otherwise. */
  job: JobSpec | null;
  template: PodTemplate;
}

export interface JobSpec {
  parallelism?: number;
  completions?: number;
  completionMode?: string;
  backoffLimit?: number;
  podFailurePolicy?: {
    rules: {
      action: string;
      onExitCodes?: { containerName?: string; operator: string; values: number[] };
      onPodConditions?: { type: string }[];
    }[];
  };
  template: PodTemplate;
}

let kubectlBinary: string | null | undefined;

/** kubectl on PATH (or in /usr/bin), or null. */
export function kubectl(): string | null {
  if (kubectlBinary !== undefined) return kubectlBinary;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  kubectlBinary = dirs.map((d) => join(d, 'kubectl')).find((p) => existsSync(p)) ?? null;
  return kubectlBinary;
}

const rendered = new Map<string, K8sObject[]>();

/** `kubectl kustomize deploy/kubernetes/<dir>` (or an absolute folder), parsed; throws with kustomize's message when it fails. */
export function render(dir: string): K8sObject[] {
  const cached = rendered.get(dir);
  if (cached) return cached;
  const binary = kubectl();
  if (!binary) throw new Error('kubectl not found: the deploy tests render the overlays with `kubectl kustomize`');
  let text: string;
  try {
    text = execFileSync(binary, ['kustomize', isAbsolute(dir) ? dir : join(KUBERNETES_DIR, dir)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new Error(`kubectl kustomize ${dir} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  const docs = parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject;
  });
  rendered.set(dir, docs);
  return docs;
}

export const renderOverlay = (overlay: Overlay): K8sObject[] => render(`overlays/${overlay}`);

export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** Every pod template of the objects: Jobs, StatefulSets, Deployments, and each replicated Job of a JobSet. */
export function workloads(objects: readonly K8sObject[]): Workload[] {
  const out: Workload[] = [];
  for (const o of objects) {
    if (o.kind === 'JobSet') {
      for (const r of (o.spec?.replicatedJobs ?? []) as { name: string; template: { spec: JobSpec } }[]) {
        out.push({ kind: 'JobSet', name: `${o.metadata.name}/${r.name}`, job: r.template.spec, template: r.template.spec.template });
      }
    } else if (o.spec && 'template' in o.spec) {
      const spec = o.spec as unknown as JobSpec;
      out.push({ kind: o.kind, name: o.metadata.name, job: o.kind === 'Job' ? spec : null, template: spec.template });
    }
  }
  return out;
}

/** The workload whose pods carry app.kubernetes.io/component=<component> (one expected). */
export function workloadOf(objects: readonly K8sObject[], component: string): Workload {
  const found = workloads(objects).filter((w) => w.template.metadata?.labels?.['app.kubernetes.io/component'] === component);
  if (found.length !== 1) throw new Error(`expected one workload of component ${component}, found ${found.length}`);
  return found[0]!;
}

/** A container's variables as the pod would see them: its ConfigMap envFrom, then its env (valueFrom: a placeholder). */
export function containerEnv(objects: readonly K8sObject[], container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, find(objects, 'ConfigMap', from.configMapRef.name).data);
  }
  for (const e of container.env ?? []) env[e.name] = e.value ?? `value-from-${e.name.toLowerCase()}`;
  return env;
}

/** Matches a label selector (matchLabels and the In operator of matchExpressions). */
export function selects(
  selector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] },
  labels: Record<string, string> | undefined,
): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator !== 'In') throw new Error(`selector operator ${e.operator}: not handled by this test`);
    if (!e.values?.includes(l[e.key] ?? '')) return false;
  }
  return true;
}
