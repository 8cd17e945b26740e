import { h, s } from './dom.js';

/**
 * Line charts and the confusion heatmap, drawn as SVG by hand: a few
 * hundred points at most, axes with round ticks, a legend, each point a
 * circle (`.point`) with its value as a tooltip.
 */

export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
  /** Dashed: e.g. a training curve beside its test curve. */
  dashed?: boolean;
  /** No point markers (a dense curve such as the lr by step). */
  line?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  /** Fixed x range, e.g. the run's epochs, so a running run's curve shows how far it has come; else from the data. */
  xDomain?: [number, number];
  /** Fixed y range, e.g. [0, 1] for accuracy; else from the data. */
  yDomain?: [number, number];
  yFormat?: (y: number) => string;
  /** Marks the chart for tests and styles: data-chart="...". */
  name: string;
  /** A chart across the page: drawn on a wider canvas so its text keeps the size of the others'. */
  wide?: boolean;
}

const M = { left: 52, right: 14, top: 12, bottom: 36 };

export const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569', '#ea580c'];

export function lineChart(series: Series[], o: ChartOptions): HTMLElement {
  const W = o.wide ? 1100 : 520;
  const H = o.wide ? 300 : 250;
  const all = series.flatMap((x) => x.points);
  const legend = h(
    'div',
    { class: 'legend' },
    ...series.map((x) => h('span', { class: `key${x.dashed ? ' dashed' : ''}` }, swatch(x.color, x.dashed === true), x.label)),
  );
  const figure = h('figure', { class: 'chart', 'data-chart': o.name, 'data-points': all.length }, h('figcaption', {}, o.title), legend);
  if (all.length === 0) {
    figure.append(h('p', { class: 'muted empty' }, 'no points yet'));
    return figure;
  }
  const xs = all.map((p) => p.x);
  const [x0, x1] = padDomain(Math.min(o.xDomain?.[0] ?? Infinity, ...xs), Math.max(o.xDomain?.[1] ?? -Infinity, ...xs));
  const ys = all.map((p) => p.y);
  const [y0, y1] = o.yDomain ?? padDomain(Math.min(...ys), Math.max(...ys));
  const px = (x: number): number => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (y: number): number => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const fmt = o.yFormat ?? ((y: number) => String(+y.toPrecision(3)));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': o.title });
  for (const t of ticks(y0, y1, 5)) {
    svg.append(
      s('line', { x1: M.left, x2: W - M.right, y1: py(t), y2: py(t), class: 'grid' }),
      s('text', { x: M.left - 6, y: py(t) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(t)),
    );
  }
  const integerX = xs.every((x) => Number.isInteger(x));
  for (const t of ticks(x0, x1, 6).filter((t) => !integerX || Number.isInteger(t))) {
    svg.append(
      s('line', { x1: px(t), x2: px(t), y1: H - M.bottom, y2: H - M.bottom + 4, class: 'axis' }),
      s('text', { x: px(t), y: H - M.bottom + 16, class: 'tick', 'text-anchor': 'middle' }, String(+t.toPrecision(6))),
    );
  }
  svg.append(
    s('line', { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: 'axis' }),
    s('line', { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: 'axis' }),
    s('text', { x: (M.left + W - M.right) / 2, y: H - 4, class: 'label', 'text-anchor': 'middle' }, o.xLabel),
  );
  for (const x of series) {
    const pts = [...x.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      svg.append(
        s('path', {
          d: pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(''),
          class: 'series',
          stroke: x.color,
          'stroke-dasharray': x.dashed ? '5 4' : null,
        }),
      );
    }
    if (x.line && pts.length > 1) continue;
    for (const p of pts) {
      svg.append(
        s(
          'circle',
          { cx: px(p.x), cy: py(p.y), r: 3.2, class: 'point', fill: x.color },
          s('title', {}, `${x.label}: ${fmt(p.y)} at ${o.xLabel} ${p.x}`),
        ),
      );
    }
  }
  figure.append(svg);
  return figure;
}

function swatch(color: string, dashed: boolean): SVGSVGElement {
  return s(
    'svg',
    { viewBox: '0 0 18 8', width: 18, height: 8, class: 'swatch' },
    s('line', { x1: 0, x2: 18, y1: 4, y2: 4, stroke: color, 'stroke-width': 2.5, 'stroke-dasharray': dashed ? '4 3' : null }),
  );
}

function padDomain(lo: number, hi: number): [number, number] {
  if (lo === hi) return lo === 0 ? [0, 1] : [lo - Math.abs(lo) * 0.1, hi + Math.abs(hi) * 0.1];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** Round tick values (1, 2, 5 x 10^k steps) inside [lo, hi]. */
function ticks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

/**
 * The confusion matrix as a table: rows the true class, columns the
 * predicted one, each cell shaded by its share of the row (so a class's
 * recall reads along the diagonal), the count written in it.
 */
export function confusionHeatmap(matrix: number[][], classNames: readonly string[], perClass: readonly (number | null)[]): HTMLElement {
  const name = (i: number): string => classNames[i] ?? `class ${i}`;
  const head = h(
    'tr',
    {},
    h('th', { class: 'corner' }, 'true \\ predicted'),
    ...matrix.map((_, j) => h('th', { class: 'col' }, h('span', {}, name(j)))),
    h('th', {}, 'recall'),
  );
  const rows = matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    return h(
      'tr',
      {},
      h('th', { class: 'row' }, name(i)),
      ...row.map((count, j) => {
        const share = total > 0 ? count / total : 0;
        const cell = h('td', { class: i === j ? 'diag' : '', title: `${name(i)} predicted as ${name(j)}: ${count}` }, count);
        cell.style.backgroundColor = i === j ? `rgba(5, 150, 105, ${share.toFixed(3)})` : `rgba(220, 38, 38, ${(share * 1.5).toFixed(3)})`;
        if (share > 0.55) cell.classList.add('dark');
        return cell;
      }),
      h('td', { class: 'recall' }, perClass[i] === null || perClass[i] === undefined ? '-' : `${(perClass[i]! * 100).toFixed(0)}%`),
    );
  });
  return h('table', { class: 'heatmap', 'data-chart': 'confusion' }, h('thead', {}, head), h('tbody', {}, ...rows));
}
