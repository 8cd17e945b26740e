import { CHART_HEIGHT, CHART_WIDTH, chartBase, type ChartSpec } from './chart-style.js';

export interface TrialCurve {
  /** The legend's name of the trial: its id and params. */
  label: string;
  status: string;
  points: readonly { epoch: number; value: number }[];
}

export const RAN_TO_END = 'ran to the end';
export const PRUNED = 'pruned';

/**
 * Every trial's test-accuracy curve on one chart: a colour per trial (the
 * legend names its params), pruned trials dashed, with a second legend for
 * the dash. Points are a layer of their own: on a line-with-points mark
 * vega-lite draws the dash legend's symbols transparent.
 */
export function trialCurvesSpec(o: { trials: readonly TrialCurve[]; subtitle?: string }): ChartSpec {
  const values = o.trials.flatMap((t) =>
    t.points.map((p) => ({
      trial: t.label,
      outcome: t.status === 'pruned' ? PRUNED : RAN_TO_END,
      epoch: p.epoch,
      accuracy: p.value * 100,
    })),
  );
  const lastEpoch = Math.max(1, ...values.map((v) => v.epoch));
  return {
    ...chartBase('Test accuracy of every trial', o.subtitle),
    width: CHART_WIDTH,
    height: CHART_HEIGHT + 60,
    data: { values },
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative',
        title: 'Epoch',
        scale: { domain: [1, lastEpoch], nice: false },
        axis: { tickMinStep: 1, format: 'd' },
      },
      y: { field: 'accuracy', type: 'quantitative', title: 'Test accuracy (%)', scale: { zero: false } },
      color: {
        field: 'trial',
        type: 'nominal',
        title: 'Trial (params)',
        sort: o.trials.map((t) => t.label),
        scale: { scheme: o.trials.length > 10 ? 'category20' : 'tableau10' },
        legend: { orient: 'bottom', columns: o.trials.length > 6 ? 2 : 1, symbolType: 'stroke', symbolStrokeWidth: 3, labelLimit: 420 },
      },
      detail: { field: 'trial' },
      tooltip: [{ field: 'trial' }, { field: 'epoch' }, { field: 'accuracy', format: '.2f' }],
    },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          strokeDash: {
            field: 'outcome',
            type: 'nominal',
            title: 'Outcome',
            scale: {
              domain: [RAN_TO_END, PRUNED],
              range: [
                [1, 0],
                [6, 4],
              ],
            },
            legend: { orient: 'right', symbolType: 'stroke', symbolStrokeColor: '#333', symbolStrokeWidth: 2, symbolSize: 400 },
          },
        },
      },
      { mark: { type: 'point', filled: true, size: 25 } },
    ],
  };
}
