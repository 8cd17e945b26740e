import type { SweepDetail } from '../api-types.js';
import { lineChart, PALETTE } from './charts.js';
import { h } from './dom.js';
import { percent } from './format.js';
import { badge } from './list-view.js';

/** One sweep: its trials table and every trial's curve of the metric on one chart. */
export function sweepView(d: SweepDetail): HTMLElement {
  const x = d.summary;
  const paramText = (params: Record<string, string | number | boolean>): string =>
    Object.entries(params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  const chart = lineChart(
    d.trials.map((t, i) => ({
      label: `${t.trial} ${paramText(t.params)}`,
      color: PALETTE[i % PALETTE.length]!,
      dashed: t.status === 'pruned' || t.status === 'failed',
      points: t.curve.map((p) => ({ x: p.epoch, y: p.value })),
    })),
    {
      title: `${x.metric ?? 'metric'} by epoch, every trial`,
      xLabel: 'epoch',
      name: 'trials',
      wide: true,
      yFormat: (y) => `${(y * 100).toFixed(0)}%`,
    },
  );
  const table = h(
    'table',
    { class: 'list', id: 'trials' },
    h(
      'thead',
      {},
      h('tr', {}, ...['trial', 'params', 'status', 'epoch', x.metric ?? 'best', 'pruned / failure'].map((t) => h('th', {}, t))),
    ),
    h(
      'tbody',
      {},
      ...d.trials.map((t) =>
        h(
          'tr',
          { 'data-trial': t.trial, class: x.best?.trial === t.trial ? 'best' : '' },
          h('td', {}, t.trial),
          h('td', { class: 'params' }, paramText(t.params)),
          h('td', {}, badge(t.status)),
          h('td', { class: 'n' }, t.epoch ?? '-'),
          h('td', { class: 'n' }, percent(t.best)),
          h(
            'td',
            { class: 'reason' },
            t.pruned ? `epoch ${t.pruned.epoch} (${t.pruned.rule}): ${t.pruned.reason}` : t.status === 'failed' ? (t.reason ?? '') : '',
          ),
        ),
      ),
    ),
  );
  return h(
    'div',
    { class: 'page' },
    h(
      'section',
      { class: 'card wide head' },
      h('h1', {}, h('span', { class: 'run-id' }, x.id), ' ', badge(x.status)),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'name'),
        h('dd', {}, x.name ?? '-'),
        h('dt', {}, 'pruning'),
        h('dd', {}, d.pruning ?? '-'),
        h('dt', {}, 'trials'),
        h('dd', {}, x.trials),
        h('dt', {}, 'best'),
        h('dd', {}, x.best ? `${x.best.trial} ${percent(x.best.value)}` : '-'),
      ),
    ),
    h('section', { class: 'card wide' }, h('h2', {}, 'Trials'), table),
    h('section', { class: 'card wide' }, chart),
  );
}
