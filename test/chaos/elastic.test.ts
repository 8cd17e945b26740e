/**
 * Chaos: elastic membership (--workers MIN:MAX), with real processes. A
 * 3-worker run loses a worker for good and its coordinator (kill -9 both);
 * the operator restarts the coordinator with --resume --workers 2 and the
 * two survivors finish the run, the global batch cut in two. And a run at
 * --workers 2:3 starts with two, admits a third that joins later, and
 * refuses a fourth while three are members.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosCluster, logsWith, readLedger } from '../helpers/chaos-cluster.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import { startFleet, type FleetProcess } from '../helpers/fleet-processes.js';

let cluster: ChaosCluster;

beforeAll(async () => {
  cluster = await ChaosCluster.create('elastic');
});

afterAll(async () => {
  await cluster.dispose();
});

/** Resolves once `p` has logged `msg` `n` times (the line), or rejects after `timeoutMs`. */
function nth(p: FleetProcess, msg: string, n: number, where: (line: Record<string, unknown>) => boolean = () => true, timeoutMs = 60_000) {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const hits = logsWith(p, msg).filter(where);
      if (hits.length >= n) {
        clearInterval(poll);
        resolve(hits[n - 1]!);
      } else if (Date.now() - started > timeoutMs || p.child.exitCode !== null) {
        clearInterval(poll);
        reject(new Error(`${msg} x${n} not seen (${hits.length}):\n${p.lines.slice(-10).join('\n')}`));
      }
    }, 50);
  });
}

async function metricsOf(out: string): Promise<[number, number][]> {
  return (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { epoch: number; trainSamples: number })
    .map((m) => [m.epoch, m.trainSamples]);
}

describe('chaos: elastic membership (real processes)', () => {
  it('3 workers, one killed for good and the coordinator killed after a checkpoint (kill -9): --resume --workers 2 finishes the run with the two left, the global batch cut in two, every sample once per epoch', async () => {
    const samples = 256;
    const epochs = 1;
    // Global batch 3 x 16 = 48: 6 rounds (the last one 16), a checkpoint every 2 rounds.
    const c = await cluster.coordinator('resume-2', { workers: 3, epochs, limitTrain: samples, batchSize: 16, checkpointEvery: 2 });
    const workers = cluster.workers(c, 3, 'resume-2');
    await nth(c, 'checkpoint written', 1);
    workers[2]!.child.kill('SIGKILL');
    c.child.kill('SIGKILL');
    expect((await workers[2]!.exited).signal).toBe('SIGKILL');
    expect((await c.exited).signal).toBe('SIGKILL');
    const before = logsWith(c, 'round closed');
    expect(before.every((r) => r.contributed === 3 && r.samples === 48)).toBe(true);

    // The operator's restart: two workers now, and a --batch-size that a resume cannot take (the run's is kept, said by name).
    const args = c.args.map((a, i) => (c.args[i - 1] === '--workers' ? '2' : a));
    const second = cluster.track(
      startFleet(['coordinator', '--host', '127.0.0.1', '--port', String(c.port), ...args, '--resume', '--batch-size', '32']),
    );
    const ignored = await nth(
      second,
      "resumed with the run config of the checkpoint: --batch-size ignored (a resume takes only --epochs, --workers and this machine's flags)",
      1,
    );
    expect(ignored.ignored).toEqual([{ flag: '--batch-size', given: 32, kept: 16 }]);
    const exits = await Promise.all([second.exited, workers[0]!.exited, workers[1]!.exited]);
    expect(
      exits.map((e) => e.code),
      second.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0]);
    // After the resume every round had the two, each training half of the global batch of 48.
    const after = logsWith(second, 'round closed');
    expect(after.length).toBeGreaterThan(1);
    expect(after.every((r) => r.contributed === 2)).toBe(true);
    expect(after.filter((r) => r.samples !== 48).map((r) => r.samples)).toEqual(after.filter((r) => r.epochDone).map(() => 16));
    expect(await metricsOf(c.out)).toEqual([[1, samples]]);
    const ledger = await readLedger(c.out, epochs, samples);
    recordChaos({
      scenario: 'a worker and the coordinator killed (kill -9), --resume --workers 2',
      faultsInjected: 2,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([[0, 0]]);
  });

  it('--workers 2:3 starts with the first two, admits the third at the next round (its contributions count), refuses a fourth while three are members (run is full: it retries)', async () => {
    const samples = 512;
    const epochs = 1;
    // --sync-every 2: a round takes two global batches (8 x 3 = 24 each), each member two local steps.
    const c = await cluster.coordinator('min-max', {
      workers: '2:3',
      epochs,
      limitTrain: samples,
      batchSize: 8,
      extra: ['--sync-every', '2'],
    });
    // Four at once: the first round starts at the second registration, so the third joins a later round, and the fourth is one too many.
    const started = cluster.workers(c, 4, 'min-max');
    const full = '"msg":"run is full: waiting for a place"';
    const spare = await new Promise<FleetProcess>((resolve, reject) => {
      const since = Date.now();
      const poll = setInterval(() => {
        const hit = started.find((w) => w.lines.some((l) => l.includes(full)));
        if (hit) {
          clearInterval(poll);
          resolve(hit);
        } else if (Date.now() - since > 60_000 || c.child.exitCode !== null) {
          clearInterval(poll);
          reject(new Error(`no worker refused:\n${[c, ...started].map((p) => p.lines.slice(-4).join('\n')).join('\n---\n')}`));
        }
      }, 50);
    });
    const refused = JSON.parse(spare.lines.find((l) => l.includes(full))!) as { err: string };
    expect(refused.err).toContain('RESOURCE_EXHAUSTED');
    expect(refused.err).toContain('run is full: 3 workers');
    // Stopped while it waits for a place: a clean stop, not a failure.
    spare.child.kill('SIGTERM');
    expect((await spare.exited).code, spare.lines.slice(-3).join('\n')).toBe(0);
    const members = started.filter((w) => w !== spare);
    const exits = await Promise.all([c.exited, ...members.map((w) => w.exited)]);
    expect(
      exits.map((e) => e.code),
      c.lines.slice(-5).join('\n'),
    ).toEqual([0, 0, 0, 0]);
    const registered = logsWith(c, 'worker registered');
    expect(registered.map((l) => l.members)).toEqual([1, 2, 3]);
    const rounds = logsWith(c, 'round closed');
    // Round 0 had the two the run started with; the third came in from a later round on.
    expect(rounds[0]).toMatchObject({ round: 0, contributed: 2, samples: 48 });
    expect(rounds.filter((r) => r.contributed === 3).length).toBeGreaterThan(0);
    // Full rounds are two global batches whoever is there: two steps of 12 each for two members, of 8 for three.
    expect(rounds.filter((r) => !r.epochDone).every((r) => r.samples === 48)).toBe(true);
    const steps = members.flatMap((w) => logsWith(w, 'round contributed')).map((r) => r.samples as number);
    expect(steps).toContain(24);
    expect(steps).toContain(16);
    expect(Math.max(...steps)).toBe(24);
    const ledger = await readLedger(c.out, epochs, samples);
    recordChaos({
      scenario: '--workers 2:3: a third joins a later round, a fourth refused (run is full)',
      // The fourth's registration: refused, as it must be while three are members.
      badInputsTried: 1,
      samplesLost: ledger.lost,
      samplesRepeated: ledger.repeated,
    });
    expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([[0, 0]]);
  });
});
