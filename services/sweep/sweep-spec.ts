import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ConfigScalar } from '../../src/runtime/config/config-file.js';
import { ConfigError } from '../../src/runtime/config/config-error.js';
import { machineConfigSchema } from '../../src/runtime/config/machine-config.js';
import { runConfigFields } from '../../src/runtime/config/run-config.js';
import { FLAG_OF } from '../../src/runtime/config/train-config.js';
import { parseBoolean } from '../../src/runtime/config/value-parsers.js';
import { ABLATION_REFERENCE, PRUNING_RULES, SWEEP_METRICS, type SweepRecord } from '../../src/training/run-record/sweep-record.js';

/**
 * A sweep spec (YAML): a base configuration of `fleet train` keys, the
 * parameters to vary, optional named variants or an ablation, repeats,
 * pruning and scales (docs: examples/README.md). Everything is checked here,
 * before any trial runs; every error names the spec file and the key path
 * (`examples/x.yaml: base.lr: ...`) and is a ConfigError (exit 2).
 */

/** A refused spec: `file: path: message (got value)`. */
export class SweepSpecError extends ConfigError {
  constructor(
    readonly file: string,
    readonly path: string,
    reason: string,
    value?: unknown,
  ) {
    super([{ key: path, flag: path ? `${file}: ${path}` : file, message: reason, value }]);
    const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    this.message = `${path ? `${file}: ${path}` : file}: ${reason}${got}`;
  }
}

/** A spec whose `requires` says it cannot run yet: the sweep refuses with that text (exit 2). */
export class SpecRequiresError extends ConfigError {
  constructor(
    readonly file: string,
    readonly requires: string,
  ) {
    super([{ key: 'requires', flag: `${file}: requires`, message: requires, value: requires }]);
    this.message = `${file} cannot run yet: ${requires}`;
  }
}

export type TrainValues = Record<string, ConfigScalar>;

export type Parameter =
  | { kind: 'grid'; values: ConfigScalar[] }
  | { kind: 'choice'; values: ConfigScalar[] }
  | { kind: 'uniform' | 'log-uniform'; min: number; max: number };

export type Pruning = SweepRecord['pruning'];

/** A spec with its scale merged in and --set applied: what the sweep runs. */
export interface SweepSpec {
  file: string;
  name: string;
  description: string | null;
  metric: SweepRecord['metric'];
  scale: string | null;
  /** `fleet train` keys (canonical: mixupAlpha, not mixup) for every trial. */
  base: TrainValues;
  /** The varied keys in spec order. */
  parameters: Record<string, Parameter>;
  /** Named configurations (base + these keys), one trial configuration each; trials carry params.variant (VARIANT_PARAM). */
  variants: Record<string, TrainValues> | null;
  /** Techniques and the keys that remove each; trials carry params.without (ABLATION_PARAM; the reference: 'none'). */
  ablation: Record<string, TrainValues> | null;
  /** Draws of the distributions; null when every parameter is a grid. */
  samples: number | null;
  repeats: number;
  parallel: number;
  workersPerTrial: number;
  pruning: Pruning;
  /** Why the spec cannot run yet (a feature not built), or null. */
  requires: string | null;
  /** Keys fleet train does not know yet: allowed only in a spec that `requires` something. */
  pendingKeys: string[];
}

/** The keys fleet sweep sets for each trial itself, and what to use instead. */
const SWEEP_OWNED: Partial<Record<keyof typeof FLAG_OF, string>> = {
  runId: 'set by the sweep (each trial runs as <sweep id>-<trial id>)',
  outDir: 'set by the sweep (each trial runs in SWEEP_DIR/trials/<trial id>)',
  workers: 'set by the sweep: use workersPerTrial',
  progress: 'set by the sweep (trials log their progress to their run directory)',
};

/** Run keys fleet train derives (no flag sets them), and what to set instead. */
const DERIVED = new Map<string, string>([
  ['globalBatch', "derived by fleet train (the trial's batchSize x workersPerTrial): set batchSize"],
]);

/** The train config's field schemas: the values a spec gives are checked by the same rules as `fleet train`'s. */
const TRAIN_FIELDS: Record<string, z.ZodType> = { ...runConfigFields.shape, ...machineConfigSchema.shape };

/** Canonical key by every name a spec may use: the config key (mixupAlpha) and its flag in camelCase (mixup). */
const KEY_OF = new Map<string, string>();
for (const [key, flag] of Object.entries(FLAG_OF)) {
  KEY_OF.set(key, key);
  KEY_OF.set(
    flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
    key,
  );
}

const NAME = /^[A-Za-z0-9_-]{1,40}$/;
const LABEL = /^[A-Za-z0-9_.-]{1,40}$/;

const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a single value (text, number or boolean)' });
const values = z.record(z.string(), scalar);
const named = z.record(z.string().regex(LABEL, 'names are letters, digits, . _ or -, at most 40'), values);
const count = z.number().int().min(1);

const bound = z.number({ error: (issue) => (issue.input === undefined ? 'required' : undefined) });
const distribution = z.discriminatedUnion('distribution', [
  z.object({ distribution: z.literal('choice'), values: z.array(scalar).min(1) }).strict(),
  z.object({ distribution: z.literal('uniform'), min: bound, max: bound }).strict(),
  z.object({ distribution: z.literal('log-uniform'), min: bound.gt(0), max: bound.gt(0) }).strict(),
]);
const grid = z.array(scalar).min(1, 'a grid needs at least one value');

const pruningFields = z
  .object({
    rule: z.enum(PRUNING_RULES),
    gracePeriod: count,
    reductionFactor: z.number().int().min(2),
  })
  .strict()
  .partial();

/** What a scale may change: everything but the name, metric, scales and requires. */
const bodyFields = z
  .object({
    description: z.string().nullable(),
    base: values,
    // Each value is checked as a grid or a distribution below, for errors that say which.
    parameters: z.record(z.string(), z.unknown()),
    variants: named,
    ablation: named,
    samples: count,
    repeats: count,
    parallel: count,
    workersPerTrial: count,
    pruning: pruningFields,
  })
  .strict()
  .partial();

const specFields = bodyFields.extend({
  name: z
    .string({ error: (issue) => (issue.input === undefined ? "required: the sweep's name" : undefined) })
    .regex(NAME, 'letters, digits, - or _, at most 40 (it starts the sweep id and every trial run id)'),
  metric: z.enum(SWEEP_METRICS).optional(),
  scales: z.record(z.string().regex(LABEL, 'scale names are letters, digits, . _ or -'), bodyFields).optional(),
  requires: z.string().min(1).nullable().optional(),
});

type RawBody = z.infer<typeof bodyFields>;

/** A spec's body (top level or a scale) checked, keys canonical: what scales merge. */
interface Body {
  description?: string | null;
  base?: TrainValues;
  parameters?: Record<string, Parameter>;
  variants?: Record<string, TrainValues>;
  ablation?: Record<string, TrainValues>;
  samples?: number;
  repeats?: number;
  parallel?: number;
  workersPerTrial?: number;
  pruning?: Partial<Pruning>;
}

/** What checks need to say where a problem is, and whether unknown keys are tolerated. */
interface Context {
  file: string;
  requires: string | null;
  /** Unknown keys met in a spec that `requires` something. */
  pending: Set<string>;
}

export interface LoadOptions {
  /** `--scale NAME`: merges scales.NAME over the spec. */
  scale?: string | null;
  /** `--set key=value`, in order (see parseSetOverride). */
  set?: readonly string[];
}

/** Reads, validates and resolves a spec file (scale merged, --set applied). Throws SweepSpecError (exit 2). */
export async function loadSweepSpec(file: string, options: LoadOptions = {}): Promise<SweepSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SweepSpecError(file, '', `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseSweepSpec(text, file, options);
}

/** As loadSweepSpec, from the file's text (`file` names it in errors). */
export function parseSweepSpec(text: string, file: string, options: LoadOptions = {}): SweepSpec {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new SweepSpecError(file, '', `is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new SweepSpecError(file, '', 'must be a mapping (name:, base:, parameters: ...)');
  const raw = checked(specFields, doc, file, '');
  const ctx: Context = { file, requires: raw.requires ?? null, pending: new Set() };

  // Every scale is checked, not only the one asked for: a typo in `full` shows up in a quick run.
  const top = checkBody(raw, ctx, '');
  const scales = Object.fromEntries(Object.entries(raw.scales ?? {}).map(([name, s]) => [name, checkBody(s, ctx, `scales.${name}`)]));
  const scaleName = options.scale ?? null;
  let body = top;
  if (scaleName !== null) {
    const scale = scales[scaleName];
    if (!scale) {
      const known = Object.keys(scales);
      const has = known.length ? `the spec has ${known.join(', ')}` : 'the spec has none';
      throw new SweepSpecError(file, 'scales', `no scale ${JSON.stringify(scaleName)} (${has})`);
    }
    body = mergeBody(top, scale);
  }
  const base = { ...body.base };
  const parameters = { ...body.parameters };
  const variants = copyNamed(body.variants);
  const ablation = copyNamed(body.ablation);

  // --set wins over everything: the key is no longer varied, and no variant or ablation entry changes it.
  for (const assignment of options.set ?? []) {
    const { key, value } = parseSetOverride(assignment);
    const where = `--set ${assignment}`;
    const canonical = canonicalKey(key, { ...ctx, requires: null }, where);
    base[canonical] = checkValue(canonical, value, (reason) => new SweepSpecError(file, where, reason));
    delete parameters[canonical];
    for (const entry of [...Object.values(variants ?? {}), ...Object.values(ablation ?? {})]) delete entry[canonical];
  }

  const hasDistribution = Object.values(parameters).some((p) => p.kind !== 'grid');
  const samples = body.samples ?? null;
  if (hasDistribution && samples === null)
    throw new SweepSpecError(file, 'samples', 'required when a parameter is a distribution (how many draws)');
  if (!hasDistribution && samples !== null)
    throw new SweepSpecError(file, 'samples', 'only for distributions (every parameter here is a grid list)', samples);
  checkDisjoint(file, parameters, variants, ablation);

  return {
    file,
    name: raw.name,
    description: body.description ?? null,
    metric: raw.metric ?? 'testAccuracy',
    scale: scaleName,
    base,
    parameters,
    variants,
    ablation,
    samples: hasDistribution ? samples : null,
    repeats: body.repeats ?? 1,
    parallel: body.parallel ?? 1,
    workersPerTrial: body.workersPerTrial ?? 1,
    pruning: { rule: 'none', gracePeriod: 1, reductionFactor: 3, ...body.pruning },
    requires: ctx.requires,
    pendingKeys: [...ctx.pending].sort(),
  };
}

/** Throws SpecRequiresError when the spec says it cannot run yet. */
export function checkRunnable(spec: SweepSpec): void {
  if (spec.requires !== null) throw new SpecRequiresError(spec.file, spec.requires);
}

/** `key=value` of --set: the value read as a YAML scalar (0.05 a number, true a boolean, tiny a text). */
export function parseSetOverride(assignment: string): { key: string; value: ConfigScalar } {
  const eq = assignment.indexOf('=');
  if (eq <= 0)
    throw new ConfigError([{ key: '', flag: '--set', message: 'expected key=value (e.g. --set model=tiny)', value: assignment }]);
  const key = assignment.slice(0, eq).trim();
  const text = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch {
    value = text;
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') value = text;
  return { key, value: value as ConfigScalar };
}

function checkBody(raw: RawBody, ctx: Context, prefix: string): Body {
  const at = (p: string) => (prefix ? `${prefix}.${p}` : p);
  const { base, parameters, variants, ablation, ...rest } = raw;
  const body: Body = { ...rest };
  if (base) body.base = trainValues(base, ctx, at('base'));
  if (parameters) {
    body.parameters = {};
    for (const [key, value] of Object.entries(parameters)) {
      const where = at(`parameters.${key}`);
      const canonical = canonicalKey(key, ctx, where);
      if (canonical in body.parameters) throw new SweepSpecError(ctx.file, where, `varies ${canonical} again`);
      body.parameters[canonical] = parameter(value, canonical, ctx.file, where);
    }
  }
  if (variants) body.variants = namedValues(variants, ctx, at('variants'));
  if (ablation) {
    if (ABLATION_REFERENCE in ablation)
      throw new SweepSpecError(
        ctx.file,
        at(`ablation.${ABLATION_REFERENCE}`),
        `'${ABLATION_REFERENCE}' names the reference (nothing removed): name the technique`,
      );
    body.ablation = namedValues(ablation, ctx, at('ablation'));
  }
  return body;
}

/**
 * A scale over the spec: maps (base, parameters, pruning) merged key by key,
 * variants and ablation entries too (a scale's `frozen: { freezeEpochs: 1 }`
 * changes that key of the entry), the rest replaced.
 */
function mergeBody(spec: Body, scale: Body): Body {
  const merged: Body = { ...spec, ...scale };
  if (spec.base || scale.base) merged.base = { ...spec.base, ...scale.base };
  if (spec.parameters || scale.parameters) merged.parameters = { ...spec.parameters, ...scale.parameters };
  if (spec.variants || scale.variants) merged.variants = mergeNamed(spec.variants, scale.variants);
  if (spec.ablation || scale.ablation) merged.ablation = mergeNamed(spec.ablation, scale.ablation);
  if (spec.pruning || scale.pruning) merged.pruning = { ...spec.pruning, ...scale.pruning };
  return merged;
}

function mergeNamed(
  spec: Record<string, TrainValues> | undefined,
  scale: Record<string, TrainValues> | undefined,
): Record<string, TrainValues> {
  const merged = { ...spec };
  for (const [name, vals] of Object.entries(scale ?? {})) merged[name] = { ...merged[name], ...vals };
  return merged;
}

function copyNamed(groups: Record<string, TrainValues> | undefined): Record<string, TrainValues> | null {
  return groups ? Object.fromEntries(Object.entries(groups).map(([name, vals]) => [name, { ...vals }])) : null;
}

function namedValues(groups: Record<string, TrainValues>, ctx: Context, path: string): Record<string, TrainValues> {
  if (Object.keys(groups).length === 0) throw new SweepSpecError(ctx.file, path, 'needs at least one entry');
  return Object.fromEntries(Object.entries(groups).map(([name, vals]) => [name, trainValues(vals, ctx, `${path}.${name}`)]));
}

/** The keys made canonical, each value checked against its train config field. */
function trainValues(vals: TrainValues, ctx: Context, path: string): TrainValues {
  const out: TrainValues = {};
  for (const [key, value] of Object.entries(vals)) {
    const where = `${path}.${key}`;
    const canonical = canonicalKey(key, ctx, where);
    if (canonical in out) throw new SweepSpecError(ctx.file, where, `sets ${canonical} again`, value);
    out[canonical] = checkValue(canonical, value, (reason) => new SweepSpecError(ctx.file, where, reason, value));
  }
  return out;
}

/** The config key a spec key names; an unknown key is refused, unless the spec `requires` a feature (then it is pending). */
function canonicalKey(key: string, ctx: Context, where: string): string {
  const derived = DERIVED.get(key);
  if (derived) throw new SweepSpecError(ctx.file, where, derived);
  const canonical = KEY_OF.get(key);
  if (canonical) {
    const owned = SWEEP_OWNED[canonical as keyof typeof FLAG_OF];
    if (owned) throw new SweepSpecError(ctx.file, where, owned);
    return canonical;
  }
  if (ctx.requires === null) throw new SweepSpecError(ctx.file, where, unknownKeyMessage(key));
  ctx.pending.add(key);
  return key;
}

function unknownKeyMessage(key: string): string {
  return `${JSON.stringify(key)} is not a fleet train key (the keys are its flags in camelCase, e.g. batchSize, limitTrain, mixupAlpha)`;
}

/**
 * A value through its train config field, as `fleet train --config` would take
 * it: text is also read as the number or boolean the field wants ("0.1").
 * A pending key (no field yet) passes as it is.
 */
function checkValue(key: string, value: ConfigScalar, error: (reason: string) => Error): ConfigScalar {
  const field = TRAIN_FIELDS[key];
  if (!field) return value;
  const direct = field.safeParse(value);
  if (direct.success) return value;
  if (typeof value === 'string') {
    for (const coerced of coercions(value)) if (field.safeParse(coerced).success) return coerced;
  }
  throw error(direct.error.issues[0]?.message ?? 'invalid');
}

function coercions(text: string): ConfigScalar[] {
  const out: ConfigScalar[] = [];
  const n = Number(text);
  if (text.trim() !== '' && Number.isFinite(n)) out.push(n);
  try {
    out.push(parseBoolean(text));
  } catch {
    // not a boolean either
  }
  return out;
}

/** A parameter: a list is a grid; a mapping is a distribution (choice, uniform, log-uniform). Its values are checked for its key. */
function parameter(value: unknown, key: string, file: string, where: string): Parameter {
  const check = (v: ConfigScalar, at: string) => checkValue(key, v, (reason) => new SweepSpecError(file, at, reason, v));
  if (Array.isArray(value)) {
    const list = checked(grid, value, file, where);
    return { kind: 'grid', values: list.map((v, i) => check(v, `${where}[${i}]`)) };
  }
  if (value === null || typeof value !== 'object')
    throw new SweepSpecError(
      file,
      where,
      'expected a list of values (a grid) or a distribution ({ distribution: choice | uniform | log-uniform, ... })',
      value,
    );
  const d = checked(distribution, value, file, where);
  if (d.distribution === 'choice') return { kind: 'choice', values: d.values.map((v, i) => check(v, `${where}.values[${i}]`)) };
  if (!(d.min < d.max)) throw new SweepSpecError(file, `${where}.max`, `must be above min (${d.min})`, d.max);
  // The ends must be valid values of the key: every draw lies between them.
  check(d.min, `${where}.min`);
  check(d.max, `${where}.max`);
  return { kind: d.distribution, min: d.min, max: d.max };
}

/** A key varied two ways would make a trial's value depend on merge order: refused. */
function checkDisjoint(
  file: string,
  parameters: Record<string, Parameter>,
  variants: Record<string, TrainValues> | null,
  ablation: Record<string, TrainValues> | null,
): void {
  const groups: [string, Record<string, TrainValues> | null][] = [
    ['variants', variants],
    ['ablation', ablation],
  ];
  for (const [group, entries] of groups) {
    for (const [name, vals] of Object.entries(entries ?? {})) {
      for (const key of Object.keys(vals)) {
        if (key in parameters)
          throw new SweepSpecError(file, `${group}.${name}.${key}`, `${key} is also a parameter: vary it in one place`);
        if (group === 'ablation' && variants && Object.values(variants).some((v) => key in v))
          throw new SweepSpecError(file, `${group}.${name}.${key}`, `${key} is also set by variants: vary it in one place`);
      }
    }
  }
}

function checked<S extends z.ZodType>(schema: S, value: unknown, file: string, prefix: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = joinPath(prefix, issue.path);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    throw new SweepSpecError(file, joinPath(path, [key]), 'unknown key');
  }
  const input = issue.path.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined),
    value,
  );
  throw new SweepSpecError(file, path, issue.message, input);
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) out = typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part);
  return out;
}
