import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnyFleetEvent, connectNatsBus } from '../../src/events/index.js';
import { readMetricsLines } from '../../src/training/run-record/index.js';
import { samplePayloads } from '../fixtures/event-samples.js';
import { captureLog } from '../helpers/capture-log.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { type FleetProcess, startFleet } from '../helpers/fleet-processes.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

/**
 * `fleet dashboard` in a real browser (Debian's chromium, headless, driven
 * by playwright-core): a two-worker run with its own nats-server appears,
 * its epoch curves gain points and its workers table fills while it
 * trains; once finished, a dashboard without NATS shows it from its run
 * directory. Screenshots go to /tmp/notes/dashboard-*.png.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = '/tmp/notes';
const RUN = 'dash-live';
const hasBrowser = existsSync(CHROMIUM);
const skipReason = !hasBrowser ? `no ${CHROMIUM} (the Debian chromium package)` : !natsServerAvailable() ? 'no nats-server' : null;

let root: string;
let server: NatsServerHandle;
let browser: Browser;
const started: FleetProcess[] = [];

beforeAll(async () => {
  if (skipReason !== null) return;
  root = await mkdtemp(join(tmpdir(), 'fleet-dashboard-'));
  await mkdir(SHOTS, { recursive: true });
  await writeCifar10Files(join(root, 'data'), { trainBatches: 1, perBatch: 256, testCount: 100, pattern: 'learnable', seed: 3 });
  await mkdir(join(root, 'runs'));
  [server, browser] = await Promise.all([
    startNatsServer(),
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'] }),
  ]);
}, 60_000);

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await browser?.close();
  await server?.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

async function startDashboard(args: string[]): Promise<{ url: string; process: FleetProcess }> {
  const p = startFleet(['dashboard', '--port', '0', ...args]);
  started.push(p);
  const line = await p.waitFor(/"msg":"dashboard listening"/, 30_000);
  return { url: `http://127.0.0.1:${/"port":(\d+)/.exec(line)![1]}/`, process: p };
}

async function chartPoints(page: Page, chart: string): Promise<number> {
  return page.locator(`[data-chart="${chart}"] circle.point`).count();
}

describe.skipIf(skipReason !== null)(`fleet dashboard in a browser${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('shows a live two-worker run from NATS, then the finished run from its directory without NATS', async () => {
    const runs = join(root, 'runs');
    const live = await startDashboard(['--nats', server.url, '--runs', runs]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(live.url);
    await page.getByText('no runs yet').waitFor({ timeout: 15_000 });

    const train = startFleet([
      'train',
      '--workers',
      '2',
      '--nats',
      server.url,
      '--run-id',
      RUN,
      '--out',
      join(runs, RUN),
      '--model',
      'tiny',
      '--epochs',
      '3',
      '--batch-size',
      '16',
      '--lr',
      '0.02',
      '--warmup-epochs',
      '0',
      '--data-dir',
      join(root, 'data'),
      '--allow-partial',
      '--backend',
      'wasm',
      '--progress',
      'log',
    ]);
    started.push(train);

    // The run appears in the list as its events arrive.
    const row = page.locator(`tr[data-run="${RUN}"]`);
    await row.waitFor({ timeout: 60_000 });
    await row.getByRole('link', { name: RUN }).click();
    await expect.poll(() => page.locator('#run-id').textContent()).toBe(RUN);

    // While it trains, sample what the page shows: the workers table fills, the epoch curves gain points.
    const samples: { status: string | null; workers: number; splits: number; uploads: number; downloads: number; loss: number }[] = [];
    let training = true;
    let shotLive = false;
    void train.exited.then(() => {
      training = false;
    });
    while (training) {
      samples.push({
        status: await page
          .locator('.head .badge')
          .first()
          .textContent({ timeout: 5000 })
          .catch(() => null),
        workers: await page.locator('#workers tbody tr').count(),
        splits: await page.locator('#workers .split').count(),
        // The four-way split: once a worker's second contribution brought its first upload time.
        downloads: await page.locator('#workers .split .seg.download').count(),
        uploads: await page.locator('#workers .split .seg.upload').count(),
        loss: await chartPoints(page, 'loss'),
      });
      const now = samples.at(-1)!;
      // The view mid-run: the first sample with an epoch's points and both workers' rounds split four ways.
      if (!shotLive && now.status === 'running' && now.loss > 0 && now.uploads === 2) {
        shotLive = true;
        await page.screenshot({ path: join(SHOTS, 'dashboard-live-run.png'), fullPage: true });
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect((await train.exited).code, train.lines.slice(-10).join('\n')).toBe(0);
    const running = samples.filter((x) => x.status === 'running');
    expect(
      running.some((x) => x.workers === 2 && x.splits === 2 && x.downloads === 2 && x.uploads === 2),
      JSON.stringify(samples),
    ).toBe(true);

    // The run's events: every worker's progress carries its download of the round, and from its second
    // contribution on the upload of its previous one (the round it belongs to named), as the worker timed them.
    const bus = await connectNatsBus({ servers: server.url, name: 'dashboard-live-events', log: captureLog().log });
    const events: AnyFleetEvent[] = [];
    await bus.follow(RUN, (e) => events.push(e), { from: 'start' });
    await expect.poll(() => events.some((e) => e.type === 'run.finished'), { timeout: 15_000 }).toBe(true);
    await bus.close(1000);
    const progress = new Map<string, { round: number; downloadMs?: number; uploadMs?: number; uploadRound?: number }[]>();
    for (const e of events) if (e.type === 'worker.progress') progress.set(e.data.worker, [...(progress.get(e.data.worker) ?? []), e.data]);
    expect(progress.size).toBe(2);
    for (const list of progress.values()) {
      expect(list.length).toBeGreaterThanOrEqual(10);
      expect(list[0]!.uploadMs).toBeUndefined();
      for (const [i, p] of list.entries()) {
        expect(p.downloadMs, JSON.stringify(p)).toBeGreaterThanOrEqual(0);
        if (i === 0) continue;
        expect(p.uploadMs, JSON.stringify(p)).toBeGreaterThanOrEqual(0);
        expect(p.uploadRound).toBe(list[i - 1]!.round);
      }
    }
    const pointCounts = [...new Set(running.map((x) => x.loss))];
    // At least two epochs' points came in while the page was open, one after the other.
    expect(pointCounts.filter((n) => n > 0).length, JSON.stringify(pointCounts)).toBeGreaterThanOrEqual(2);
    expect(pointCounts).toEqual([...pointCounts].sort((a, b) => a - b));

    // Finished: 3 training points, and a test point for each epoch end the evaluator scored (its metrics lines).
    const lines = await readMetricsLines(join(runs, RUN));
    await expect.poll(() => page.locator('.head .badge').first().textContent(), { timeout: 20_000 }).toBe('finished');
    await expect.poll(() => chartPoints(page, 'loss'), { timeout: 20_000 }).toBe(3 + lines.length);
    expect(await page.locator('#workers tbody tr').count()).toBe(2);
    // download / train / upload / waiting of the round, in ms.
    const times = /^\d+ ms \/ \d+ ms \/ \d+ ms \/ \d+ ms of \d+ ms$/;
    for (const text of await page.locator('#workers .split-text').allTextContents()) expect(text).toMatch(times);
    expect(await page.locator('#workers th').allTextContents()).toContain('round time: download / train / upload / waiting');
    // The lr of every round (the run's 3 epochs of 256 images at a global batch of 32: 24 rounds).
    expect(await page.locator('[data-chart="lr"]').getAttribute('data-points')).toBe('24');
    expect(await page.locator('[data-chart="confusion"] tbody tr').count()).toBe(10);
    await page.screenshot({ path: join(SHOTS, 'dashboard-finished-run-events.png'), fullPage: true });
    await page.goto(live.url);
    await row.waitFor();
    await page.screenshot({ path: join(SHOTS, 'dashboard-runs.png'), fullPage: true });
    live.process.child.kill('SIGTERM');
    expect((await live.process.exited).code).toBe(0);

    // Without NATS: the same run read from its directory.
    const offline = await startDashboard(['--runs', runs]);
    await page.goto(`${offline.url}#/run/${RUN}`);
    await expect.poll(() => page.locator('#run-id').textContent(), { timeout: 15_000 }).toBe(RUN);
    expect(await chartPoints(page, 'loss')).toBe(2 * lines.length);
    expect(await chartPoints(page, 'accuracy')).toBe(2 * lines.length);
    expect(await page.locator('#evaluations tbody tr').count()).toBe(lines.length);
    expect(await page.locator('[data-chart="confusion"] tbody tr').count()).toBe(10);
    expect(await page.locator('[data-chart="confusion"] th.row').first().textContent()).toBe('airplane');
    expect(await page.locator('.head .badge').first().textContent()).toBe('finished');
    await page.screenshot({ path: join(SHOTS, 'dashboard-finished-run-directory.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    offline.process.child.kill('SIGTERM');
    await offline.process.exited;
  }, 150_000);
  it('marks the straggler in the workers table: the worker that keeps the others waiting round after round', async () => {
    const bus = await connectNatsBus({ servers: server.url, name: 'dashboard-straggler', log: captureLog().log });
    const p = bus.publisher('straggling', 'coordinator:s1');
    p.publish('run.started', { ...samplePayloads['run.started'], workers: 3, epochs: 4 });
    for (const [i, name] of ['gpu-a', 'gpu-b', 'slow-cpu'].entries()) p.publish('worker.joined', { worker: `w${i}`, name, members: i + 1 });
    for (let r = 1; r <= 12; r++) {
      for (const [i, trainMs] of [180, 190, 520].entries()) {
        p.publish('worker.progress', {
          worker: `w${i}`,
          round: r,
          epoch: 1,
          samples: 64,
          loss: 2 - r * 0.05,
          trainMs,
          imagesPerSecond: (64 * 1000) / trainMs,
          arrivedMs: trainMs + 60,
        });
      }
      p.publish('round', {
        ...samplePayloads.round,
        round: r,
        epoch: 1,
        globalStep: r,
        roundMs: 600,
        straggler: 'w2',
        straggleMs: 330,
        lr: 0.1,
      });
    }
    await p.flush();
    await bus.close(1000);
    const dashboard = await startDashboard(['--nats', server.url]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${dashboard.url}#/run/straggling`);
    await expect.poll(() => page.locator('#workers tbody tr').count(), { timeout: 15_000 }).toBe(3);
    expect(await page.locator('#workers tr.straggler .worker-name').allTextContents()).toEqual(['slow-cpu']);
    expect(await page.locator('#workers .badge.straggler').count()).toBe(1);
    // slow-cpu: 520 ms training, 60 exchange, 20 waiting of 600; gpu-a waits 360.
    expect(await page.locator('#workers tr.straggler .split-text').textContent()).toBe('520 ms / 60 ms / 20 ms of 600 ms');
    expect(await page.locator('#workers tbody tr').first().locator('.split-text').textContent()).toBe('180 ms / 60 ms / 360 ms of 600 ms');
    await page.locator('#workers').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, 'dashboard-straggler.png'), fullPage: true });
    await page.close();
    dashboard.process.child.kill('SIGTERM');
    await dashboard.process.exited;
  }, 60_000);
});
