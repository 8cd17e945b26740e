import { CHART_HEIGHT, CHART_WIDTH, chartBase, type ChartSpec } from './chart-style.js';

export interface LrPoint {
  /** Fractional epochs: step / steps per epoch. */
  epoch: number;
  lr: number;
}

export const LR_COMPUTED = 'schedule (per step)';
export const LR_RECORDED = 'recorded (last step of each epoch)';

/**
 * The learning rate over training: the schedule recomputed per step as a
 * line, and the rate metrics.jsonl recorded at each epoch's last step as
 * points on it, each layer named in one legend.
 */
export function lrScheduleSpec(o: { computed: readonly LrPoint[]; recorded: readonly LrPoint[]; subtitle?: string }): ChartSpec {
  const values = [...o.computed.map((p) => ({ ...p, source: LR_COMPUTED })), ...o.recorded.map((p) => ({ ...p, source: LR_RECORDED }))];
  const sources = [LR_COMPUTED, LR_RECORDED].filter((s) => values.some((v) => v.source === s));
  const color = {
    field: 'source',
    type: 'nominal' as const,
    title: 'Learning rate',
    scale: { domain: sources, range: ['#4c78a8', '#e45756'].slice(0, sources.length) },
    legend: { orient: 'bottom' as const, direction: 'vertical' as const },
  };
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'Epoch', scale: { nice: false } };
  const y = { field: 'lr', type: 'quantitative' as const, title: 'Learning rate', axis: { format: '.3~g' } };
  return {
    ...chartBase('Learning rate schedule', o.subtitle),
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    data: { values },
    layer: [
      {
        transform: [{ filter: { field: 'source', equal: LR_COMPUTED } }],
        mark: { type: 'line', strokeWidth: 2 },
        encoding: { x, y, color },
      },
      {
        transform: [{ filter: { field: 'source', equal: LR_RECORDED } }],
        mark: { type: 'point', filled: true, size: 60 },
        encoding: { x, y, color },
      },
    ],
  };
}
