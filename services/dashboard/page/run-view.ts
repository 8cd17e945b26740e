import type { RoundSplit, RunDetail, WorkerRow } from '../api-types.js';
import { confusionHeatmap, lineChart, PALETTE } from './charts.js';
import { h } from './dom.js';
import { duration, lr, ms, num, percent } from './format.js';
import { badge } from './list-view.js';

/** One run: its state, curves, lr schedule, workers, evaluations, best model and confusion matrix. */
export function runView(d: RunDetail): HTMLElement {
  const r = d.summary;
  const p = d.progress;
  const facts: [string, string][] = [
    ['model', r.model ?? '-'],
    ['workers', r.workers === null ? '-' : String(r.workers)],
    [
      'epoch',
      p.epoch === null
        ? '-'
        : `${p.epoch}/${r.epochs ?? '?'}${p.epochFraction !== null && r.status === 'running' ? ` (${percent(p.epochFraction, 0)})` : ''}`,
    ],
    ['step', p.globalStep === null ? '-' : `${p.globalStep}/${p.totalSteps ?? '?'}`],
    ['images/s', num(p.imagesPerSecond)],
    ['ETA', r.status === 'running' ? duration(p.etaMs) : '-'],
    ['best', percent(r.bestAccuracy)],
  ];
  const header = h(
    'section',
    { class: 'card wide head' },
    h('h1', {}, h('span', { class: 'run-id', id: 'run-id' }, r.id), ' ', badge(r.status)),
    h('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    d.finished?.reason ? h('p', { class: 'reason' }, d.finished.reason) : null,
    d.dir ? h('p', { class: 'muted' }, `directory: ${d.dir}`) : null,
  );
  const curves = d.curves;
  const epochs: [number, number] | undefined = r.epochs !== null && r.epochs > 1 ? [1, r.epochs] : undefined;
  const loss = lineChart(
    [
      { label: 'train loss', color: PALETTE[0]!, dashed: true, points: pts(curves, (c) => c.trainLoss) },
      { label: 'test loss', color: PALETTE[1]!, points: pts(curves, (c) => c.testLoss) },
    ],
    { title: 'Loss', xLabel: 'epoch', name: 'loss', xDomain: epochs },
  );
  const accuracy = lineChart(
    [
      { label: 'train accuracy', color: PALETTE[0]!, dashed: true, points: pts(curves, (c) => c.trainAccuracy) },
      { label: 'test accuracy', color: PALETTE[1]!, points: pts(curves, (c) => c.testAccuracy) },
    ],
    { title: 'Accuracy', xLabel: 'epoch', name: 'accuracy', xDomain: epochs, yDomain: [0, 1], yFormat: (y) => `${Math.round(y * 100)}%` },
  );
  const lrChart = lineChart(
    [{ label: 'learning rate', color: PALETTE[2]!, line: true, points: d.lr.map((x) => ({ x: x.step, y: x.lr })) }],
    {
      title: 'Learning rate',
      xLabel: 'step',
      name: 'lr',
      xDomain: p.totalSteps !== null && p.totalSteps > 0 ? [0, p.totalSteps] : undefined,
      yFormat: lr,
    },
  );
  return h(
    'div',
    { class: 'page' },
    header,
    h('section', { class: 'card' }, loss),
    h('section', { class: 'card' }, accuracy),
    h('section', { class: 'card' }, lrChart),
    h('section', { class: 'card' }, h('h2', {}, 'Best model'), bestCard(d)),
    h('section', { class: 'card wide' }, h('h2', {}, 'Workers'), workersTable(d)),
    h('section', { class: 'card' }, h('h2', {}, 'Evaluations'), evaluationsTable(d)),
    h(
      'section',
      { class: 'card' },
      h(
        'h2',
        {},
        d.confusion
          ? `Confusion matrix, epoch ${d.confusion.epoch}${d.confusion.version === null ? '' : ` (version ${d.confusion.version})`}`
          : 'Confusion matrix',
      ),
      d.confusion
        ? confusionHeatmap(d.confusion.matrix, d.classNames, d.confusion.perClassAccuracy)
        : h('p', { class: 'muted' }, 'no evaluation yet'),
    ),
  );
}

function pts<T extends { epoch: number }>(rows: T[], f: (row: T) => number | null): { x: number; y: number }[] {
  return rows.flatMap((row) => {
    const y = f(row);
    return y === null ? [] : [{ x: row.epoch, y }];
  });
}

function bestCard(d: RunDetail): HTMLElement {
  if (d.best === null) return h('p', { class: 'muted' }, 'none yet');
  return h(
    'dl',
    { class: 'facts', id: 'best' },
    h('dt', {}, 'accuracy'),
    h('dd', {}, percent(d.best.accuracy)),
    h('dt', {}, 'epoch'),
    h('dd', {}, d.best.epoch),
    h('dt', {}, 'version'),
    h('dd', {}, d.best.version ?? '-'),
    h('dt', {}, 'files'),
    h('dd', { class: 'path' }, d.best.path ?? '(being written)'),
  );
}

function workersTable(d: RunDetail): HTMLElement {
  if (d.workers.length === 0) {
    return h(
      'p',
      { class: 'muted' },
      d.summary.source === 'directory' ? 'a run directory records no per-worker rounds: its events do' : 'no worker yet',
    );
  }
  const maxRound = Math.max(1, ...d.workers.map((w) => w.split?.roundMs ?? 0));
  // Events from before workers timed their transfers give the exchange as one.
  const older = d.workers.some((w) => w.split !== null && (w.split.downloadMs === null || w.split.uploadMs === null));
  const parts = older ? 'train / exchange / waiting' : 'download / train / upload / waiting';
  return h(
    'div',
    {},
    h(
      'table',
      { class: 'list', id: 'workers' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['worker', 'status', 'images/s', 'loss', 'round', `round time: ${parts}`, 'last of the round'].map((t) => h('th', {}, t)),
        ),
      ),
      h('tbody', {}, ...d.workers.map((w) => workerRow(w, maxRound, d.windowRounds))),
    ),
    h(
      'p',
      { class: 'muted small split-key' },
      "Each worker's mean over its recent rounds (up to 20):",
      ...(older
        ? [
            h('span', { class: 'seg train' }),
            'its own training',
            h('span', { class: 'seg exchange' }),
            "the exchange (the parameters' download, making the batch, the upload)",
          ]
        : [
            h('span', { class: 'seg download' }),
            "the parameters' download (the first batch made meanwhile)",
            h('span', { class: 'seg train' }),
            'its own training',
            h('span', { class: 'seg upload' }),
            'the upload of its contribution, as the worker timed them',
          ]),
      h('span', { class: 'seg wait' }),
      'waiting for the others and the update. The straggler arrives last in most recent rounds and keeps the others waiting.',
    ),
  );
}

function workerRow(w: WorkerRow, maxRoundMs: number, windowRounds: number): HTMLElement {
  const split = w.split;
  const bar =
    split === null
      ? h('span', { class: 'muted' }, '-')
      : h(
          'div',
          { class: 'split-cell' },
          h('div', { class: 'split' }, ...splitParts(split).map(([kind, value]) => segment(kind, value, maxRoundMs))),
          h(
            'span',
            { class: 'split-text' },
            `${splitParts(split)
              .map(([, value]) => ms(value))
              .join(' / ')} of ${ms(split.roundMs)}`,
          ),
        );
  return h(
    'tr',
    { class: `${w.straggler ? 'straggler' : ''} ${w.status}`, 'data-worker': w.id },
    h(
      'td',
      {},
      h('span', { class: 'worker-name' }, w.name),
      w.name !== w.id ? h('span', { class: 'muted' }, ` ${w.id}`) : null,
      w.straggler ? h('span', { class: 'badge straggler' }, 'straggler') : null,
    ),
    h('td', {}, w.status === 'left' ? h('span', { title: w.leftReason ?? '' }, `left: ${w.leftReason ?? ''}`) : 'active'),
    h('td', { class: 'n' }, num(w.imagesPerSecond)),
    h('td', { class: 'n' }, num(w.loss, 3)),
    h('td', { class: 'n' }, w.round ?? '-'),
    h('td', {}, bar),
    h('td', { class: 'n' }, windowRounds > 0 ? `${w.straggledRounds}/${windowRounds}` : '-'),
  );
}

/** The split's segments in round order: four when the worker timed its transfers, else the exchange as one. */
function splitParts(s: RoundSplit): [string, number][] {
  if (s.downloadMs !== null && s.uploadMs !== null)
    return [
      ['download', s.downloadMs],
      ['train', s.trainMs],
      ['upload', s.uploadMs],
      ['wait', s.waitMs],
    ];
  return [
    ['train', s.trainMs],
    ['exchange', s.exchangeMs],
    ['wait', s.waitMs],
  ];
}

function segment(kind: string, value: number, max: number): HTMLElement {
  const el = h('span', { class: `seg ${kind}`, title: `${kind}: ${ms(value)}` });
  el.style.width = `${Math.max(0, (value / max) * 100).toFixed(2)}%`;
  return el;
}

function evaluationsTable(d: RunDetail): HTMLElement {
  if (d.evaluations.length === 0) return h('p', { class: 'muted' }, 'none yet');
  return h(
    'table',
    { class: 'list', id: 'evaluations' },
    h('thead', {}, h('tr', {}, ...['version', 'epoch', 'accuracy', 'loss', ''].map((t) => h('th', {}, t)))),
    h(
      'tbody',
      {},
      ...[...d.evaluations]
        .reverse()
        .map((e) =>
          h(
            'tr',
            { class: e.best ? 'best' : '' },
            h('td', { class: 'n' }, e.version ?? '-'),
            h('td', { class: 'n' }, `${e.epoch}${e.epochEnd ? '' : ' (mid)'}`),
            h('td', { class: 'n' }, percent(e.accuracy)),
            h('td', { class: 'n' }, num(e.loss, 3)),
            h('td', {}, e.best ? h('span', { class: 'badge best' }, 'best') : null),
          ),
        ),
    ),
  );
}
