/**
 * Chaos: workers that compute garbage. Two of four workers
 * upload finite but wrong gradients from round FAULT_ROUND on
 * (FLEET_FAULT_GRADIENT, test-only): one sign-flipped, one scaled x100. The
 * coordinator's contribution check refuses each of their contributions
 * (none is applied: their batches are trained again by the others, the
 * ledger exact), quarantines each after 3 refusals (a worker.quarantined
 * event with the rule and the figures), refuses their registration from then
 * on (they exit non-zero, saying why), and the honest workers finish the run.
 * A third uploads noise with no direction under the norm factor (raised for
 * the test): accepted, but clipped to the bound before it is summed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNatsBus, type AnyFleetEvent, type EventBus } from '../../src/events/index.js';
import { ChaosCluster, logsWith, readLedger, type Coordinator } from '../helpers/chaos-cluster.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import type { FleetProcess } from '../helpers/fleet-processes.js';
import { captureLog } from '../helpers/capture-log.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { until } from '../helpers/wait.js';

const FAULT_ROUND = 6;
const FAULTS = { 'sign-flip': 'cosine', 'scale:100': 'norm-above' } as const;

let cluster: ChaosCluster;
let server: NatsServerHandle | null = null;
const buses: EventBus[] = [];

beforeAll(async () => {
  cluster = await ChaosCluster.create('garbage');
  if (natsServerAvailable()) server = await startNatsServer();
});

afterAll(async () => {
  for (const b of buses) await b.close().catch(() => {});
  await cluster.dispose();
  await server?.dispose();
});

/** Every process's exit, or an error with their last lines after 80 s. */
function allExit(all: FleetProcess[]): Promise<{ code: number | null }[]> {
  return Promise.race([
    Promise.all(all.map((p) => p.exited)),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(all.map((p) => p.lines.slice(-2).join('\n')).join('\n---\n'))), 80_000),
    ),
  ]);
}

/** Every sample applied exactly once in each epoch (the refused batches trained again by others); recorded for the chaos summary. */
async function expectLedgerExact(c: Coordinator, epochs: number, samples: number, scenario: string, faultsInjected: number): Promise<void> {
  const ledger = await readLedger(c.out, epochs, samples);
  recordChaos({ scenario, faultsInjected, samplesLost: ledger.lost, samplesRepeated: ledger.repeated });
  expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual(Array.from({ length: epochs }, () => [0, 0]));
}

describe('chaos: a worker that computes garbage (real processes)', () => {
  it('refuses sign-flipped and scaled gradients, quarantines their workers, applies every sample exactly once', async () => {
    const samples = 512;
    const epochs = 3;
    const c = await cluster.coordinator('garbage', {
      workers: 4,
      epochs,
      limitTrain: samples,
      batchSize: 16,
      extra: server ? ['--nats', server.url] : [],
    });
    const honest = [cluster.worker(c.port, 'honest-0'), cluster.worker(c.port, 'honest-1')];
    const faulty = Object.keys(FAULTS).map((fault, i) =>
      cluster.worker(c.port, `faulty-${i}`, [], { FLEET_FAULT_GRADIENT: `${fault}@${FAULT_ROUND}` }),
    );
    const exits = await allExit([c, ...honest, ...faulty]);
    expect(
      exits.slice(0, 3).map((e) => e.code),
      [c, ...honest].map((p) => p.lines.filter((l) => /refused|quarantined|held back|dropped|error/i.test(l)).join('\n')).join('\n---\n'),
    ).toEqual([0, 0, 0]);

    const counted = logsWith(c, 'contribution refused by the contribution check: its batches go back to the pool');
    const heldBack = logsWith(c, 'contribution held back: on probation and first in its round; its batches go back to the pool');
    // Honest workers are never quarantined (a sign-flipped gradient that slipped into a round's sum can make an honest
    // one after it look flipped: a refusal now and then, never 3 in 5); each faulty one is refused by its rule until its
    // quarantine (3 refusals in its last 5 rounds).
    const honestRefused = counted.filter((r) => String(r.name).startsWith('honest'));
    expect(honestRefused.every((r) => (r.recentRefusals as number) < 3)).toBe(true);
    for (const [i, rule] of Object.values(FAULTS).entries()) {
      const mine = counted.filter((r) => r.name === `faulty-${i}`);
      // The last of them by its rule (a sign-flipped one may also be blamed as the earlier of a conflicting pair).
      expect(mine).toHaveLength(3);
      expect(mine.at(-1)!.rule).toBe(rule);
      expect(mine.every((r) => (r.round as number) >= FAULT_ROUND)).toBe(true);
      const evicted = logsWith(
        c,
        `worker evicted: quarantined (3 contributions refused by the contribution check, the last by its ${rule} rule)`,
      );
      expect(evicted.map((l) => [l.name, l.round])).toEqual([[`faulty-${i}`, mine.at(-1)!.round]]);
    }
    const conflicts = logsWith(
      c,
      "contribution dropped: it and the round's one earlier contribution point against each other, neither refused recently",
    );
    const droppedEarlier = logsWith(
      c,
      'accepted contribution dropped: it and a later one point against each other; its batches go back to the pool',
    );
    // Refused and waiting for a second opinion: counted later (logged again, as counted, with the same round), or never
    // (its worker quarantined meanwhile, or the batch found at fault).
    const pending = logsWith(
      c,
      'contribution refused by the contribution check, not counted until other members have trained its batches: it sits out until then',
    );
    // Every contribution the check took out, once: refused on arrival, or dropped from the sum after its acceptance.
    const refusals = [...counted, ...heldBack, ...conflicts, ...droppedEarlier, ...pending].filter(
      (r, i, all) => all.findIndex((x) => x.worker === r.worker && x.round === r.round) === i,
    );

    // None of the refused contributions was applied: the worker heard it was not accepted, and the round did not count it.
    for (const [i, w] of faulty.entries()) {
      const mine = refusals.filter((r) => r.name === `faulty-${i}`);
      const refusedRounds = mine.filter((r) => r.droppedAfterAcceptance !== true).map((r) => r.round as number);
      const droppedRounds = mine.filter((r) => r.droppedAfterAcceptance === true).map((r) => r.round as number);
      expect(logsWith(w, 'contribution not accepted').map((l) => l.round as number)).toEqual(refusedRounds.sort((a, b) => a - b));
      // What it was told was accepted: never a refused round; a dropped one only as the earlier of a conflicting pair.
      const accepted = logsWith(w, 'round contributed').map((l) => l.round as number);
      expect(accepted.filter((r) => refusedRounds.includes(r))).toEqual([]);
      expect(droppedRounds.every((r) => accepted.includes(r))).toBe(true);
      // Registering again after the quarantine is refused: the worker exits non-zero, saying why.
      expect(exits[3 + i]!.code, w.lines.slice(-3).join('\n')).not.toBe(0);
      expect(w.lines.some((l) => l.includes(`worker name faulty-${i} is quarantined for the rest of this run`))).toBe(true);
    }
    const closed = logsWith(c, 'round closed');
    for (const round of new Set(refusals.map((r) => r.round))) {
      const line = closed.find((l) => l.round === round)!;
      // Nobody missed a deadline in this run: whoever was planned and not refused contributed.
      expect([line.refused, line.evicted]).toEqual([refusals.filter((x) => x.round === round).length, 0]);
    }
    // Every sample applied exactly once per epoch: the refused batches were trained again by the honest workers.
    await expectLedgerExact(c, epochs, samples, 'garbage gradients (sign-flip, scale x100): refused and quarantined', 2);
    if (server) {
      const bus = await connectNatsBus({ servers: server.url, name: 'garbage-test', log: captureLog().log });
      buses.push(bus);
      const events: AnyFleetEvent[] = [];
      const sub = await bus.follow('garbage', (e) => events.push(e), { from: 'start' });
      await until('run.finished event', () => events.some((e) => e.type === 'run.finished'), 15_000, 50);
      await sub.stop();
      const q = events.filter((e) => e.type === 'worker.quarantined').map((e) => e.data as Record<string, unknown>);
      expect(q.map((d) => [d.name, d.rule, d.recentRefusals]).sort()).toEqual([
        ['faulty-0', 'cosine', 3],
        ['faulty-1', 'norm-above', 3],
      ]);
      for (const d of q) expect(d.medianNorm).toBeGreaterThan(0);
      // Three members: each quarantining refusal was confirmed by the others' accepted work on its batches.
      expect(q.map((d) => d.secondOpinion)).toEqual(['confirmed', 'confirmed']);
      expect(events.filter((e) => e.type === 'worker.contribution_refused')).toHaveLength(
        counted.length + heldBack.length + conflicts.length,
      );
    }
  }, 90_000);

  it('clips noise with no direction under the norm factor: accepted, scaled down to 3x the median, told; every sample applied once', async () => {
    const samples = 384;
    const epochs = 2;
    // The norm factor raised to 20 (the default, 4, refuses this noise and quarantines its worker: bench garbage-worker),
    // so that what stays under it is the clip's.
    const c = await cluster.coordinator('noise', {
      workers: 3,
      epochs,
      limitTrain: samples,
      batchSize: 16,
      extra: ['--contribution-norm-factor', '20', ...(server ? ['--nats', server.url] : [])],
    });
    // 12x its own gradients' norm, in a random direction: mostly between the clip bound (3x the window's median, which
    // lags behind the falling honest norms of a short run) and the norm factor.
    const honest = [cluster.worker(c.port, 'honest-0'), cluster.worker(c.port, 'honest-1')];
    const noisy = cluster.worker(c.port, 'noisy', [], { FLEET_FAULT_GRADIENT: `noise:12@${FAULT_ROUND}` });
    const exits = await allExit([c, ...honest, noisy]);
    expect(exits.slice(0, 3).map((e) => e.code)).toEqual([0, 0, 0]);
    const clipped = logsWith(c, 'contribution clipped by the contribution check: its norm is above the clip bound, scaled down to it');
    const mine = clipped.filter((l) => l.name === 'noisy');
    // Its accepted contributions from the fault on: most of them clipped (not a leftover, nor noise under the bound).
    const accepted = logsWith(noisy, 'round contributed')
      .map((l) => l.round as number)
      .filter((r) => r >= FAULT_ROUND);
    expect(accepted.length).toBeGreaterThan(4);
    expect(mine.length).toBeGreaterThanOrEqual(accepted.length / 2);
    expect(mine.every((l) => (l.round as number) >= FAULT_ROUND)).toBe(true);
    for (const l of mine) {
      const [norm, median, scale] = [l.norm, l.medianNorm, l.scale] as [number, number, number];
      expect(scale).toBeLessThan(1);
      // What joined the sum: exactly the bound, 3x the window's median.
      expect((norm * scale) / median).toBeCloseTo(3, 6);
    }
    // The honest workers are clipped far less (tiny data: an honest norm now and then reaches a few times the median).
    expect(clipped.length - mine.length).toBeLessThan(mine.length);
    await expectLedgerExact(c, epochs, samples, 'noise with no direction under the norm factor (12x its own norm): clipped', 1);
    if (server) {
      const bus = await connectNatsBus({ servers: server.url, name: 'noise-test', log: captureLog().log });
      buses.push(bus);
      const events: AnyFleetEvent[] = [];
      const sub = await bus.follow('noise', (e) => events.push(e), { from: 'start' });
      await until('run.finished event', () => events.some((e) => e.type === 'run.finished'), 15_000, 50);
      await sub.stop();
      const told = events.filter((e) => e.type === 'worker.contribution_clipped').map((e) => e.data as Record<string, unknown>);
      expect(told.map((d) => [d.name, d.round]).sort()).toEqual(clipped.map((l) => [l.name, l.round]).sort());
    }
  }, 90_000);
});
