/**
 * Chaos: workers that compute garbage. Two of four workers
 * upload finite but wrong gradients from round FAULT_ROUND on
 * (FLEET_FAULT_GRADIENT, test-only): one sign-flipped, one scaled x100. The
 * coordinator's contribution check refuses each of their contributions
 * (none is applied: their batches are trained again by the others, the
 * ledger exact), quarantines each after 3 refusals (a worker.quarantined
 * event with the rule and the figures), refuses their registration from then
 * on (they exit non-zero, saying why), and the honest workers finish the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNatsBus, type AnyFleetEvent, type EventBus } from '../../src/events/index.js';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
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
    const all = [c, ...honest, ...faulty];
    const exits = await Promise.race([
      Promise.all(all.map((p) => p.exited)),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(all.map((p) => p.lines.slice(-2).join('\n')).join('\n---\n'))), 80_000),
      ),
    ]);
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
    const ledger = await readLedger(c.out, epochs, samples);
    recordChaos({
      scenario: 'garbage gradients (sign-flip, scale x100): refused and quarantined',
      faultsInjected: 2,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
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
});
