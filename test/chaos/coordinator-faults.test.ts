/**
 * Chaos: the coordinator crashes while writing a checkpoint, and resumes
 * from files that are not what it wrote. Real processes; the crash is the
 * coordinator killing itself (SIGKILL) half-way through the temporary file
 * of a checkpoint (FLEET_FAULT_CHECKPOINT_KILL_AT, test-only, in
 * services/coordinator/checkpoint/checkpoint-file.ts).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAtomicTempName } from '../../src/runtime/atomic-file.js';
import { FAULT_CHECKPOINT_KILL_AT_ENV, readCheckpoint } from '../../src/training/checkpoint/checkpoint-file.js';
import { CHECKPOINT_FILE } from '../../services/coordinator/coordinator-run.js';
import { ChaosCluster, logsWith, readLedger, type Coordinator } from '../helpers/chaos-cluster.js';
import { recordChaos } from '../helpers/chaos-ledger.js';
import { runFleet } from '../helpers/run-fleet.js';

let cluster: ChaosCluster;
/** The run directory of the first scenario, finished: the second corrupts copies of its checkpoint. */
let finished: Coordinator | null = null;

beforeAll(async () => {
  cluster = await ChaosCluster.create('coordinator');
});

afterAll(async () => {
  await cluster.dispose();
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('chaos: coordinator faults (real processes)', () => {
  /**
   * The fault schedule: which checkpoint write of the run (2 workers x 16 images: 8 rounds an epoch,
   * checkpoints every 3 rounds and at epoch ends, so after rounds 2, 5, 7 (epoch 1's end), 8, 11, 14)
   * is torn, and which checkpoint the resumed run must start from.
   */
  const schedule = [
    { killAt: 2, torn: 'periodic', previousRound: 2, previousEpoch: 1 },
    { killAt: 3, torn: 'epoch end', previousRound: 5, previousEpoch: 1 },
    { killAt: 4, torn: 'after an epoch end', previousRound: 7, previousEpoch: 2 },
  ];

  it.each(schedule)(
    'checkpoint write $killAt ($torn) interrupted half-way by a kill leaves the previous one usable: --resume continues from round $previousRound, the workers reconnect, every sample counts once',
    async (fault) => {
      const samples = 256;
      const epochs = 2;
      const name = `torn-${fault.killAt}`;
      const c = await cluster.coordinator(name, {
        workers: 2,
        epochs,
        limitTrain: samples,
        checkpointEvery: 3,
        env: { [FAULT_CHECKPOINT_KILL_AT_ENV]: String(fault.killAt) },
      });
      const workers = cluster.workers(c, 2, name);
      const died = await c.exited;
      expect(died.signal, c.lines.slice(-5).join('\n')).toBe('SIGKILL');
      const written = logsWith(c, 'checkpoint written');
      expect(written).toHaveLength(fault.killAt - 1);
      expect(written.at(-1)!.round).toBe(fault.previousRound);

      // checkpoint.fleet is still the previous checkpoint, whole; the torn temporary file is beside it.
      const file = join(c.out, CHECKPOINT_FILE);
      const previous = await readCheckpoint(file);
      expect(previous.header.state).toMatchObject({ round: fault.previousRound, version: written.at(-1)!.version });
      const temps = (await readdir(c.out)).filter(isAtomicTempName);
      expect(temps).toHaveLength(1);
      const torn = (await stat(join(c.out, temps[0]!))).size;
      const whole = (await stat(file)).size;
      expect(torn / whole).toBeGreaterThan(0.45);
      expect(torn / whole).toBeLessThan(0.55);

      // Started again with --resume on the same port (no fault this time): it goes on from there.
      const second = cluster.resume(c);
      const resumed = JSON.parse(await second.waitFor(/"msg":"resumed from checkpoint"/)) as {
        round: number;
        version: number;
        epoch: number;
      };
      expect(resumed).toMatchObject({ round: fault.previousRound, version: written.at(-1)!.version, epoch: fault.previousEpoch });
      const exits = await Promise.all([second.exited, ...workers.map((w) => w.exited)]);
      expect(
        exits.map((e) => e.code),
        second.lines.slice(-5).join('\n'),
      ).toEqual([0, 0, 0]);
      // The workers rode out the outage (retries with back-off) and registered with the new instance.
      for (const w of workers) {
        expect(
          w.lines.some(
            (l) =>
              l.includes('"msg":"coordinator unavailable: retrying"') || l.includes('"msg":"evicted by the coordinator: registered again"'),
          ),
        ).toBe(true);
      }
      expect(new Set(logsWith(second, 'worker registered').map((l) => l.name))).toEqual(new Set(workers.map((_, i) => `${name}-w${i}`)));

      // One metrics line per epoch, even when the crashed process had written the line of the epoch it re-runs.
      const metrics = (await readFile(join(c.out, 'metrics.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { epoch: number; trainSamples: number });
      expect(metrics.map((m) => [m.epoch, m.trainSamples])).toEqual([
        [1, samples],
        [2, samples],
      ]);
      // The ledger of a resumed run starts from what the checkpoint had applied: it checks whole epochs.
      const ledger = await readLedger(c.out, epochs, samples);
      recordChaos({
        scenario: `coordinator killed writing checkpoint ${fault.killAt} (${fault.torn}), --resume`,
        faultsInjected: 1,
        samplesLost: ledger.lost,
        samplesRepeated: ledger.repeated,
      });
      expect(ledger.reports.map((r) => [r.missingCount, r.repeatedCount])).toEqual([
        [0, 0],
        [0, 0],
      ]);
      finished = c;
    },
  );

  it('--resume refuses a corrupt, truncated or foreign checkpoint with exit code 1, naming the file, and leaves it as it was; a missing one is a usage error (exit 2)', async () => {
    const run = finished;
    expect(run, 'needs the run of the previous test').not.toBeNull();
    const good = await readFile(join(run!.out, CHECKPOINT_FILE));
    const headerLength = good.readUInt32LE(8);
    const text = good.subarray(0, 12 + headerLength).toString('latin1');
    /** Where the last digit of the header's first number under `key` is: changing it keeps the JSON valid. */
    const lastDigitOf = (key: string) => {
      let at = text.indexOf(`"${key}":`) + key.length + 3;
      while (/[0-9.]/.test(text[at + 1] ?? '')) at++;
      return at;
    };

    const variants: { name: string; bytes: Buffer | null; reason: RegExp }[] = [
      { name: 'truncated by 100 bytes', bytes: good.subarray(0, good.length - 100), reason: /data is \d+ bytes, the header describes \d+/ },
      { name: 'cut inside the header', bytes: good.subarray(0, 30), reason: /header length \d+ runs past the end/ },
      { name: 'one bit of a parameter flipped', bytes: flip(good, good.length - 7, 0x10), reason: /checksum mismatch/ },
      // One bit of the header that keeps it valid JSON: a version, a learning rate silently changed.
      {
        name: 'the version in the header changed',
        bytes: flip(good, lastDigitOf('version'), 0x01),
        reason: /header and data checksum mismatch/,
      },
      {
        name: 'the learning rate in the saved config changed',
        bytes: flip(good, lastDigitOf('lr'), 0x01),
        reason: /header and data checksum mismatch/,
      },
      {
        name: 'header JSON broken',
        bytes: flip(good, 12 + Math.floor(headerLength / 2), 0x80),
        reason: /header is not valid JSON|checksum mismatch/,
      },
      { name: 'bad magic', bytes: flip(good, 0, 0x01), reason: /not a fleet checkpoint \(bad magic\)/ },
      { name: 'empty', bytes: Buffer.alloc(0), reason: /not a fleet checkpoint/ },
      { name: 'another file format', bytes: Buffer.from('{"checkpoint": true}\n'), reason: /not a fleet checkpoint/ },
      // Not corrupt, but nothing to resume: the run's last epoch is done.
      { name: 'the finished run itself', bytes: good, reason: /nothing to resume: .* end of the run's last epoch/ },
    ];
    const outcomes = await mapLimit(variants, 4, async (v, i) => {
      const out = join(cluster.root, `corrupt-${i}`);
      const file = join(out, CHECKPOINT_FILE);
      await rm(out, { recursive: true, force: true });
      await mkdir(out, { recursive: true });
      if (v.bytes) await writeFile(file, v.bytes);
      const before = await readdir(out);
      const args = cluster.coordinatorArgs(`corrupt-${i}`, { workers: 2 });
      const result = await runFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args, '--resume'], { timeoutMs: 30_000 });
      return { v, file, out, before, result, after: v.bytes ? await readFile(file) : null, listing: await readdir(out) };
    });
    recordChaos({ scenario: 'corrupt checkpoint on --resume', badInputsTried: variants.length });
    for (const { v, file, before, result, after, listing } of outcomes) {
      expect(result.code, `${v.name}: ${result.stderr}`).toBe(1);
      expect(result.stderr, v.name).toContain(`fleet: `);
      expect(result.stderr, v.name).toContain(file);
      expect(result.stderr, v.name).toMatch(v.reason);
      expect(result.stdout, `${v.name}: nothing listened`).not.toContain('"msg":"listening"');
      // Refused before anything: the file as it was, nothing written beside it.
      if (v.bytes) expect(sha256(after!), v.name).toBe(sha256(v.bytes));
      expect(listing, v.name).toEqual(before);
    }

    // No checkpoint at all: a usage error (exit 2) saying what to do, nothing written.
    const emptyDir = join(cluster.root, 'no-checkpoint');
    await mkdir(emptyDir, { recursive: true });
    const missing = await runFleet(
      ['coordinator', '--host', '127.0.0.1', '--port', '0', ...cluster.coordinatorArgs('no-checkpoint', { workers: 2 }), '--resume'],
      { timeoutMs: 30_000 },
    );
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toContain(`fleet: --resume: no checkpoint.fleet in ${emptyDir}; start without --resume, or use --resume auto`);
    expect(await readdir(emptyDir)).toEqual([]);

    // The same finished run under --resume auto (what a restarted pod runs): done, exit 0, nothing rerun.
    const doneDir = join(cluster.root, 'finished-auto');
    await mkdir(doneDir, { recursive: true });
    await writeFile(join(doneDir, CHECKPOINT_FILE), good);
    const args = cluster.coordinatorArgs('finished-auto', { workers: 2 });
    const auto = await runFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args, '--resume', 'auto'], { timeoutMs: 30_000 });
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stdout).toContain('"msg":"run already finished: nothing to resume"');
    expect(auto.stdout).not.toContain('"msg":"listening"');
    expect(sha256(await readFile(join(doneDir, CHECKPOINT_FILE)))).toBe(sha256(good));
  });
});

function flip(bytes: Buffer, at: number, mask: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ mask;
  return copy;
}

/** `f` over `items`, at most `limit` at a time (processes on a 2-core machine), results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, f: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await f(items[i]!, i);
      }
    }),
  );
  return results;
}
