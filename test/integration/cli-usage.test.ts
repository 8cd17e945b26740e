import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runFleet } from '../helpers/run-fleet.js';

describe('fleet usage (the command itself)', () => {
  it("--version prints package.json's version", async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await runFleet(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it('an unknown flag is bad usage (exit 2) at every level of subcommand, named on stderr', async () => {
    for (const args of [
      ['train', '--bogus'],
      ['data', 'download', '--bogus'],
    ]) {
      const result = await runFleet(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain("unknown option '--bogus'");
    }
  });

  it('builds every command without loading TensorFlow.js, NATS or the chart renderer (they load in the action)', async () => {
    // The packages these load are CommonJS: what a process loaded is in require.cache.
    const script = [
      "const { fleetProgram } = await import('./dist/cli/main.js');",
      'fleetProgram();',
      "const { createRequire } = await import('node:module');",
      'console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));',
    ].join('\n');
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    const loaded = JSON.parse(stdout) as string[];
    expect(loaded.length).toBeGreaterThan(10); // the check sees what was loaded (commander, grpc-js, zod...)
    expect(loaded.filter((f) => /node_modules\/@(tensorflow|nats-io|resvg)\//.test(f))).toEqual([]);
  });
});
