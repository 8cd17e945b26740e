import { CHART_HEIGHT, CHART_WIDTH, chartBase, type ChartSpec } from './chart-style.js';

export interface CurvePoint {
  epoch: number;
  /** The curve's name in the legend ('train', 'test'). */
  split: string;
  value: number;
}

/**
 * Train and test curves of one quantity over epochs (loss, accuracy): a line
 * per split with points, coloured by split with a legend.
 */
export function epochCurvesSpec(o: { title: string; yTitle: string; points: readonly CurvePoint[]; percent?: boolean }): ChartSpec {
  const epochs = new Set(o.points.map((p) => p.epoch)).size;
  return {
    ...chartBase(o.title),
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    data: { values: o.points.map((p) => ({ ...p, value: o.percent ? p.value * 100 : p.value })) },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative',
        title: 'Epoch',
        // Whole epochs only: a 3-epoch run has no epoch 1.5.
        axis: { tickMinStep: 1, format: 'd', ...(epochs <= 20 ? { tickCount: epochs } : {}) },
        scale: { nice: false },
      },
      y: {
        field: 'value',
        type: 'quantitative',
        title: o.yTitle,
        scale: { zero: false },
      },
      color: { field: 'split', type: 'nominal', title: 'Split', sort: ['train', 'test'], legend: { orient: 'right' } },
      tooltip: [{ field: 'epoch' }, { field: 'split' }, { field: 'value', format: '.4f' }],
    },
  };
}
