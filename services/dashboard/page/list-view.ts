import type { BoardList } from '../api-types.js';
import { h, link } from './dom.js';
import { percent, when } from './format.js';

/** The front page: every run and sweep the server knows, newest first. */
export function listView(list: BoardList): HTMLElement {
  const sources = [list.sources.nats ? `events from ${list.sources.nats}` : null, list.sources.runs ? `runs in ${list.sources.runs}` : null]
    .filter((x) => x !== null)
    .join(' and ');
  const runs =
    list.runs.length === 0
      ? h('p', { class: 'muted' }, 'no runs yet')
      : h(
          'table',
          { class: 'list', id: 'runs' },
          h(
            'thead',
            {},
            h('tr', {}, ...['run', 'model', 'workers', 'status', 'epochs', 'best accuracy', 'started', 'from'].map((t) => h('th', {}, t))),
          ),
          h(
            'tbody',
            {},
            ...list.runs.map((r) =>
              h(
                'tr',
                { 'data-run': r.id },
                h('td', {}, link(['run', r.id], r.id)),
                h('td', {}, r.model ?? '-'),
                h('td', { class: 'n' }, r.workers ?? '-'),
                h('td', {}, badge(r.status)),
                h('td', { class: 'n' }, `${r.epochsDone}/${r.epochs ?? '?'}`),
                h('td', { class: 'n' }, percent(r.bestAccuracy)),
                h('td', {}, when(r.started)),
                h('td', { class: 'muted' }, r.source === 'events' ? 'events' : 'directory'),
              ),
            ),
          ),
        );
  const sweeps =
    list.sweeps.length === 0
      ? null
      : h(
          'table',
          { class: 'list', id: 'sweeps' },
          h('thead', {}, h('tr', {}, ...['sweep', 'name', 'metric', 'status', 'trials', 'best', 'started'].map((t) => h('th', {}, t)))),
          h(
            'tbody',
            {},
            ...list.sweeps.map((x) =>
              h(
                'tr',
                { 'data-sweep': x.id },
                h('td', {}, link(['sweep', x.id], x.id)),
                h('td', {}, x.name ?? '-'),
                h('td', {}, x.metric ?? '-'),
                h('td', {}, badge(x.status)),
                h('td', { class: 'n' }, x.trials),
                h('td', {}, x.best ? `${x.best.trial} ${percent(x.best.value)}` : '-'),
                h('td', {}, when(x.started)),
              ),
            ),
          ),
        );
  return h(
    'div',
    { class: 'page' },
    h('section', { class: 'card wide' }, h('h2', {}, 'Runs'), h('p', { class: 'muted' }, sources), runs),
    sweeps && h('section', { class: 'card wide' }, h('h2', {}, 'Sweeps'), sweeps),
  );
}

export function badge(status: string): HTMLElement {
  return h('span', { class: `badge ${status}` }, status);
}
