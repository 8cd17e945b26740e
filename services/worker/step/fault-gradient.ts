/**
 * TEST-ONLY fault injection, not a user setting (and not in docs/cli.md):
 * with FLEET_FAULT_GRADIENT in its environment a worker uploads garbage
 * instead of its gradients, as a failing GPU or a bad host does (silent data
 * corruption: finite, but wrong). The chaos suite and bench/garbage-worker.ts
 * use it to show the coordinator's contribution check refuses them.
 *
 *   scale:F      every value times F
 *   sign-flip    every value negated
 *   random       values drawn uniformly from [-1, 1]
 *   noise:F      a random direction (Gaussian), F times the gradients' own norm:
 *                noise that follows the run's scale, under any fixed bound
 *
 * Optionally `@R`: only from round R on (scale:100@8). Read once.
 */
export const FAULT_GRADIENT_ENV = 'FLEET_FAULT_GRADIENT';

type Fault = { kind: 'scale'; factor: number } | { kind: 'sign-flip' } | { kind: 'random' } | { kind: 'noise'; factor: number };

function parse(text: string | undefined): { fault: Fault; fromRound: number } | null {
  if (!text) return null;
  const [spec, from] = text.split('@') as [string, string | undefined];
  const fromRound = from === undefined ? 0 : Number(from);
  if (!Number.isInteger(fromRound) || fromRound < 0)
    throw new Error(`${FAULT_GRADIENT_ENV}=${text}: the round after @ must be a whole number`);
  if (spec === 'sign-flip') return { fault: { kind: 'sign-flip' }, fromRound };
  if (spec === 'random') return { fault: { kind: 'random' }, fromRound };
  const scale = /^scale:(.+)$/.exec(spec);
  if (scale && Number.isFinite(Number(scale[1]))) return { fault: { kind: 'scale', factor: Number(scale[1]) }, fromRound };
  const noise = /^noise:(.+)$/.exec(spec);
  if (noise && Number(noise[1]) > 0) return { fault: { kind: 'noise', factor: Number(noise[1]) }, fromRound };
  throw new Error(`${FAULT_GRADIENT_ENV}=${text}: expected scale:F, sign-flip, random or noise:F, optionally @R`);
}

const configured = parse(process.env[FAULT_GRADIENT_ENV]);

/** Whether a fault is configured (the worker logs it once). */
export function gradientFault(): string | null {
  return configured ? (process.env[FAULT_GRADIENT_ENV] ?? null) : null;
}

/** Corrupts `values` (a round's gradients, about to be uploaded) in place; false when no fault applies to `round`. */
export function faultGradient(values: Float32Array, round: number): boolean {
  if (!configured || round < configured.fromRound) return false;
  const { fault } = configured;
  if (fault.kind === 'scale') for (let i = 0; i < values.length; i++) values[i]! *= fault.factor;
  else if (fault.kind === 'sign-flip') for (let i = 0; i < values.length; i++) values[i] = -values[i]!;
  else if (fault.kind === 'random') for (let i = 0; i < values.length; i++) values[i] = Math.random() * 2 - 1;
  else gaussianLike(values, fault.factor);
  return true;
}

/** Replaces `values` by a Gaussian direction with `factor` times their norm. */
function gaussianLike(values: Float32Array, factor: number): void {
  let normSq = 0;
  for (let i = 0; i < values.length; i++) normSq += values[i]! * values[i]!;
  let noiseSq = 0;
  for (let i = 0; i < values.length; i++) {
    // Box-Muller; 1 - random() is in (0, 1], so the log is finite.
    const g = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
    values[i] = g;
    noiseSq += g * g;
  }
  const k = noiseSq > 0 ? (factor * Math.sqrt(normSq)) / Math.sqrt(noiseSq) : 0;
  for (let i = 0; i < values.length; i++) values[i]! *= k;
}
