import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { KUBERNETES_DIR, kubectl, OVERLAYS, renderOverlay, type K8sObject } from '../../helpers/kustomize.js';

/**
 * Every object `kubectl apply -k` would send, per overlay, against the
 * Kubernetes schemas (kubernetes-models: the 1.27 OpenAPI; there is no API
 * server here to dry-run against). The JobSet, a custom resource, against
 * the JobSet CRD's own schema (vendored: test/fixtures/schemas), each of its
 * Jobs as a batch/v1 Job. kubernetes-models ignores fields it does not know,
 * so the other deploy tests check the fields that matter by name.
 */

type Validatable = new (o: never) => { validate(): void };
const MODELS: Record<string, Validatable> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

let jobSetValidator: ValidateFunction | null = null;

/** The CRD schema made strict: a field the JobSet API does not have is an error (the API server would drop it silently). */
function strictJobSetValidator(): ValidateFunction {
  if (jobSetValidator) return jobSetValidator;
  const schema = JSON.parse(readFileSync(new URL('../../fixtures/schemas/jobset-v1alpha2.schema.json', import.meta.url), 'utf8'));
  const close = (node: Record<string, unknown>): void => {
    if (node.properties && !node['x-kubernetes-preserve-unknown-fields'] && node.additionalProperties === undefined) {
      node.additionalProperties = false;
    }
    for (const value of Object.values(node)) {
      if (value && typeof value === 'object') close(value as Record<string, unknown>);
    }
  };
  close(schema);
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
  jobSetValidator = ajv.compile(schema);
  return jobSetValidator;
}

function validateObject(o: K8sObject): string[] {
  const key = `${o.apiVersion}/${o.kind}`;
  if (key === 'jobset.x-k8s.io/v1alpha2/JobSet') {
    const validate = strictJobSetValidator();
    const problems = validate(o) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    for (const r of (o.spec?.replicatedJobs ?? []) as { name: string; template: { spec: unknown } }[]) {
      try {
        new Job({ metadata: { name: r.name }, spec: r.template.spec } as never).validate();
      } catch (err) {
        problems.push(`replicatedJobs ${r.name}: ${(err as Error).message}`);
      }
    }
    return problems;
  }
  const Model = MODELS[key];
  if (!Model) return [`${key}: no schema in this test (add its kubernetes-models class)`];
  try {
    new Model(o as never).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

describe.skipIf(kubectl() === null)('deploy/kubernetes overlays against the Kubernetes schemas', () => {
  it.each(OVERLAYS)('overlays/%s renders offline and every object is valid', (overlay) => {
    const objects = renderOverlay(overlay);
    expect(objects.length).toBeGreaterThanOrEqual(15);
    for (const o of objects) {
      expect(validateObject(o), `${overlay}: ${o.kind} ${o.metadata.name}`).toEqual([]);
      expect(o.metadata.namespace ?? (o.kind === 'Namespace' ? 'fleet' : undefined), `${overlay}: ${o.kind} ${o.metadata.name}`).toBe(
        'fleet',
      );
    }
  });

  it('the strict JobSet schema refuses a misspelt field (the check can fail)', () => {
    const jobset = structuredClone(renderOverlay('jobset').find((o) => o.kind === 'JobSet')!);
    expect(validateObject(jobset)).toEqual([]);
    (jobset.spec as Record<string, unknown>).successPolicy = { operator: 'All', targetReplicatedJob: ['coordinator'] };
    expect(validateObject(jobset).join('\n')).toMatch(/must NOT have additional properties.*targetReplicatedJob/);
  });

  it('the Secret placeholders (secrets.example.yaml, applied by nobody) are valid Secrets named as the pods mount them', () => {
    const text = readFileSync(`${KUBERNETES_DIR}secrets.example.yaml`, 'utf8');
    const secrets = parseAllDocuments(text).map((d) => d.toJS() as K8sObject);
    expect(secrets.map((s) => s.metadata.name).sort()).toEqual(['fleet-tls', 'fleet-token']);
    for (const s of secrets) expect(validateObject(s)).toEqual([]);
    expect(Object.keys(secrets.find((s) => s.metadata.name === 'fleet-tls')!.stringData!).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    // Every Secret an overlay mounts is one of these, and none is in an overlay (apply would overwrite the real one).
    for (const overlay of OVERLAYS) {
      const objects = renderOverlay(overlay);
      expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
      const mounted = new Set([...JSON.stringify(objects).matchAll(/"secretName":"([^"]+)"/g)].map((m) => m[1]));
      for (const name of mounted) expect(['fleet-token', 'fleet-tls'], `${overlay}: secret ${name}`).toContain(name);
    }
  });
});
