/**
 * The figures a benchmark reports, in one shape, so `npm run bench` can write
 * them to docs/benchmarks.json and render docs/benchmarks.md from that file.
 * A benchmark calls recordFigure() for each figure it prints; run-all takes
 * them with takeFigures() after each benchmark. Run alone, a benchmark still
 * prints its figures and nothing is written.
 */
import { fleetEnvPrefix } from './bench-machine.js';
import { meanStd } from './kernel-conv-shapes.js';

/** A reference figure measured in the same run, and this figure's ratio to it. */
export interface FigureReference {
  /** What the reference is, e.g. "two independent one-process trainings". */
  name: string;
  mean: number;
  /** This figure's mean divided by the reference's mean. */
  ratio: number;
}

/** A target the issue or the docs set for a figure: met or missed is shown beside it. */
export interface FigureGoal {
  /** What is compared against the goal: the figure's mean, or its ratio to the reference. */
  of: 'mean' | 'ratio';
  op: '>=' | '<=';
  value: number;
}

export interface Figure {
  /** The benchmark's name as FLEET_BENCH_ONLY takes it. */
  bench: string;
  /** What was measured, in a few words: "2 workers, defaults: images/s". */
  name: string;
  /** "images/s", "ratio", "ms", "MB/s", "bytes", "GFLOP/s", "%". */
  unit: string;
  n: number;
  mean: number;
  /** Sample standard deviation; 0 when n = 1. */
  std: number;
  samples?: number[];
  reference?: FigureReference;
  goal?: FigureGoal;
  /** What limits the figure, briefly: the measured share that bounds it. */
  limits?: string;
  /** The command that measures only this benchmark. */
  command: string;
}

const recorded: Figure[] = [];

/** Builds a figure from samples: n, mean and sample std computed here. */
export function figureOf(
  fields: Omit<Figure, 'n' | 'mean' | 'std' | 'samples' | 'reference'> & {
    reference?: { name: string; mean: number };
  },
  samples: number[],
): Figure {
  if (samples.length === 0) throw new Error(`figure '${fields.bench}: ${fields.name}' has no samples`);
  const { mean, std } = meanStd(samples);
  const { reference, ...rest } = fields;
  const figure: Figure = { ...rest, n: samples.length, mean, std, samples };
  if (reference) figure.reference = { ...reference, ratio: reference.mean === 0 ? Number.NaN : mean / reference.mean };
  return figure;
}

/** Records a figure for run-all. Returns it, so a benchmark can print it too. */
export function recordFigure(figure: Figure): Figure {
  recorded.push(figure);
  return figure;
}

/** The figures recorded since the last call, in order. */
export function takeFigures(): Figure[] {
  return recorded.splice(0, recorded.length);
}

/** The command that runs only `bench` with this run's FLEET_* knobs: every figure's `command`. */
export function benchCommand(bench: string): string {
  return `${fleetEnvPrefix(['FLEET_BENCH_ONLY'])}FLEET_BENCH_ONLY=${bench} npm run bench`;
}
