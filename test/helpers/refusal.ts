import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { expect } from 'vitest';
import type { FleetResult } from './run-fleet.js';

/**
 * Every file and folder under `dir`, relative to `root`: files with their
 * size and mtime, folders by name only (a folder made and removed again moves
 * its parent's mtime, not its content). A refusal must leave it identical.
 */
export async function snapshotTree(root: string, dir: string = root): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  const walk = async (d: string) => {
    const s = await stat(d);
    tree[relative(root, d) || '.'] = s.isDirectory() ? 'dir' : `${s.size} ${s.mtimeMs}`;
    if (s.isDirectory()) for (const e of await readdir(d)) await walk(join(d, e));
  };
  await walk(dir);
  return tree;
}

/** A refusal as a user sees it: the exit code, one `fleet:` line naming what to change, no stack trace. */
export function expectRefusal(result: FleetResult, code: number, message: string | RegExp): void {
  const output = `${result.stdout}\n${result.stderr}`;
  expect(result.code, output).toBe(code);
  const fleetLines = result.stderr.split('\n').filter((l) => l.startsWith('fleet: '));
  expect(fleetLines, output).toHaveLength(1);
  if (typeof message === 'string') expect(fleetLines[0]).toBe(`fleet: ${message}`);
  else expect(fleetLines[0]).toMatch(message);
  expect(output).not.toMatch(/^\s+at /m);
}
