/**
 * A test-set score as a person reads it, shared by `fleet eval` (a model
 * scored now) and `fleet show` (an epoch's line of metrics.jsonl): class
 * names on every row, accuracies as percentages.
 */
export interface ClassScores {
  classNames: readonly string[];
  /** Fractions in label order; null or NaN for a class without test images. */
  perClassAccuracy: readonly (number | null)[];
  /** confusion[trueClass][predictedClass] = count. */
  confusion: readonly (readonly number[])[];
}

export interface WeakClass {
  name: string;
  accuracy: number;
}

export interface ConfusedPair {
  trueClass: string;
  predicted: string;
  count: number;
}

const known = (v: number | null | undefined): v is number => v !== null && v !== undefined && !Number.isNaN(v);

/** `61.30%` */
export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(2)}%`;
}

/** The per-class accuracy table, then the confusion matrix, rows and columns named. */
export function classTables(s: ClassScores): string[] {
  const width = Math.max(...s.classNames.map((n) => n.length), 5);
  const name = (c: number) => (s.classNames[c] ?? String(c)).padEnd(width);
  const cell = (text: string) => text.padStart(6);
  const pct = (v: number | null | undefined) => (known(v) ? (v * 100).toFixed(2).padStart(6) : '   -  ');
  return [
    `${'class'.padEnd(width)}  accuracy %`,
    ...s.classNames.map((_, c) => `${name(c)}  ${pct(s.perClassAccuracy[c])}`),
    '',
    'confusion (rows: true class, columns: predicted)',
    `${''.padEnd(width)}  ${s.classNames.map((n) => cell(n.slice(0, 5))).join('')}`,
    ...s.confusion.map((row, c) => `${name(c)}  ${row.map((n) => cell(String(n))).join('')}`),
  ];
}

/** The `n` classes with the lowest accuracy, lowest first; classes without test images left out. */
export function weakestClasses(s: ClassScores, n = 3): WeakClass[] {
  return s.classNames
    .map((name, c) => ({ name, accuracy: s.perClassAccuracy[c] }))
    .filter((w): w is WeakClass => known(w.accuracy))
    .sort((a, b) => a.accuracy - b.accuracy)
    .slice(0, n);
}

/** The largest off-diagonal count: the true class most often taken for another. Null when nothing was confused. */
export function mostConfusedPair(s: ClassScores): ConfusedPair | null {
  let best: ConfusedPair | null = null;
  for (const [t, row] of s.confusion.entries()) {
    for (const [p, count] of row.entries()) {
      if (t !== p && count > 0 && (best === null || count > best.count)) {
        best = { trueClass: s.classNames[t] ?? String(t), predicted: s.classNames[p] ?? String(p), count };
      }
    }
  }
  return best;
}

/** Two lines: the weakest classes and the most confused pair. */
export function scoreSummary(s: ClassScores): string[] {
  const weak = weakestClasses(s);
  const pair = mostConfusedPair(s);
  return [
    `weakest: ${weak.length > 0 ? weak.map((w) => `${w.name} ${percent(w.accuracy)}`).join(', ') : '-'}`,
    `most confused: ${pair ? `${pair.trueClass} taken for ${pair.predicted} (${pair.count} images)` : 'none'}`,
  ];
}

/**
 * The fields an epoch's result log line adds for a person reading it: the
 * accuracy as a percentage, the weakest classes, the most confused pair.
 */
export function readableScore(s: ClassScores & { accuracy: number }): { accuracyPercent: string; weakest: string; mostConfused: string } {
  const [weakest, mostConfused] = scoreSummary(s).map((line) => line.slice(line.indexOf(': ') + 2));
  return { accuracyPercent: percent(s.accuracy), weakest: weakest ?? '-', mostConfused: mostConfused ?? 'none' };
}
