import { stringify } from 'yaml';
import { mulberry32 } from '../../src/runtime/seeded-random.js';
import type { ConfigScalar } from '../../src/runtime/config/config-file.js';
import { runConfigFields } from '../../src/runtime/config/run-config.js';
import { ABLATION_PARAM, ABLATION_REFERENCE, VARIANT_PARAM } from '../../src/training/run-record/sweep-record.js';
import { SweepSpecError, type Parameter, type SweepSpec, type TrainValues } from './sweep-spec.js';

/** One trial as the expansion plans it (the driver adds status and results to make a TrialRecord). */
export interface PlannedTrial {
  /** t000, t001... in expansion order. */
  id: string;
  /** The varied keys only, in varied-key order. */
  params: Record<string, ConfigScalar>;
  seed: number;
  repeat: number;
  /** The params serialized: equal for every repeat of one configuration. */
  configKey: string;
  /** The trial's full `fleet train` config: base, its variant or ablation entry, its params, its seed. */
  config: TrainValues;
}

/** fleet train's default seed, when the spec's base has none. */
const DEFAULT_SEED = 1;

/** The varied keys, in the order params and tables show them: variant, without, then the parameters in spec order. */
export function variedKeys(spec: SweepSpec): string[] {
  return [...(spec.variants ? [VARIANT_PARAM] : []), ...(spec.ablation ? [ABLATION_PARAM] : []), ...Object.keys(spec.parameters)];
}

/**
 * The spec's trials, a pure function of the spec (a resumed sweep expands to
 * the same list). Configurations: for each of `samples` draws of the
 * distributions (one draw when there are none), every combination of the
 * grid lists, variants and ablation entries (the first key slowest). Trials:
 * repeat 0 of every configuration, then repeat 1..., so the first trials cover
 * the space; repeat r runs with seed = base seed (or a varied seed) + r. Draws come from a PRNG
 * seeded by the spec's name and base seed, in draw order then parameter order.
 */
export function expandTrials(spec: SweepSpec): PlannedTrial[] {
  const baseSeed = typeof spec.base.seed === 'number' ? spec.base.seed : DEFAULT_SEED;
  const dimensions: [string, ConfigScalar[]][] = [];
  if (spec.variants) dimensions.push([VARIANT_PARAM, Object.keys(spec.variants)]);
  if (spec.ablation) dimensions.push([ABLATION_PARAM, [ABLATION_REFERENCE, ...Object.keys(spec.ablation)]]);
  const random: [string, Exclude<Parameter, { kind: 'grid' }>][] = [];
  for (const [key, p] of Object.entries(spec.parameters)) {
    if (p.kind === 'grid') dimensions.push([key, p.values]);
    else random.push([key, p]);
  }
  const next = mulberry32(hashText(`${spec.name}:${baseSeed}`));
  const order = variedKeys(spec);
  const configurations: Record<string, ConfigScalar>[] = [];
  for (let s = 0; s < (spec.samples ?? 1); s++) {
    const drawn = Object.fromEntries(random.map(([key, p]) => [key, draw(p, key, next)]));
    for (const combination of cross(dimensions)) {
      const merged = { ...combination, ...drawn };
      configurations.push(Object.fromEntries(order.map((k) => [k, merged[k]!])));
    }
  }
  const total = configurations.length * spec.repeats;
  const width = Math.max(3, String(total - 1).length);
  const trials: PlannedTrial[] = [];
  for (let repeat = 0; repeat < spec.repeats; repeat++) {
    for (const params of configurations) {
      const id = `t${String(trials.length).padStart(width, '0')}`;
      // A varied seed is the configuration's seed; its repeats count up from it.
      const seed = (typeof params.seed === 'number' ? params.seed : baseSeed) + repeat;
      const config = trialConfig(spec, params, seed);
      checkCrossRules(spec, id, params, config);
      trials.push({ id, params, seed, repeat, configKey: configKeyOf(params), config });
    }
  }
  return trials;
}

/** The params serialized in varied-key order: the key of a configuration across its repeats. */
export function configKeyOf(params: Record<string, ConfigScalar>): string {
  return JSON.stringify(params);
}

/** A trial's full `fleet train` config: base, then its variant's and ablation entry's keys, then its parameters, then its seed. */
export function trialConfig(spec: SweepSpec, params: Record<string, ConfigScalar>, seed: number): TrainValues {
  const config: TrainValues = { ...spec.base };
  const variant = params[VARIANT_PARAM];
  if (spec.variants && typeof variant === 'string') Object.assign(config, spec.variants[variant]);
  const without = params[ABLATION_PARAM];
  if (spec.ablation && typeof without === 'string' && without !== ABLATION_REFERENCE) Object.assign(config, spec.ablation[without]);
  for (const [key, value] of Object.entries(params)) {
    if ((key === VARIANT_PARAM && spec.variants) || (key === ABLATION_PARAM && spec.ablation)) continue;
    config[key] = value;
  }
  config.seed = seed;
  return config;
}

/** A `fleet train --config` file: `# ` comment lines, then one key per line. */
export function configYaml(config: TrainValues, comments: readonly string[] = []): string {
  const header = comments.flatMap((c) => c.split('\n')).map((c) => `# ${c}`.trimEnd());
  return `${[...header, ''].join('\n')}${stringify(config)}`.replace(/^\n/, '');
}

/** Each combination of the dimensions' values, the first dimension slowest; one empty combination when there are none. */
function cross(dimensions: [string, ConfigScalar[]][]): Record<string, ConfigScalar>[] {
  let out: Record<string, ConfigScalar>[] = [{}];
  for (const [key, values] of dimensions) out = out.flatMap((partial) => values.map((v) => ({ ...partial, [key]: v })));
  return out;
}

/** 4 significant digits (configs stay readable: lr 0.04373), kept inside [min, max]; an integer key draws integers. */
function draw(p: Exclude<Parameter, { kind: 'grid' }>, key: string, next: () => number): ConfigScalar {
  const u = next();
  if (p.kind === 'choice') return p.values[Math.min(p.values.length - 1, Math.floor(u * p.values.length))]!;
  const raw = p.kind === 'uniform' ? p.min + u * (p.max - p.min) : Math.exp(Math.log(p.min) + u * (Math.log(p.max) - Math.log(p.min)));
  const value = Math.min(p.max, Math.max(p.min, Number(raw.toPrecision(4))));
  return isIntegerKey(key) ? Math.min(Math.floor(p.max), Math.max(Math.ceil(p.min), Math.round(value))) : value;
}

function isIntegerKey(key: string): boolean {
  const field = (runConfigFields.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>)[key];
  return field?.safeParse(1).success === true && !field.safeParse(1.5).success;
}

/** fleet train's rule across keys (checkRunRules: minLr <= lr), checked per trial where the spec sets both. */
function checkCrossRules(spec: SweepSpec, id: string, params: Record<string, ConfigScalar>, config: TrainValues): void {
  const { lr, minLr } = config;
  if (typeof lr === 'number' && typeof minLr === 'number' && minLr > lr) {
    throw new SweepSpecError(spec.file, `trial ${id} ${configKeyOf(params)}`, `minLr ${minLr} must not exceed lr ${lr}`);
  }
}

/** FNV-1a: a stable 32-bit seed from text. */
function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
