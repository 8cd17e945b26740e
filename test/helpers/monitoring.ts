import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { coordinatorMetrics, evaluatorMetrics, workerMetrics, type ServiceName } from '../../src/runtime/metrics/index.js';

/** deploy/monitoring: the Prometheus configuration, rules and Grafana dashboard the tests check. */
export const MONITORING_DIR = fileURLToPath(new URL('../../deploy/monitoring/', import.meta.url));

/** A binary on PATH or in /usr/bin (Debian's prometheus package puts prometheus and promtool there), or null. */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p)) ?? null;
}

export interface RuleGroup {
  name: string;
  rules: {
    record?: string;
    alert?: string;
    expr: string;
    for?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  }[];
}

export function readRules(): RuleGroup[] {
  return (parse(readFileSync(join(MONITORING_DIR, 'rules.yml'), 'utf8')) as { groups: RuleGroup[] }).groups;
}

export interface DashboardPanel {
  title: string;
  type: string;
  targets: { expr: string; refId: string }[];
}

export function readDashboard(): {
  panels: DashboardPanel[];
  templating: { list: { name: string; query?: unknown; definition?: string }[] };
} {
  return JSON.parse(readFileSync(join(MONITORING_DIR, 'grafana-dashboard.json'), 'utf8'));
}

/** Every panel query of the dashboard, `$run` left in. */
export function dashboardQueries(): { panel: string; expr: string }[] {
  return readDashboard().panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
}

/** The fleet series names an expression reads: metrics (fleet_*) and recording rules (fleet:*). */
export function fleetNamesIn(expr: string): string[] {
  // Label values are quoted: drop them first, so `{service="fleet_x"}` would not count.
  const unquoted = expr.replace(/"[^"]*"/g, '""');
  return [...new Set(unquoted.match(/\bfleet[_:][a-zA-Z0-9_:]+/g) ?? [])];
}

/** `name{...}` selectors of an expression with the value of their `service` matcher, when they have one. */
export function selectorsIn(expr: string): { name: string; service: string | null }[] {
  const out: { name: string; service: string | null }[] = [];
  for (const m of expr.matchAll(/\b(fleet_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?/g)) {
    const service = m[2] ? (/service\s*=\s*"([^"]*)"/.exec(m[2])?.[1] ?? null) : null;
    out.push({ name: m[1]!, service });
  }
  return out;
}

/**
 * The series names each service's registry exports, built in-process from
 * the same factories the services use (histograms as _bucket, _sum, _count).
 */
export async function exportedNames(): Promise<Map<ServiceName, Set<string>>> {
  const registries = {
    coordinator: coordinatorMetrics({ run: 'names' }).registry,
    worker: workerMetrics({ run: 'names', worker: 'w' }).registry,
    evaluator: evaluatorMetrics({ run: 'names' }).registry,
  };
  const out = new Map<ServiceName, Set<string>>();
  for (const [service, registry] of Object.entries(registries) as [ServiceName, (typeof registries)['worker']][]) {
    const names = new Set<string>();
    for (const m of await registry.getMetricsAsJSON()) {
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
      else names.add(m.name);
    }
    out.set(service, names);
  }
  return out;
}
