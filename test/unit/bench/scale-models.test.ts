/**
 * The network models of docs/scaling.md (bench/scale-models.ts), with the
 * figures the page quotes for the cnn (13,007,144 bytes) and resnet18
 * (44,734,248 bytes) tensor sets.
 */
import { describe, expect, it } from 'vitest';
import { ringRoundSeconds, starRoundBytes, starRoundSeconds, starWorkersWithinStep } from '../../../bench/scale-models.js';

const CNN = 13_007_144;
const RESNET18 = 44_734_248;
const GBIT = 1e9;

describe('star and ring models', () => {
  it('star: 2 x workers x bytes through the coordinator link', () => {
    expect(starRoundBytes(8, CNN)).toBe(16 * CNN);
    // One resnet18 worker at 1 Gbit: 0.716 s; 32 at 10 Gbit: 2.29 s.
    expect(starRoundSeconds(1, RESNET18, GBIT)).toBeCloseTo(0.7157, 3);
    expect(starRoundSeconds(32, RESNET18, 10 * GBIT)).toBeCloseTo(2.2904, 3);
    expect(starRoundSeconds(1, CNN, 10 * GBIT)).toBeCloseTo(0.02081, 4);
  });

  it('ring: 2 x (W-1)/W x bytes per worker link, nothing for one worker, under 2 x bytes whatever W', () => {
    expect(ringRoundSeconds(1, RESNET18, GBIT)).toBe(0);
    expect(ringRoundSeconds(2, RESNET18, GBIT)).toBeCloseTo(starRoundSeconds(1, RESNET18, GBIT) / 2, 6);
    for (const w of [4, 16, 32, 1024]) expect(ringRoundSeconds(w, CNN, GBIT)).toBeLessThan(starRoundSeconds(1, CNN, GBIT));
    // The star's round grows with W, the ring's does not: W^2 / (W-1) times apart.
    expect(starRoundSeconds(32, CNN, GBIT) / ringRoundSeconds(32, CNN, GBIT)).toBeCloseTo(32 ** 2 / 31, 6);
  });

  it('workers whose star exchange fits in a step', () => {
    // fleet's own oneDNN cnn step on one core (0.752 s at batch 128): 3 workers at 1 Gbit, 36 at 10 Gbit.
    expect(starWorkersWithinStep(0.752, CNN, GBIT)).toBe(3);
    expect(starWorkersWithinStep(0.752, CNN, 10 * GBIT)).toBe(36);
    // A 28 ms GPU step of resnet18: not one worker at 10 Gbit, 3 at 100 Gbit.
    expect(starWorkersWithinStep(0.028, RESNET18, 10 * GBIT)).toBe(0);
    expect(starWorkersWithinStep(0.028, RESNET18, 100 * GBIT)).toBe(3);
  });
});
