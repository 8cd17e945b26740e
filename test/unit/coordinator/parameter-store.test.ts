import { describe, expect, it } from 'vitest';
import { ParameterStore } from '../../../services/coordinator/parameters/parameter-store.js';
import { VersionUnavailableError } from '../../../services/coordinator/rounds/errors.js';

/** A store at version 1 holding [1, 1, 1]; each `step` writes the next version filled with its number. */
function store(retainVersions?: number) {
  const s = new ParameterStore({
    params: new Float32Array(3).fill(1),
    momentum: new Float32Array(3),
    ...(retainVersions !== undefined ? { retainVersions } : {}),
  });
  const step = () => s.update((params) => params.fill(s.version + 1));
  return { s, step };
}

describe('retained versions', () => {
  it('keeps the newest `retainVersions` checkpoint copies; an older one is refused with VersionUnavailableError', () => {
    const { s, step } = store(2);
    for (let i = 0; i < 3; i++) {
      s.retainCurrent();
      step();
    }
    expect(s.version).toBe(4);
    expect(s.retainedVersions()).toEqual([2, 3]);
    let refused: unknown;
    try {
      s.acquire(1);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(VersionUnavailableError);
    expect(refused).toMatchObject({ version: 1, current: 4, retained: [2, 3] });
    expect(Array.from(s.acquire(2).values)).toEqual([2, 2, 2]);
    expect(Array.from(s.acquire(3).values)).toEqual([3, 3, 3]);
    expect(() => s.acquire(5)).toThrow(VersionUnavailableError);
  });

  it('retains a version once however often asked, and none with a limit of 0', () => {
    const { s } = store(2);
    s.retainCurrent();
    s.retainCurrent();
    expect(s.retainedVersions()).toEqual([1]);
    const none = store(0);
    none.s.retainCurrent();
    expect(none.s.retainedVersions()).toEqual([]);
  });

  it('a retained copy does not follow the master', () => {
    const { s, step } = store();
    s.retainCurrent();
    step();
    expect(Array.from(s.acquire(1).values)).toEqual([1, 1, 1]);
    expect(Array.from(s.acquire(0).values)).toEqual([2, 2, 2]);
  });
});

describe('leases', () => {
  it('an update while a reader holds the current version writes a copy; the reader keeps the old values', () => {
    const { s, step } = store();
    const lease = s.acquire(0);
    expect(lease.version).toBe(1);
    step();
    expect(Array.from(lease.values)).toEqual([1, 1, 1]);
    expect(Array.from(s.values)).toEqual([2, 2, 2]);
    lease.release();
    lease.release();
    // No reader left: the next update writes in place.
    const master = s.values;
    step();
    expect(s.values).toBe(master);
    expect(s.acquire(0).version).toBe(3);
  });
});
