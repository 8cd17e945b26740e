import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVALUATOR_STATE_FILE } from '../../../services/evaluator/state/evaluator-state.js';
import { ConfigError } from '../../../src/runtime/config/config-error.js';
import { atomicTempPath } from '../../../src/runtime/atomic-file.js';
import {
  checkOutDir,
  clearRunFiles,
  isRunEntry,
  makeDirectories,
  OutDirError,
  removeCreatedDirectories,
} from '../../../src/runtime/out-dir.js';
import { BEST_DIR, CONFIG_JSON, METRICS_JSONL, newRunId } from '../../../src/runtime/run-dir.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-outdir-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The refusal of checkOutDir, or null. */
const refusal = (path: string, mode: Parameters<typeof checkOutDir>[1]['mode'] = 'new') =>
  checkOutDir(path, { mode }).then(
    () => null,
    (err: unknown) => err,
  );

describe('checkOutDir', () => {
  it('takes an absent folder (under an existing one) and an empty one, and writes nothing', async () => {
    const parent = join(root, 'fresh');
    await mkdir(parent);
    expect(await checkOutDir(join(parent, 'a', 'b'), { mode: 'new' })).toMatchObject({ exists: false });
    expect(await checkOutDir(parent, { mode: 'new' })).toMatchObject({ exists: true, runEntries: [], otherEntries: [] });
    expect(await readdir(parent)).toEqual([]);
  });

  it("refuses a folder holding a run unless resuming or overwriting, naming --out and the run's files", async () => {
    const out = join(root, 'held');
    await mkdir(join(out, 'best'), { recursive: true });
    await writeFile(join(out, 'config.json'), '{}');
    await writeFile(join(out, 'metrics.jsonl'), '');
    const err = await refusal(out);
    expect(err).toBeInstanceOf(OutDirError);
    expect(err).toBeInstanceOf(ConfigError); // exit 2
    expect((err as Error).message).toBe(
      `--out ${out} already holds a run (config.json, metrics.jsonl, best): pass --resume to continue it or --overwrite to replace it, or choose another --out`,
    );
    expect(await refusal(out, 'resume')).toBeNull();
    expect(await refusal(out, 'overwrite')).toBeNull();
  });

  it('refuses a folder of other files too (a user folder), unless --overwrite, which keeps them', async () => {
    const out = join(root, 'mine');
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'x');
    expect((await refusal(out)) as Error).toMatchObject({ message: expect.stringContaining(`--out ${out} is not empty (notes.txt)`) });
    expect(await checkOutDir(out, { mode: 'overwrite' })).toMatchObject({ runEntries: [], otherEntries: ['notes.txt'] });
  });

  it('refuses a file, a path under a file, and a virtual file system, without hanging or writing', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    expect(((await refusal(file)) as Error).message).toBe(`--out ${file} is a file, not a folder: choose another --out`);
    expect(((await refusal(join(file, 'run'))) as Error).message).toBe(
      `--out ${join(file, 'run')} is under a file (${file}): choose another --out`,
    );
    expect(((await refusal('/proc/fleet-run')) as Error).message).toMatch(/^--out \/proc\/fleet-run is on a virtual file system \(proc\)/);
    // Any mode: a place that cannot hold files is refused even for the evaluator.
    expect(await refusal(file, 'shared')).toBeInstanceOf(OutDirError);
  });

  it('names the flag it is given', async () => {
    const file = join(root, 'another-file');
    await writeFile(file, 'x');
    const err = await checkOutDir(file, { mode: 'shared', flag: '--dir' }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`--dir ${file} is a file, not a folder: choose another --dir`);
  });
});

describe("fleet's run files", () => {
  it("are every name fleet writes into a run directory, and their atomic writes' temp names", () => {
    const written = [CONFIG_JSON, METRICS_JSONL, BEST_DIR, '.best.previous', 'checkpoint.fleet', EVALUATOR_STATE_FILE, 'logs', 'nats'];
    for (const name of [...written, 'applied-epoch-3.json']) expect(isRunEntry(name), name).toBe(true);
    for (const name of [CONFIG_JSON, METRICS_JSONL, BEST_DIR, 'checkpoint.fleet', EVALUATOR_STATE_FILE]) {
      const temp = atomicTempPath(join(root, name)).slice(root.length + 1);
      expect(isRunEntry(temp), temp).toBe(true);
    }
    for (const name of ['notes.txt', 'config.json.bak', 'best-old', '.hidden', 'applied-epoch-x.json'])
      expect(isRunEntry(name), name).toBe(false);
  });

  it("clearRunFiles removes fleet's entries only", async () => {
    const out = join(root, 'clear');
    await mkdir(join(out, 'best'), { recursive: true });
    await mkdir(join(out, 'logs'));
    await mkdir(join(out, 'data'));
    for (const name of ['config.json', 'metrics.jsonl', 'checkpoint.fleet', 'applied-epoch-1.json', 'notes.txt', 'best/model.json'])
      await writeFile(join(out, name), 'x');
    expect((await clearRunFiles(out)).sort()).toEqual([
      'applied-epoch-1.json',
      'best',
      'checkpoint.fleet',
      'config.json',
      'logs',
      'metrics.jsonl',
    ]);
    expect((await readdir(out)).sort()).toEqual(['data', 'notes.txt']);
    expect(await clearRunFiles(join(root, 'absent'))).toEqual([]);
  });
});

describe('makeDirectories', () => {
  it('creates the missing levels, reports them, and removeCreatedDirectories takes back only empty ones', async () => {
    const base = join(root, 'make');
    await mkdir(base);
    const created = await makeDirectories(join(base, 'a', 'b', 'c'));
    expect(created).toEqual([join(base, 'a'), join(base, 'a', 'b'), join(base, 'a', 'b', 'c')]);
    expect(await makeDirectories(join(base, 'a', 'b', 'c'))).toEqual([]);
    await writeFile(join(base, 'a', 'keep.txt'), 'x');
    await removeCreatedDirectories(created);
    expect(await readdir(join(base, 'a'))).toEqual(['keep.txt']);
  });

  it('fails at once under /proc instead of looping (mkdir -p does)', async () => {
    const started = Date.now();
    await expect(makeDirectories('/proc/fleet-x/y')).rejects.toThrow(/cannot create the folder \/proc\/fleet-x\/y: ENOENT/);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(stat('/proc/fleet-x')).rejects.toThrow();
  });
});

describe('newRunId', () => {
  it('never names a run that exists', () => {
    const now = new Date('2026-01-02T03:04:05Z');
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) seen.add(newRunId('cnn', now, (id) => seen.has(id)));
    expect(seen.size).toBe(50);
    // Every four-digit id taken: a longer suffix.
    expect(newRunId('cnn', now, (id) => id.length <= '20260102-030405-cnn-0000'.length)).toMatch(/^20260102-030405-cnn-[0-9a-f]{8}$/);
  });
});
