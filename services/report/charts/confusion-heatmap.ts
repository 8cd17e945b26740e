import { chartBase, type ChartSpec } from './chart-style.js';

const CELL = 46;

/**
 * The confusion matrix as a heatmap: rows the true class, columns the
 * predicted one, in label order, each cell's count written on it (white on
 * dark cells). The colour legend is the count.
 */
export function confusionHeatmapSpec(o: {
  classNames: readonly string[];
  /** confusion[trueClass][predictedClass] = count. */
  confusion: readonly (readonly number[])[];
  subtitle?: string;
}): ChartSpec {
  const values = o.confusion.flatMap((row, t) =>
    row.map((count, p) => ({ true: o.classNames[t] ?? String(t), predicted: o.classNames[p] ?? String(p), count })),
  );
  const max = Math.max(1, ...values.map((v) => v.count));
  const order = [...o.classNames];
  const size = CELL * order.length;
  return {
    ...chartBase('Confusion matrix (test set)', o.subtitle),
    width: size,
    height: size,
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'nominal', title: 'Predicted class', sort: order, axis: { labelAngle: -40, orient: 'bottom' } },
      y: { field: 'true', type: 'nominal', title: 'True class', sort: order },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'count',
            type: 'quantitative',
            title: 'Images',
            // From white: an empty cell stays blank, any count shows.
            scale: { domain: [0, max], range: ['#f7fbff', '#08306b'] },
            legend: { orient: 'right', gradientLength: size * 0.6 },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: `datum.count > ${max * 0.55}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}
