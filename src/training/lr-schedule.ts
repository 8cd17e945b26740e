/** Linear warm-up from near zero, then cosine annealing to minLr at the last step. */
export interface LrSchedule {
  baseLr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate for 0-based `step` (the step about to be taken). */
export function learningRateAt(step: number, s: LrSchedule): number {
  if (step < s.warmupSteps) return (s.baseLr * (step + 1)) / s.warmupSteps;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / decaySteps);
  return s.minLr + 0.5 * (s.baseLr - s.minLr) * (1 + Math.cos(Math.PI * progress));
}
