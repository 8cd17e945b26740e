import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNatsBus, type EventBus } from '../../src/events/index.js';
import { metricsLineSchema } from '../../src/training/run-record/index.js';
import { samplePayloads } from '../fixtures/event-samples.js';
import { captureLog } from '../helpers/capture-log.js';
import { type FleetProcess, startFleet } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { runFleet } from '../helpers/run-fleet.js';

/**
 * Who may read `fleet dashboard`, and what user input can do to its page:
 * with --token every request without it is refused (401), a browser gets
 * in with ?token= once (a cookie); names from events and run directories
 * that hold markup show as text, creating no element and running nothing.
 * Also a sweep's page from its events. Screenshots: /tmp/notes/dashboard-*.png.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = '/tmp/notes';
const TOKEN = 'dashboard-test-token-5f0c';
const MARKUP = '<img src=x onerror=alert(1)>';
const hasBrowser = existsSync(CHROMIUM);

let root: string;
let server: NatsServerHandle;
let bus: EventBus;
let dashboard: FleetProcess;
let url: string;
let browser: Browser | null = null;

/** A metrics line of a one-process run (the schema checks it). */
function metricsLine(epoch: number): string {
  const confusion = Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 8 : j === (i + 1) % 10 ? 2 : 0)));
  return JSON.stringify(
    metricsLineSchema.parse({
      epoch,
      step: epoch * 10,
      lr: 0.1 / epoch,
      trainLoss: 2 / epoch,
      trainAccuracy: 0.3 * epoch,
      trainSamples: 320,
      epochSeconds: 3,
      imagesPerSecond: 100,
      testLoss: 2.2 / epoch,
      testAccuracy: 0.8,
      perClassAccuracy: Array.from({ length: 10 }, () => 0.8),
      confusion,
      time: new Date(Date.UTC(2026, 11, 1, 12, epoch)).toISOString(),
    }),
  );
}

async function publishEvents(): Promise<void> {
  const run = bus.publisher('markup-run', 'coordinator:t1');
  run.publish('run.started', { ...samplePayloads['run.started'], workers: 1 });
  run.publish('worker.joined', { worker: '<b>w1</b>', name: MARKUP, members: 1 });
  run.publish('worker.progress', { ...samplePayloads['worker.progress'], worker: '<b>w1</b>', round: 1, epoch: 1 });
  run.publish('round', { ...samplePayloads.round, round: 1, epoch: 1, straggler: null });
  await run.flush();

  const sweep = bus.publisher('sweep-1', 'sweep:t1');
  const trials = [
    { trial: 't000', params: { lr: 0.1, note: MARKUP } },
    { trial: 't001', params: { lr: 0.01, note: 'low' } },
    { trial: 't002', params: { lr: 0.3, note: 'high' } },
  ];
  sweep.publish('sweep.started', {
    name: 'lr-sweep',
    metric: 'testAccuracy',
    varied: ['lr', 'note'],
    pruning: 'median',
    parallel: 2,
    workersPerTrial: 1,
    resumed: false,
    trials: trials.map((t) => ({ ...t, status: 'pending' as const })),
  });
  const curves: Record<string, number[]> = { t000: [0.35, 0.52, 0.61, 0.66], t001: [0.2, 0.26], t002: [0.3, 0.44, 0.5, 0.55] };
  for (const [i, t] of trials.entries()) {
    sweep.publish('trial.started', { ...t, seed: i, repeat: 0, runId: `sweep-1-${t.trial}`, resumed: false });
    let best = 0;
    for (const [e, value] of curves[t.trial]!.entries()) {
      best = Math.max(best, value);
      sweep.publish('trial.epoch', { trial: t.trial, epoch: e + 1, value, best });
    }
    if (t.trial === 't001')
      sweep.publish('trial.pruned', { trial: 't001', epoch: 2, rule: 'median', reason: 'below the median of epoch 2', best });
    else sweep.publish('trial.finished', { trial: t.trial, status: 'finished', epochs: 4, best, bestEpoch: 4, reason: null });
  }
  sweep.publish('sweep.finished', { status: 'finished', finished: 2, pruned: 1, failed: 0, best: { trial: 't000', value: 0.66 } });
  await sweep.flush();

  // A message posing as an event whose run id holds markup: the contract refuses it (the envelope's run must be the subject's, letters, digits, - and _).
  const nc = await connect({ servers: server.url });
  const envelope = {
    type: 'run.started',
    run: MARKUP,
    source: 'coordinator:x',
    seq: 1,
    time: new Date().toISOString(),
    data: samplePayloads['run.started'],
  };
  await jetstream(nc).publish('fleet.markup-raw.run.started', JSON.stringify(envelope));
  await nc.close();
}

beforeAll(async () => {
  if (!natsServerAvailable()) return;
  root = await mkdtemp(join(tmpdir(), 'fleet-dashboard-access-'));
  await mkdir(SHOTS, { recursive: true });
  // A run directory whose name (its run id: it has no config.json) is markup.
  const markupRun = join(root, 'runs', MARKUP);
  await mkdir(markupRun, { recursive: true });
  await writeFile(join(markupRun, 'metrics.jsonl'), `${[1, 2].map(metricsLine).join('\n')}\n`);
  server = await startNatsServer();
  bus = await connectNatsBus({ servers: server.url, name: 'dashboard-test', log: captureLog().log });
  await publishEvents();
  dashboard = startFleet(['dashboard', '--port', '0', '--nats', server.url, '--runs', join(root, 'runs')], {
    FLEET_DASHBOARD_TOKEN: TOKEN,
  });
  const line = await dashboard.waitFor(/"msg":"dashboard listening"/, 30_000);
  url = `http://127.0.0.1:${/"port":(\d+)/.exec(line)![1]}/`;
  if (hasBrowser) {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'],
    });
  }
}, 60_000);

afterAll(async () => {
  if (dashboard && dashboard.child.exitCode === null) dashboard.child.kill('SIGKILL');
  await browser?.close();
  await bus?.close(1000).catch(() => {});
  await server?.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

describe.skipIf(!natsServerAvailable())('fleet dashboard --token', () => {
  it('refuses every request without the token (401), lets in a Bearer header and the cookie ?token= sets', async () => {
    for (const path of ['', 'api/list', 'api/stream', 'app.js', 'api/runs/markup-run']) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(401);
      expect(await res.text()).toBe('fleet dashboard: missing or wrong token\n');
    }
    expect((await fetch(`${url}api/list`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${url}?token=wrong`, { redirect: 'manual' })).status).toBe(401);
    expect((await fetch(`${url}api/list`, { headers: { cookie: 'fleet-dashboard=0000' } })).status).toBe(401);

    const bearer = await fetch(`${url}api/list`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bearer.status).toBe(200);
    const list = (await bearer.json()) as { runs: { id: string }[]; sweeps: { id: string }[] };
    expect(list.runs.map((r) => r.id).sort()).toEqual([MARKUP, 'markup-run'].sort());
    expect(list.sweeps.map((s) => s.id)).toEqual(['sweep-1']);
    // The raw event whose run id is markup reached the stream; the dashboard read it and refused it (the contract).
    const refused = await dashboard.waitFor(/"msg":"malformed event skipped"/, 15_000);
    expect(refused).toContain('fleet.markup-raw.run.started');

    const opened = await fetch(`${url}?token=${TOKEN}`, { redirect: 'manual' });
    expect(opened.status).toBe(303);
    expect(opened.headers.get('location')).toBe('/');
    const cookie = opened.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^fleet-dashboard=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(TOKEN);
    const withCookie = await fetch(`${url}api/list`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(withCookie.status).toBe(200);
    // The refusals were logged without the token.
    expect(dashboard.lines.some((l) => l.includes('"msg":"request refused"'))).toBe(true);
    expect(dashboard.lines.some((l) => l.includes(TOKEN))).toBe(false);
  });

  it('will not serve beyond loopback without a token (exit 2)', async () => {
    const r = await runFleet(['dashboard', '--host', '0.0.0.0', '--port', '0', '--runs', root], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('fleet: --host 0.0.0.0 serves the dashboard beyond this machine: give --token');
  });

  it.skipIf(!hasBrowser)(
    'shows names holding markup as text: no element made, no script run; a sweep has its trials and their curves',
    async () => {
      const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${url}?token=${TOKEN}`);
      // The redirect dropped the token from the address.
      expect(page.url()).toBe(url);
      await page.locator('#runs tbody tr').nth(1).waitFor({ timeout: 15_000 });
      const runIds = await page.locator('#runs tbody tr td:first-child').allTextContents();
      expect(runIds.sort()).toEqual([MARKUP, 'markup-run'].sort());
      await page.screenshot({ path: join(SHOTS, 'dashboard-runs-markup.png'), fullPage: true });

      // The run directory named with markup: its page.
      await page.goto(`${url}#/run/${encodeURIComponent(MARKUP)}`);
      await expect.poll(() => page.locator('#run-id').textContent()).toBe(MARKUP);
      expect(await page.locator('[data-chart="loss"] circle.point').count()).toBe(4);

      // The run whose worker's name and id hold markup: the workers table.
      await page.goto(`${url}#/run/markup-run`);
      await expect.poll(() => page.locator('#workers .worker-name').first().textContent(), { timeout: 10_000 }).toBe(MARKUP);
      expect(await page.locator('#workers tbody tr td:first-child').first().textContent()).toContain('<b>w1</b>');

      for (const route of ['', `#/run/${encodeURIComponent(MARKUP)}`, '#/run/markup-run', '#/sweep/sweep-1']) {
        await page.goto(`${url}${route}`);
        await page.locator('#main .page').waitFor();
        expect(await page.evaluate("document.querySelectorAll('img, b, script:not([src])').length"), route).toBe(0);
      }

      // The sweep: its trials table and every trial's curve on one chart (4 + 2 + 4 points).
      await page.goto(`${url}#/sweep/sweep-1`);
      await expect.poll(() => page.locator('#trials tbody tr').count()).toBe(3);
      expect(await page.locator('#trials tbody tr td.params').first().textContent()).toBe(`lr=0.1 note=${MARKUP}`);
      expect(await page.locator('#trials tbody tr .badge').allTextContents()).toEqual(['finished', 'pruned', 'finished']);
      expect(await page.locator('[data-chart="trials"] circle.point').count()).toBe(10);
      await page.screenshot({ path: join(SHOTS, 'dashboard-sweep.png'), fullPage: true });

      expect(dialogs).toEqual([]);
      expect(pageErrors).toEqual([]);
    },
    60_000,
  );
});
