import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { fleetProgram } from '../../../cli/main.js';

/**
 * The Kubernetes manifests against the Kubernetes schemas (no API server
 * here to dry-run them) and against fleet itself: every FLEET_* variable and
 * subcommand they use exists, services select the pods they mean, and the
 * probes ask the coordinator's health service.
 */
const DIR = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));
const KINDS: Record<string, new (o: never) => { validate(): void }> = {
  Deployment,
  StatefulSet,
  Job,
  ConfigMap,
  PersistentVolumeClaim,
  Secret,
  Service,
};

type Manifest = {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
};
type Container = {
  name: string;
  args?: string[];
  env?: { name: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string }[];
};
type PodSpec = { containers: Container[]; volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[] };

async function manifests(): Promise<{ file: string; doc: Manifest }[]> {
  const files = (await readdir(DIR)).filter((f) => f.endsWith('.yaml'));
  const out: { file: string; doc: Manifest }[] = [];
  for (const file of files) {
    for (const d of parseAllDocuments(await readFile(join(DIR, file), 'utf8'))) {
      expect(d.errors, file).toEqual([]);
      out.push({ file, doc: d.toJS() as Manifest });
    }
  }
  return out;
}

const podOf = (m: Manifest) => (m.spec?.template as { spec: PodSpec } | undefined)?.spec;

/** The variables each subcommand reads (commander's .env()), and NATS_* for the bus. */
function variablesOf(program: Command): Map<string, Set<string>> {
  const byCommand = new Map<string, Set<string>>();
  for (const c of program.commands) byCommand.set(c.name(), new Set(c.options.map((o) => o.envVar).filter((v): v is string => Boolean(v))));
  return byCommand;
}

describe('deploy/kubernetes', () => {
  it('every document is valid for its Kubernetes schema', async () => {
    const docs = await manifests();
    expect(docs.length).toBeGreaterThanOrEqual(10);
    for (const { file, doc } of docs) {
      const Kind = KINDS[doc.kind];
      expect(Kind, `${file}: ${doc.kind}`).toBeDefined();
      expect(() => new Kind!(doc as never).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`).not.toThrow();
    }
  });

  it('uses only fleet subcommands and variables that exist; what a container reads from the config, its command takes', async () => {
    const docs = await manifests();
    const vars = variablesOf(fleetProgram());
    const config = docs.find((d) => d.doc.kind === 'ConfigMap' && d.doc.metadata.name === 'fleet-config')!.doc.data!;
    const secret = docs.find((d) => d.doc.kind === 'Secret')!.doc.stringData!;
    const known = new Set([...vars.values()].flatMap((s) => [...s]));
    for (const name of [...Object.keys(config), ...Object.keys(secret)]) expect(known, name).toContain(name);
    for (const { file, doc } of docs) {
      for (const c of podOf(doc)?.containers ?? []) {
        if (!c.args || doc.kind === 'StatefulSet') continue; // nats: not fleet
        const command = c.args[0]!;
        expect(vars.has(command), `${file}: fleet ${command}`).toBe(true);
        for (const e of c.env ?? []) expect(vars.get(command), `${file}: ${e.name}`).toContain(e.name);
      }
    }
    // What each service needs from the shared config is there.
    expect(vars.get('worker')).toContain('FLEET_COORDINATOR');
    expect(vars.get('evaluator')).toContain('FLEET_COORDINATOR');
    expect(vars.get('coordinator')).toContain('NATS_URL');
  });

  it('services select their pods, ports are named on the containers, volumes name existing claims, probes ask the health service', async () => {
    const docs = await manifests();
    const claims = new Set(docs.filter((d) => d.doc.kind === 'PersistentVolumeClaim').map((d) => d.doc.metadata.name));
    const workloads = docs.filter((d) => podOf(d.doc));
    for (const { file, doc } of docs.filter((d) => d.doc.kind === 'Service')) {
      const selector = doc.spec!.selector as Record<string, string>;
      const target = workloads.find((w) =>
        Object.entries(selector).every(
          ([k, v]) => (w.doc.spec!.template as { metadata?: { labels?: Record<string, string> } }).metadata?.labels?.[k] === v,
        ),
      );
      expect(target, `${file}: service ${doc.metadata.name}`).toBeDefined();
      const portNames = new Set(podOf(target!.doc)!.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
      for (const p of doc.spec!.ports as { targetPort: string }[]) expect(portNames, `${file}: ${p.targetPort}`).toContain(p.targetPort);
    }
    for (const { file, doc } of workloads) {
      for (const v of podOf(doc)!.volumes ?? [])
        if (v.persistentVolumeClaim) expect(claims, `${file}: ${v.name}`).toContain(v.persistentVolumeClaim.claimName);
    }
    const coordinator = docs.find((d) => d.doc.kind === 'Deployment' && d.doc.metadata.name === 'fleet-coordinator')!.doc;
    const probe = (podOf(coordinator)!.containers[0] as unknown as { readinessProbe: { grpc: { port: number; service: string } } })
      .readinessProbe;
    expect(probe.grpc).toEqual({ port: 7070, service: 'fleet.v1.Coordinator' });
  });
});
