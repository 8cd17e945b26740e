import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNatsServer } from '../../services/launcher/nats-server-process.js';
import { writeCifar10Files } from '../fixtures/cifar10-files.js';
import { FLEET_BIN, logLines, runFleet } from '../helpers/run-fleet.js';

/**
 * What a person sees of `fleet train --workers 2`: on a terminal (a real
 * pseudo-terminal, util-linux `script`) a bar over the epoch's images, a line
 * per worker, each epoch's result and a summary, never the processes' raw
 * JSON lines (those are in <out>/logs/); without one, one JSON line per
 * event; --verbose adds the processes' lines.
 */
let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-terminal-'));
  dataDir = join(root, 'data');
  await writeCifar10Files(dataDir, { trainBatches: 1, perBatch: 320, testCount: 100, pattern: 'learnable', seed: 3 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const training = (out: string, extra: string[] = []) => [
  'train',
  '--workers',
  '2',
  '--model',
  'tiny',
  '--epochs',
  '2',
  '--batch-size',
  '32',
  '--lr',
  '0.02',
  '--warmup-epochs',
  '0',
  '--data-dir',
  dataDir,
  '--allow-partial',
  '--backend',
  'wasm',
  '--out',
  out,
  ...extra,
];

const shellQuote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/** Runs fleet on a pseudo-terminal of 120 columns; resolves with the exit code and the screen's bytes, escapes removed. */
function runOnTerminal(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; text: string; raw: string }> {
  const command = `stty cols 120 rows 40; exec ${[process.execPath, FLEET_BIN, ...args].map(shellQuote).join(' ')}`;
  return new Promise((resolve, reject) => {
    // -e: the command's exit code; -f: flushed as written; /dev/null: no typescript file.
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: { ...process.env, COLUMNS: '120', TERM: 'xterm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let raw = '';
    child.stdout.on('data', (d: Buffer) => {
      raw += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      raw += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fleet on a terminal did not finish in ${timeoutMs} ms:\n${raw.slice(-3000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes are what is removed
      const text = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
      resolve({ code, text, raw });
    });
  });
}

async function jsonLines(file: string): Promise<Record<string, unknown>[]> {
  return logLines(await readFile(file, 'utf8'));
}

/** util-linux `script` gives the command a pseudo-terminal (Debian: bsdutils, always installed). */
const hasScript = spawnSync('script', ['--version']).status === 0;

describe('fleet train --workers 2: what the terminal shows', () => {
  it.skipIf(!hasScript)(
    'on a terminal: the epoch bar, a line per worker, each epoch result and the summary; no raw JSON lines',
    async () => {
      const out = join(root, 'tty');
      const { code, text, raw } = await runOnTerminal(training(out));
      expect(code, text.slice(-3000)).toBe(0);
      // The bar over the epoch's global images, with its fields.
      expect(text).toMatch(/epoch 2\/2 \[[█░]+\] 320\/320 img 100% \| loss \d+\.\d{4} acc \d+\.\d% lr [\d.e-]+ \| \d+ img\/s \| eta/);
      // A line per worker: its speed, last loss and status.
      for (const w of ['worker-0', 'worker-1']) expect(text).toMatch(new RegExp(` ${w} +\\d+ img/s +loss \\d+\\.\\d{4} +(training|done)`));
      // Each epoch's training and (scored by the evaluator or the coordinator) its result.
      expect(text).toMatch(/epoch 1\/2 trained: 320 images in [\d.]+ s/);
      expect(text).toMatch(/epoch 2\/2 test accuracy \d+\.\d\d%, (loss|train loss) \d+\.\d{4}\n {2}weakest: .+\n {2}most confused: .+/);
      // The summary.
      expect(text).toMatch(/run finished: best test accuracy \d+\.\d\d% \(epoch [12]\); 2\/2 epochs in [\d.]+ s/);
      expect(text).toContain(`run directory: ${out}`);
      expect(text).toContain(`logs: ${join(out, 'logs')} (coordinator.log, worker-0.log, worker-1.log`);
      // The processes' own lines are not on the terminal.
      expect(raw).not.toContain('{"level"');
      expect(text).not.toContain('round contributed');
      // ...they are in the run's logs.
      expect((await jsonLines(join(out, 'logs', 'coordinator.log'))).some((l) => l.msg === 'round closed')).toBe(true);
    },
  );

  it.skipIf(!hasScript)('on a terminal, a failed worker: the summary names it, its last error line and its log file', async () => {
    const out = join(root, 'tty-failed');
    // A learning rate this high sends the loss to NaN or Infinity: the worker that sees it first stops the run.
    const { code, text } = await runOnTerminal(training(out, ['--lr', '100', '--momentum', '0.99']));
    expect(code, text.slice(-3000)).toBe(1);
    const m = /run failed: (worker-[01]) exited with code 1; the other processes were stopped; \d\/2 epochs in [\d.]+ s/.exec(text);
    expect(m, text.slice(-3000)).not.toBeNull();
    const failed = m![1]!;
    expect(text).toMatch(new RegExp(`last error: ${failed}: .*training diverged at epoch \\d, step \\d+: loss is (NaN|-?Infinity)`));
    const log = join(out, 'logs', `${failed}.log`);
    expect(text).toContain(`its log: ${log}`);
    expect(await readFile(log, 'utf8')).toMatch(/training diverged/);
    // Said once, by the summary and main's one line: no logged stack trace after it.
    expect(text).toContain(`fleet: ${failed} exited with code 1; the other processes were stopped`);
    expect(text).not.toContain('training failed');
  });

  it('without a terminal: one JSON line per event on stdout, the processes logs in <out>/logs', async () => {
    const out = join(root, 'piped');
    const result = await runFleet(training(out));
    expect(result.code, result.stderr).toBe(0);
    const stdout = result.stdout.trim().split('\n');
    expect(
      stdout.every((l) => l.startsWith('{')),
      stdout.join('\n'),
    ).toBe(true);
    const lines = logLines(result.stdout);
    // Only the launcher's lines: the processes' are in their files.
    expect(new Set(lines.map((l) => l.service))).toEqual(new Set(['train']));
    const of = (msg: string) => lines.filter((l) => l.msg === msg);
    expect(of('epoch started').map((l) => l.epoch)).toEqual([1, 2]);
    expect(of('epoch done').map((l) => [l.epoch, l.images])).toEqual([
      [1, 320],
      [2, 320],
    ]);
    for (const l of of('epoch done')) {
      expect(l).toMatchObject({ trainLoss: expect.any(Number), trainAccuracy: expect.any(Number), lr: expect.any(Number) });
    }
    const perWorker = of('worker epoch summary');
    expect(perWorker.map((l) => [l.epoch, l.process])).toEqual([
      [1, 'worker-0'],
      [1, 'worker-1'],
      [2, 'worker-0'],
      [2, 'worker-1'],
    ]);
    for (const epoch of [1, 2]) {
      const images = perWorker.filter((l) => l.epoch === epoch).reduce((n, l) => n + (l.images as number), 0);
      expect(images).toBe(320);
    }
    expect(of('epoch scored').map((l) => l.epoch)).toEqual([1, 2]);
    for (const l of of('epoch scored'))
      expect(l).toMatchObject({ accuracyPercent: expect.stringMatching(/%$/), weakest: expect.any(String) });
    const [finished] = of('run finished');
    expect(finished).toMatchObject({
      status: 'finished',
      epochsRun: 2,
      epochs: 2,
      bestAccuracyPercent: expect.stringMatching(/^\d+\.\d\d%$/),
      bestEpoch: expect.any(Number),
      runDir: out,
      logsDir: join(out, 'logs'),
      failed: null,
    });

    // The processes' JSON lines, one file each.
    expect((await jsonLines(join(out, 'logs', 'coordinator.log'))).some((l) => l.msg === 'listening')).toBe(true);
    for (const w of ['worker-0', 'worker-1']) {
      const workerLines = await jsonLines(join(out, 'logs', `${w}.log`));
      expect(workerLines.filter((l) => l.msg === 'round contributed').length, w).toBeGreaterThan(0);
    }
    // With a nats-server on the machine the launcher starts one and an evaluator scores the checkpoints.
    expect(existsSync(join(out, 'logs', 'evaluator.log'))).toBe(findNatsServer() !== null);
  });

  it('--verbose: the processes lines on stdout too', async () => {
    const out = join(root, 'verbose');
    const result = await runFleet(training(out, ['--epochs', '1', '--verbose']));
    expect(result.code, result.stderr).toBe(0);
    const lines = logLines(result.stdout);
    expect(lines.some((l) => l.service === 'coordinator' && l.msg === 'round closed')).toBe(true);
    expect(lines.some((l) => l.service === 'worker' && l.msg === 'round contributed')).toBe(true);
    expect(lines.some((l) => l.service === 'train' && l.msg === 'run finished')).toBe(true);
  });
});
