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
 *
 * Optionally `@R`: only from round R on (scale:100@8). Read once.
 */
export const FAULT_GRADIENT_ENV = 'FLEET_FAULT_GRADIENT';

type Fault = { kind: 'scale'; factor: number } | { kind: 'sign-flip' } | { kind: 'random' };

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
  throw new Error(`${FAULT_GRADIENT_ENV}=${text}: expected scale:F, sign-flip or random, optionally @R`);
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
  else for (let i = 0; i < values.length; i++) values[i] = Math.random() * 2 - 1;
  return true;
}
