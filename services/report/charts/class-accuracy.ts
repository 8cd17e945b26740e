import { CHART_HEIGHT, chartBase, type ChartSpec } from './chart-style.js';

export const HIGHLIGHTED = 'weakest (examples below)';
export const OTHER = 'other classes';

/**
 * Per-class test accuracy as bars in label order, each labelled with its
 * percentage; the highlighted classes (the weakest, whose mistakes the report
 * shows) in another colour named by the legend, the overall accuracy as a
 * dashed rule.
 */
export function classAccuracySpec(o: {
  classNames: readonly string[];
  /** Fractions in label order; null for a class without test images (left out). */
  perClassAccuracy: readonly (number | null)[];
  highlighted: readonly string[];
  overall: number;
  subtitle?: string;
}): ChartSpec {
  const values = o.classNames.flatMap((name, c) => {
    const a = o.perClassAccuracy[c];
    return a === null || a === undefined || Number.isNaN(a)
      ? []
      : [{ class: name, accuracy: a * 100, group: o.highlighted.includes(name) ? HIGHLIGHTED : OTHER }];
  });
  const x = { field: 'class', type: 'nominal' as const, title: 'Class', sort: [...o.classNames], axis: { labelAngle: -40 } };
  return {
    ...chartBase('Per-class accuracy (test set)', o.subtitle),
    width: Math.max(300, 52 * o.classNames.length),
    height: CHART_HEIGHT,
    data: { values },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          x,
          y: { field: 'accuracy', type: 'quantitative', title: 'Accuracy (%)', scale: { domain: [0, 100] } },
          color: {
            field: 'group',
            type: 'nominal',
            title: 'Classes',
            scale: { domain: [HIGHLIGHTED, OTHER], range: ['#e45756', '#4c78a8'] },
            legend: { orient: 'bottom', direction: 'horizontal' },
          },
        },
      },
      {
        // Coloured like the bars: a weakest class at 0% has no bar to show it, only its label.
        mark: { type: 'text', dy: -7, fontSize: 11, fontWeight: 'bold' },
        encoding: {
          x,
          y: { field: 'accuracy', type: 'quantitative' },
          text: { field: 'accuracy', type: 'quantitative', format: '.1f' },
          color: { field: 'group', type: 'nominal', scale: { domain: [HIGHLIGHTED, OTHER], range: ['#e45756', '#4c78a8'] } },
        },
      },
      {
        data: { values: [{ overall: o.overall * 100 }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: '#333' },
        encoding: { y: { field: 'overall', type: 'quantitative' } },
      },
      {
        data: { values: [{ overall: o.overall * 100, label: `overall ${(o.overall * 100).toFixed(1)}%` }] },
        mark: { type: 'text', align: 'right', dy: -7, x: 'width', fontSize: 11, color: '#333' },
        encoding: { y: { field: 'overall', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  };
}
