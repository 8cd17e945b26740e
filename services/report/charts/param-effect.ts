import { CHART_HEIGHT, chartBase, type ChartSpec } from './chart-style.js';

export interface ParamPoint {
  /** The parameter's value in this trial (a label for a string or boolean, the number otherwise). */
  value: string | number;
  /** The trial's best test accuracy, a fraction. */
  accuracy: number;
  trial: string;
}

export const TRIAL_POINTS = 'trial';
export const VALUE_MEAN = 'mean over trials';

/**
 * Test accuracy against one varied parameter: a point per trial, the mean
 * per value as a line with larger marks, one legend naming both. Numbers get
 * a quantitative axis (log when they span more than a decade, as a learning
 * rate does), anything else one column per value in the order given.
 */
export function paramEffectSpec(o: { param: string; points: readonly ParamPoint[]; order?: readonly (string | number)[] }): ChartSpec {
  const numeric = o.points.every((p) => typeof p.value === 'number');
  const positive = numeric && o.points.every((p) => (p.value as number) > 0);
  const nums = o.points.map((p) => p.value as number);
  const log = positive && Math.max(...nums) / Math.min(...nums) > 10;
  const values = o.points.map((p) => ({ value: p.value, accuracy: p.accuracy * 100, trial: p.trial, kind: TRIAL_POINTS }));
  const distinct = [...new Set(nums)].sort((a, b) => a - b);
  const x = numeric
    ? {
        field: 'value',
        type: 'quantitative' as const,
        title: o.param,
        // Padded, not niced: the values tried sit inside the axis, not on a rounded edge far away.
        scale: log ? { type: 'log' as const, nice: false, padding: 24 } : { zero: false, nice: false, padding: 24 },
        // Ticks at the values tried, when they are few (a grid); else the scale's own, spaced so labels never overlap.
        axis: distinct.length <= 8 ? { values: distinct, format: '~g' } : { format: '~g', labelOverlap: true },
      }
    : {
        field: 'value',
        type: 'ordinal' as const,
        title: o.param,
        sort: (o.order ?? [...new Set(o.points.map((p) => String(p.value)))]).map(String),
        axis: { labelAngle: 0 },
      };
  const color = {
    field: 'kind',
    type: 'nominal' as const,
    title: 'Test accuracy',
    scale: { domain: [TRIAL_POINTS, VALUE_MEAN], range: ['#9ecae1', '#e45756'] },
    legend: { orient: 'bottom' as const, direction: 'horizontal' as const },
  };
  return {
    ...chartBase(`Test accuracy against ${o.param}`),
    width: numeric ? 420 : Math.max(240, 90 * new Set(values.map((v) => String(v.value))).size),
    height: CHART_HEIGHT,
    data: { values: values.map((v) => ({ ...v, value: numeric ? v.value : String(v.value) })) },
    encoding: { x },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 70, opacity: 0.8 },
        encoding: {
          y: { field: 'accuracy', type: 'quantitative', title: 'Best test accuracy (%)', scale: { zero: false, padding: 12 } },
          color,
          tooltip: [{ field: 'trial' }, { field: 'value' }, { field: 'accuracy', format: '.2f' }],
        },
      },
      {
        transform: [
          { aggregate: [{ op: 'mean', field: 'accuracy', as: 'accuracy' }], groupby: ['value'] },
          { calculate: `'${VALUE_MEAN}'`, as: 'kind' },
        ],
        mark: { type: 'line', point: { size: 120, shape: 'diamond', filled: true }, strokeWidth: 2 },
        encoding: { y: { field: 'accuracy', type: 'quantitative' }, color },
      },
    ],
  };
}
