import type { BoardList, ChangeNotice, RunDetail, SweepDetail } from '../api-types.js';
import { h, link } from './dom.js';
import { listView } from './list-view.js';
import { runView } from './run-view.js';
import { sweepView } from './sweep-view.js';

/**
 * The page: routes by the address's hash (#/, #/run/ID, #/sweep/ID), fetches
 * what the route shows from the server and draws it again whenever the
 * server's event stream says it changed.
 */

type Route = { kind: 'list' } | { kind: 'run'; id: string } | { kind: 'sweep'; id: string };

const main = document.getElementById('main')!;
const crumbs = document.getElementById('crumbs')!;
const live = document.getElementById('live')!;

function route(): Route {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'run' && parts[1] !== undefined) return { kind: 'run', id: parts[1] };
  if (parts[0] === 'sweep' && parts[1] !== undefined) return { kind: 'sweep', id: parts[1] };
  return { kind: 'list' };
}

async function getJson<T>(path: string): Promise<T | null> {
  const res = await fetch(path, { cache: 'no-store' });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

let drawing = false;
let again = false;

/** Draws the current route; a change arriving meanwhile draws once more after. */
async function draw(): Promise<void> {
  if (drawing) {
    again = true;
    return;
  }
  drawing = true;
  try {
    const r = route();
    let view: HTMLElement;
    if (r.kind === 'list') {
      crumbs.replaceChildren();
      view = listView((await getJson<BoardList>('/api/list'))!);
    } else {
      crumbs.replaceChildren(h('span', {}, ' / '), link([r.kind, r.id], r.id));
      const detail = await getJson<RunDetail | SweepDetail>(`/api/${r.kind === 'run' ? 'runs' : 'sweeps'}/${encodeURIComponent(r.id)}`);
      view =
        detail === null
          ? h('p', { class: 'muted' }, `no ${r.kind} ${r.id} (yet)`)
          : r.kind === 'run'
            ? runView(detail as RunDetail)
            : sweepView(detail as SweepDetail);
    }
    main.replaceChildren(view);
  } catch (err) {
    main.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
  } finally {
    drawing = false;
    if (again) {
      again = false;
      void draw();
    }
  }
}

function concerns(notice: ChangeNotice): boolean {
  const r = route();
  if (r.kind === 'list') return true;
  return (r.kind === 'run' ? notice.runs : notice.sweeps).includes(r.id);
}

function connect(): void {
  const stream = new EventSource('/api/stream');
  stream.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'live on';
    // Whatever changed while disconnected.
    void draw();
  });
  stream.addEventListener('error', () => {
    live.textContent = 'reconnecting';
    live.className = 'live off';
  });
  stream.addEventListener('change', (e) => {
    const notice = JSON.parse((e as MessageEvent<string>).data) as ChangeNotice;
    if (concerns(notice)) void draw();
  });
}

window.addEventListener('hashchange', () => void draw());
void draw();
connect();
