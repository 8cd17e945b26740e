import { readFile } from 'node:fs/promises';
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
});
