import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../../../dist/src/runtime/heap-tuning.js', import.meta.url));

/** Runs tuneHeapForTransfers in a fresh node with `flags`; what it returned. */
function tuneIn(flags: string[]): boolean {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => process.stdout.write(String(m.tuneHeapForTransfers())))`;
  const r = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout === 'true';
}

describe('tuneHeapForTransfers', () => {
  it('sets the heap growth when the user did not', () => {
    expect(tuneIn([])).toBe(true);
  });

  it("leaves a user's own --heap-growing-percent alone", () => {
    expect(tuneIn(['--heap-growing-percent=50'])).toBe(false);
  });
});
