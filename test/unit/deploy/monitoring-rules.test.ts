import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigMap } from 'kubernetes-models/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { kubectl, render } from '../../helpers/kustomize.js';
import {
  dashboardQueries,
  exportedNames,
  findBinary,
  fleetNamesIn,
  MONITORING_DIR,
  readDashboard,
  readRules,
  selectorsIn,
} from '../../helpers/monitoring.js';

/**
 * deploy/monitoring offline: promtool checks the rules and both Prometheus
 * configurations and runs rules.test.yml (each alert fires on a synthetic
 * series, and not on its quiet twin); every fleet_* name in the rules and
 * the dashboard is one the services' registries export (built here from the
 * same factories), under the service the selector names; every fleet:* name
 * is a recording rule; the kustomization renders the ConfigMaps.
 */

const promtool = findBinary('promtool');
const scratch = mkdtempSync(join(tmpdir(), 'fleet-monitoring-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function runPromtool(args: string[], cwd = MONITORING_DIR): { status: number | null; output: string } {
  const r = spawnSync(promtool!, args, { cwd, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!promtool)('promtool (Debian prometheus package) on deploy/monitoring', () => {
  it('promtool check rules: the rules parse, their PromQL included', () => {
    const r = runPromtool(['check', 'rules', 'rules.yml']);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('promtool test rules: each alert fires on its synthetic series and stays quiet on the others', () => {
    const r = runPromtool(['test', 'rules', 'rules.test.yml']);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
    // Every alert of rules.yml has a test case in rules.test.yml.
    const tested = readFileSync(join(MONITORING_DIR, 'rules.test.yml'), 'utf8');
    for (const alert of readRules().flatMap((g) => g.rules.flatMap((rule) => (rule.alert ? [rule.alert] : []))))
      expect(tested, alert).toContain(`alertname: ${alert}`);
  });

  it('promtool check config: the local (file_sd) configuration with its rules', () => {
    for (const f of ['prometheus.local.yml', 'rules.yml']) writeFileSync(join(scratch, f), readFileSync(join(MONITORING_DIR, f)));
    writeFileSync(join(scratch, 'targets.json'), JSON.stringify([{ targets: ['127.0.0.1:9464'], labels: {} }]));
    const r = runPromtool(['check', 'config', 'prometheus.local.yml'], scratch);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: 1 rule files found/);
  });

  it('promtool check config: the Kubernetes configuration (its relabelling; kubernetes_sd where this build has it)', () => {
    const r = runPromtool(['check', 'config', 'prometheus.yml']);
    if (r.status !== 0 && r.output.includes('field kubernetes_sd_configs not found')) {
      // Debian builds Prometheus without Kubernetes discovery (its client library is not packaged): check
      // everything else, the relabel rules included, with the discovery swapped for a static target.
      const text = readFileSync(join(MONITORING_DIR, 'prometheus.yml'), 'utf8');
      const swapped = text.replace(/kubernetes_sd_configs:\n(?: {6,}.*\n)+/, "static_configs:\n      - targets: ['127.0.0.1:9464']\n");
      expect(swapped).not.toContain('kubernetes_sd_configs');
      writeFileSync(join(scratch, 'prometheus.yml'), swapped);
      writeFileSync(join(scratch, 'rules.yml'), readFileSync(join(MONITORING_DIR, 'rules.yml')));
      const again = runPromtool(['check', 'config', 'prometheus.yml'], scratch);
      expect(again.status, again.output).toBe(0);
      return;
    }
    expect(r.status, r.output).toBe(0);
  });
});

describe('the names the rules and the dashboard read', () => {
  const rules = readRules();
  const recorded = new Set(rules.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
  const expressions = [
    ...rules.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr }))),
    ...dashboardQueries().map((q) => ({ where: `panel ${q.panel}`, expr: q.expr })),
  ];

  it('every fleet_* metric is exported by a service (under the service its selector names); every fleet:* is a recording rule', async () => {
    const exported = await exportedNames();
    const anywhere = new Set([...exported.values()].flatMap((s) => [...s]));
    const unknown: string[] = [];
    for (const { where, expr } of expressions) {
      for (const name of fleetNamesIn(expr)) {
        const known = name.includes(':') ? recorded.has(name) : anywhere.has(name);
        if (!known) unknown.push(`${where}: ${name}`);
      }
      for (const s of selectorsIn(expr)) {
        if (s.service === null) continue;
        const names = exported.get(s.service as 'worker');
        if (!names?.has(s.name)) unknown.push(`${where}: ${s.name} is not exported by service="${s.service}"`);
      }
    }
    expect(unknown).toEqual([]);
    // The check bites: a misspelt name is caught.
    expect(fleetNamesIn('rate(fleet_round_second_count[5m])').every((n) => anywhere.has(n))).toBe(false);
  });

  it('docs/metrics.md documents every fleet metric the services export, every recording rule and every alert', async () => {
    const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
    const exported = [...new Set([...(await exportedNames()).values()].flatMap((s) => [...s]))]
      .filter((n) => n.startsWith('fleet_'))
      .map((n) => n.replace(/_(bucket|sum|count)$/, ''));
    const ruleNames = rules.flatMap((g) => g.rules.map((r) => r.record ?? r.alert ?? ''));
    const missing = [...new Set([...exported, ...ruleNames])].filter((n) => !doc.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });

  it('the dashboard has the panels the issue asks for, each querying fleet series, with the run variable', () => {
    const dashboard = readDashboard();
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Runs', 'Throughput', 'Round time breakdown (workers)', 'Members', 'Test accuracy', 'Evaluation lag'])
      expect(titles).toContain(t);
    for (const p of dashboard.panels) {
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect(fleetNamesIn(t.expr).length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        expect(t.expr, p.title).toContain('run=~"$run"');
      }
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'run']);
    const ids = dashboard.panels.map((p) => (p as unknown as { id: number }).id);
    expect(new Set(ids).size, 'panel ids are unique').toBe(ids.length);
  });

  it('every alert waits (for:), has a severity, and its summary and description name the run', () => {
    const alerts = rules.flatMap((g) => g.rules.filter((r) => r.alert));
    expect(alerts.map((a) => a.alert).sort()).toEqual(
      [
        'FleetEvaluationBehind',
        'FleetLossNotFinite',
        'FleetLossRising',
        'FleetNatsBacklog',
        'FleetRoundTimeRising',
        'FleetWorkerNoRounds',
        'FleetWriteFailures',
      ].sort(),
    );
    for (const a of alerts) {
      expect(a.for, a.alert).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toContain('{{ $labels.run }}');
      expect(a.annotations?.description, a.alert).toContain('{{ $labels.run }}');
    }
    const perWorker = alerts.filter((a) => a.alert === 'FleetWorkerNoRounds' || a.alert === 'FleetLossNotFinite');
    for (const a of perWorker) expect(a.annotations?.summary, a.alert).toContain('{{ $labels.worker }}');
  });
});

describe.skipIf(!kubectl())('deploy/monitoring as kustomize renders it', () => {
  it('ConfigMaps in namespace monitoring: the Prometheus config and rules, the dashboard with the grafana_dashboard label', () => {
    const objects = render(MONITORING_DIR);
    const byName = new Map(objects.map((o) => [o.metadata.name, o]));
    const prometheus = byName.get('fleet-prometheus');
    const grafana = byName.get('fleet-grafana-dashboard');
    expect(prometheus?.kind).toBe('ConfigMap');
    expect(prometheus?.metadata.namespace).toBe('monitoring');
    expect(prometheus?.data?.['prometheus.yml']).toBe(readFileSync(join(MONITORING_DIR, 'prometheus.yml'), 'utf8'));
    expect(prometheus?.data?.['rules.yml']).toBe(readFileSync(join(MONITORING_DIR, 'rules.yml'), 'utf8'));
    expect(grafana?.metadata.labels?.grafana_dashboard).toBe('1');
    // Valid ConfigMaps (the Kubernetes 1.27 schema), and nothing else in the kustomization.
    for (const o of objects) new ConfigMap(o as never).validate();
    expect(objects.map((o) => o.kind)).toEqual(['ConfigMap', 'ConfigMap']);
    expect(JSON.parse(grafana?.data?.['fleet.json'] ?? 'null')).toEqual(readDashboard());
  });
});
