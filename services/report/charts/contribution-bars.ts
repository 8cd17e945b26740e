import { CHART_HEIGHT, chartBase, type ChartSpec } from './chart-style.js';

export interface Contribution {
  /** The technique switched off. */
  technique: string;
  /** Baseline mean minus the mean without it, in percentage points. */
  points: number;
}

export const HELPS = 'helps (removing it costs accuracy)';
export const HURTS = 'hurts (removing it gains accuracy)';

/** An ablation's contribution of each technique in points: horizontal bars, largest first, labelled with the value. */
export function contributionBarsSpec(o: { contributions: readonly Contribution[]; subtitle?: string }): ChartSpec {
  const values = o.contributions.map((c) => ({ ...c, effect: c.points >= 0 ? HELPS : HURTS }));
  const order = [...values].sort((a, b) => b.points - a.points).map((v) => v.technique);
  const y = { field: 'technique', type: 'nominal' as const, title: 'Technique removed', sort: order };
  // Room beyond the longest bar each way for its label (a negative one's would sit on the axis labels).
  const points = values.map((v) => v.points);
  const lo = Math.min(0, ...points);
  const hi = Math.max(0, ...points);
  const pad = Math.max(1, 0.2 * (hi - lo));
  const domain = [lo < 0 ? lo - pad : 0, hi > 0 ? hi + pad : 0];
  return {
    ...chartBase('Contribution of each technique (ablation)', o.subtitle),
    width: 420,
    height: Math.max(CHART_HEIGHT / 2, 36 * values.length),
    data: { values },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          y,
          x: {
            field: 'points',
            type: 'quantitative',
            title: 'Contribution (accuracy points)',
            scale: { domain, nice: true },
            axis: { tickCount: 6 },
          },
          color: {
            field: 'effect',
            type: 'nominal',
            title: 'Effect',
            scale: { domain: [HELPS, HURTS], range: ['#54a24b', '#e45756'] },
            legend: { orient: 'bottom', direction: 'vertical' },
          },
        },
      },
      // Each value at the end of its bar: right of a positive one, left of a negative one.
      ...(['>=', '<'] as const).map((op) => ({
        transform: [{ filter: `datum.points ${op} 0` }],
        mark: {
          type: 'text' as const,
          align: op === '>=' ? ('left' as const) : ('right' as const),
          dx: op === '>=' ? 4 : -4,
          fontSize: 11,
        },
        encoding: {
          y,
          x: { field: 'points', type: 'quantitative' as const },
          text: { field: 'points', type: 'quantitative' as const, format: '+.2f' },
        },
      })),
    ],
  };
}
