import { loadCifar10Split, NUM_CLASSES, type Cifar10Split } from '../../src/dataset/index.js';
import { selectBackend } from '../../src/compute/index.js';
import { loadModelFiles } from '../../src/model/index.js';
import { PRESET_SPECS } from '../../src/augment/index.js';
import { peakLearningRate, type BackendChoice } from '../../src/runtime/config/train-config.js';
import { FleetError } from '../../src/runtime/errors.js';
import type { Logger } from '../../src/runtime/logger.js';
import { learningRateAt } from '../../src/training/lr-schedule.js';
import type { MetricsLine, RunConfigRecord } from '../../src/training/run-record/index.js';
import { percent, weakestClasses } from '../../src/training/run-record/score-tables.js';
import { augmentedTiles, mixExamples, rawTile } from './augment-samples.js';
import { classAccuracySpec } from './charts/class-accuracy.js';
import { confusionHeatmapSpec } from './charts/confusion-heatmap.js';
import { epochCurvesSpec } from './charts/epoch-curves.js';
import { lrScheduleSpec, type LrPoint } from './charts/lr-schedule.js';
import { imageGridPng, type GridCell } from './image-grid.js';
import { renderChartPng } from './render-png.js';
import type { Block, ReportDocument } from './report-document.js';
import { exists, readRunFiles, type RunFiles } from './run-files.js';
import { predictTestSet, surestMistakes } from './test-predictions.js';

export interface RunReportOptions {
  runDir: string;
  /** CIFAR-10 files for the pictures of test and training images. */
  dataDir: string;
  backend: BackendChoice;
  threads: number | null;
}

/** How many classes get their mistakes shown, and how many mistakes each. */
const WEAK_CLASSES = 2;
const MISTAKES_PER_CLASS = 5;
const AUGMENTED_COPIES = 8;
const MIX_EXAMPLES = 4;
const CONFUSED_PAIRS = 5;

/** The parts of a run's report; a sweep's report takes some of them for its best trial. */
export type RunPart = 'curves' | 'lr' | 'scores' | 'mistakes' | 'augmentation' | 'mix';
const ALL_PARTS: readonly RunPart[] = ['curves', 'lr', 'scores', 'mistakes', 'augmentation', 'mix'];

export interface RunSectionOptions {
  parts?: readonly RunPart[];
  /** Before every PNG's name, so two runs' pictures can share a folder. */
  prefix?: string;
  /** Of the sections' headings (a sweep's report nests them one level down). */
  level?: 2 | 3;
}

/**
 * `fleet report RUN_DIR`: the run's curves and schedule, the best epoch's
 * test-set scores as pictures, the weakest classes' surest mistakes (the best
 * model scored again on the test images), and what its augmentation and
 * mixing did to training images. Pictures that need the data or best/ are
 * replaced by a sentence saying why when those are missing.
 */
export async function runReport(o: RunReportOptions, log: Logger): Promise<ReportDocument> {
  const run = await readRunFiles(o.runDir);
  const c = runConfigOf(run);
  const blocks: Block[] = [{ kind: 'paragraph', text: runSummary(run) }];
  if (c) blocks.push(configTable(c, run.config));
  blocks.push(...(await runSections(run, o, log)));
  return { title: `Run report: ${c?.runId ?? o.runDir}`, blocks };
}

function runConfigOf(run: RunFiles): RunConfigFields | null {
  return run.config?.config ?? run.bestMeta?.config ?? null;
}

/** The sections of a run's report, `parts` of them, in the report's order. */
export async function runSections(
  run: RunFiles,
  o: Omit<RunReportOptions, 'runDir'>,
  log: Logger,
  s: RunSectionOptions = {},
): Promise<Block[]> {
  const parts = new Set(s.parts ?? ALL_PARTS);
  const prefix = s.prefix ?? '';
  const level = s.level ?? 2;
  const { metrics, config } = run;
  const bestLine = pickBestLine(run);
  const classNames = config?.data.classNames ?? run.bestMeta?.classNames ?? defaultNames();
  const c = runConfigOf(run);
  const blocks: Block[] = [];
  const heading = (text: string) => blocks.push({ kind: 'heading', level, text });
  const chart = async (file: string, alt: string, spec: Parameters<typeof renderChartPng>[0]) => {
    blocks.push({ kind: 'image', file: `${prefix}${file}`, alt, png: await renderChartPng(spec) });
  };

  if (parts.has('curves')) {
    heading('Training curves');
    await chart(
      'loss.png',
      'Train and test loss per epoch',
      epochCurvesSpec({ title: 'Loss', yTitle: 'Cross-entropy loss', points: curve(metrics, 'trainLoss', 'testLoss') }),
    );
    await chart(
      'accuracy.png',
      'Train and test accuracy per epoch',
      epochCurvesSpec({
        title: 'Accuracy',
        yTitle: 'Accuracy (%)',
        points: curve(metrics, 'trainAccuracy', 'testAccuracy'),
        percent: true,
      }),
    );
    blocks.push({
      kind: 'paragraph',
      text:
        `Train values are averages over each epoch's training batches (augmented${c && (c.mixupAlpha > 0 || c.cutmixAlpha > 0) ? ' and mixed' : ''}, ` +
        'while the weights change); test values score the weights at the end of the epoch on the unaugmented test set.',
    });
  }

  if (parts.has('lr')) {
    heading('Learning rate');
    const lr = lrPoints(config, metrics);
    await chart('lr.png', 'Learning rate over training', lrScheduleSpec({ ...lr, ...(lr.subtitle ? { subtitle: lr.subtitle } : {}) }));
  }

  const scores = { classNames, perClassAccuracy: bestLine.perClassAccuracy, confusion: bestLine.confusion };
  const weak = weakestClasses(scores, WEAK_CLASSES);
  if (parts.has('scores')) {
    heading(`Test set at the best epoch (${bestLine.epoch})`);
    const sub = `epoch ${bestLine.epoch}, ${bestLine.confusion.flat().reduce((a, b) => a + b, 0)} test images, accuracy ${percent(bestLine.testAccuracy)}`;
    await chart(
      'confusion.png',
      'Confusion matrix: rows true class, columns predicted class',
      confusionHeatmapSpec({ ...scores, subtitle: sub }),
    );
    await chart(
      'class-accuracy.png',
      'Test accuracy of each class',
      classAccuracySpec({ ...scores, highlighted: weak.map((w) => w.name), overall: bestLine.testAccuracy, subtitle: sub }),
    );
    blocks.push({
      kind: 'paragraph',
      text: `**Weakest classes:** ${weak.map((w) => `${w.name} ${percent(w.accuracy)}`).join(', ') || '-'}.`,
    });
    const pairs = confusedPairs(classNames, bestLine.confusion, CONFUSED_PAIRS);
    blocks.push({ kind: 'paragraph', text: '**Most confused pairs** (true class taken for another):' });
    blocks.push(
      pairs.length > 0
        ? {
            kind: 'list',
            items: pairs.map(
              (p) =>
                `${p.trueClass} taken for ${p.predicted}: ${p.count} of ${p.total} ${p.trueClass} images (${percent(p.count / p.total)})`,
            ),
          }
        : { kind: 'paragraph', text: 'No test image was misclassified.' },
    );
  }

  if (parts.has('mistakes')) {
    const test = await loadData(
      () => loadCifar10Split({ dir: o.dataDir, split: 'test', allowPartial: false, limit: c?.limitTest ?? undefined }),
      log,
    );
    heading(`Mistakes of the ${WEAK_CLASSES} weakest classes`);
    blocks.push(...(await mistakesSection(run, test, weak, classNames, o, log, prefix)));
  }

  const mixing = c !== null && (c.mixupAlpha > 0 || c.cutmixAlpha > 0);
  if (parts.has('augmentation') || (parts.has('mix') && mixing)) {
    const train = await loadTrainImages(o.dataDir, c, log);
    if (parts.has('augmentation')) {
      heading('Augmentation');
      blocks.push(...augmentationSection(c, train, classNames, prefix));
    }
    if (parts.has('mix') && c && mixing) {
      heading(mixTitle(c));
      blocks.push(...mixSection(c, config, train, classNames, prefix));
    }
  }
  return blocks;
}

/** The training images a run read (its --limit-train of the files in `dataDir`), or why they could not be read. */
async function loadTrainImages(dataDir: string, c: RunConfigFields | null, log: Logger): Promise<Loaded<Cifar10Split>> {
  return loadData(() => loadCifar10Split({ dir: dataDir, split: 'train', allowPartial: true, limit: c?.limitTrain ?? undefined }), log);
}

/** The summary of a run: model, epochs, images, backend, the best and last test accuracy, its directory. */
export function runSummary(run: RunFiles): string {
  return summarySentence(run, pickBestLine(run), run.metrics[run.metrics.length - 1]!);
}

type RunConfigFields = RunConfigRecord['config'];

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function defaultNames(): string[] {
  return Array.from({ length: NUM_CLASSES }, (_, i) => `class ${i}`);
}

/** best/meta.json's epoch when its line is there, else the line with the highest test accuracy. */
function pickBestLine(run: RunFiles): MetricsLine {
  const byMeta = run.bestMeta ? run.metrics.find((l) => l.epoch === run.bestMeta!.epoch) : undefined;
  return byMeta ?? run.metrics.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a));
}

function summarySentence(run: RunFiles, best: MetricsLine, last: MetricsLine): string {
  const c = run.config?.config ?? run.bestMeta?.config;
  const planned = c ? ` of ${c.epochs}` : '';
  const parts = [
    c ? `**${c.model}**` : 'The run',
    `trained ${run.metrics.length} epoch${run.metrics.length === 1 ? '' : 's'}${planned}`,
    run.config
      ? `on ${run.config.data.train} training images (${run.config.backend} backend${c && c.workers > 1 ? `, ${c.workers} workers` : ''})`
      : '',
  ].filter((p) => p !== '');
  return (
    `${parts.join(' ')}. Best test accuracy **${percent(best.testAccuracy)}** at epoch ${best.epoch} ` +
    `(test loss ${best.testLoss.toFixed(4)}); at the last epoch (${last.epoch}) ${percent(last.testAccuracy)}. ` +
    `Run directory: \`${run.dir}\`.`
  );
}

function configTable(c: RunConfigFields, record: RunConfigRecord | null): Block {
  const rows: [string, string][] = [
    ['model', c.model],
    ['epochs', String(c.epochs)],
    ['batch size', `${c.batchSize}${c.workers > 1 ? ` per worker x ${c.workers} workers` : ''}`],
    [
      'learning rate',
      `${c.lr} (warm-up ${plural(c.warmupEpochs, 'epoch')}, cosine to ${c.minLr}${c.lrScaling === 'linear' ? ', scaled by workers' : ''})`,
    ],
    ['momentum, weight decay', `${c.momentum}, ${c.weightDecay}`],
    ['augmentation', c.augment],
    ['mixup alpha, cutmix alpha', `${c.mixupAlpha}, ${c.cutmixAlpha}`],
    ['label smoothing', String(c.labelSmoothing)],
    ['seed', String(c.seed)],
  ];
  if (record) rows.push(['images (train, test)', `${record.data.train}, ${record.data.test}`]);
  return { kind: 'table', header: ['setting', 'value'], rows };
}

function curve(metrics: readonly MetricsLine[], train: 'trainLoss' | 'trainAccuracy', test: 'testLoss' | 'testAccuracy') {
  return metrics.flatMap((l) => [
    { epoch: l.epoch, split: 'train', value: l[train] },
    { epoch: l.epoch, split: 'test', value: l[test] },
  ]);
}

/** The schedule per step from config.json's plan (at most ~1500 points), and each epoch's recorded rate. */
function lrPoints(
  record: RunConfigRecord | null,
  metrics: readonly MetricsLine[],
): { computed: LrPoint[]; recorded: LrPoint[]; subtitle?: string } {
  if (!record || record.plan.stepsPerEpoch === 0) {
    return { computed: [], recorded: metrics.map((l) => ({ epoch: l.epoch, lr: l.lr })) };
  }
  const { plan, config } = record;
  const schedule = { baseLr: peakLearningRate(config), minLr: config.minLr, warmupSteps: plan.warmupSteps, totalSteps: plan.totalSteps };
  const stride = Math.max(1, Math.ceil(plan.totalSteps / 1500));
  const steps = new Set<number>();
  for (let s = 0; s < plan.totalSteps; s += stride) steps.add(s);
  for (const s of [plan.warmupSteps - 1, plan.warmupSteps, plan.totalSteps - 1]) if (s >= 0 && s < plan.totalSteps) steps.add(s);
  // A step's rate drawn at the end of the step, so the last step of epoch e sits at x = e, where metrics.jsonl's rate belongs.
  const computed = [...steps].sort((a, b) => a - b).map((s) => ({ epoch: (s + 1) / plan.stepsPerEpoch, lr: learningRateAt(s, schedule) }));
  const recorded = metrics.map((l) => ({ epoch: l.step / plan.stepsPerEpoch, lr: l.lr }));
  const subtitle =
    `peak ${schedule.baseLr}, linear warm-up over ${plan.warmupSteps} steps, cosine to ${schedule.minLr} at step ${plan.totalSteps} ` +
    `(${plan.stepsPerEpoch} steps an epoch)`;
  return { computed, recorded, subtitle };
}

interface Pair {
  trueClass: string;
  predicted: string;
  count: number;
  total: number;
}

function confusedPairs(classNames: readonly string[], confusion: readonly (readonly number[])[], n: number): Pair[] {
  const pairs: Pair[] = [];
  confusion.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => {
      if (t !== p && count > 0) pairs.push({ trueClass: classNames[t] ?? String(t), predicted: classNames[p] ?? String(p), count, total });
    });
  });
  return pairs.sort((a, b) => b.count - a.count).slice(0, n);
}

type Loaded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Data for the pictures: a missing or broken data set leaves them out with its reason, not the whole report. */
async function loadData<T>(load: () => Promise<T>, log: Logger): Promise<Loaded<T>> {
  try {
    return { ok: true, value: await load() };
  } catch (err) {
    if (!(err instanceof FleetError)) throw err;
    const reason = err.message.split('\n')[0]!;
    log.warn({ reason }, 'report: pictures of images left out');
    return { ok: false, reason };
  }
}

async function mistakesSection(
  run: RunFiles,
  test: Loaded<Cifar10Split>,
  weak: readonly { name: string }[],
  classNames: readonly string[],
  o: Omit<RunReportOptions, 'runDir'>,
  log: Logger,
  prefix: string,
): Promise<Block[]> {
  if (!test.ok) return [{ kind: 'paragraph', text: `Left out: the test images could not be read (${test.reason}); pass --data-dir.` }];
  if (!run.bestMeta || !(await exists(run.bestDir)))
    return [{ kind: 'paragraph', text: `Left out: the run has no saved model (${run.bestDir}).` }];
  const meta = run.bestMeta;
  await selectBackend(o.backend, log, { threads: o.threads });
  const model = await loadModelFiles(run.bestDir);
  let predictions: Awaited<ReturnType<typeof predictTestSet>>;
  try {
    predictions = await predictTestSet(model, test.value, meta.input);
  } finally {
    model.dispose();
  }
  const labels = test.value.labels;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions.predicted[i] === labels[i]) correct++;
  const rows: GridCell[][] = [];
  const rowLabels: string[] = [];
  const list: string[] = [];
  for (const w of weak) {
    const cls = classNames.indexOf(w.name);
    const mistakes = surestMistakes(predictions, labels, cls, MISTAKES_PER_CLASS);
    if (mistakes.length === 0) continue;
    rowLabels.push(w.name);
    rows.push(
      mistakes.map((m) => ({
        image: rawTile(test.value.images, m.index),
        caption: [
          `true: ${classNames[m.trueClass]}`,
          `predicted: ${classNames[m.predicted]}`,
          `confidence ${(m.confidence * 100).toFixed(1)}%`,
        ],
      })),
    );
    list.push(
      `${w.name}: ${mistakes.map((m) => `test image ${m.index} taken for ${classNames[m.predicted]} (${(m.confidence * 100).toFixed(1)}%)`).join('; ')}`,
    );
  }
  const intro =
    `best/ (epoch ${meta.epoch}) scored again on the ${labels.length} test images: ${percent(correct / labels.length)} ` +
    `(meta.json: ${percent(meta.accuracy)}). For each of the ${weak.length} weakest classes, the ${MISTAKES_PER_CLASS} misclassified ` +
    'images the model was surest of, enlarged (nearest neighbour), with its answer and confidence (softmax probability).';
  if (rows.length === 0) return [{ kind: 'paragraph', text: `${intro} It misclassified none of them.` }];
  return [
    { kind: 'paragraph', text: intro },
    {
      kind: 'image',
      file: `${prefix}mistakes.png`,
      alt: 'Misclassified test images of the weakest classes',
      png: imageGridPng({ title: 'Surest mistakes of the weakest classes', rows, rowLabels }),
    },
    { kind: 'list', items: list },
  ];
}

function augmentationSection(
  c: RunConfigFields | null,
  train: Loaded<Cifar10Split>,
  classNames: readonly string[],
  prefix: string,
): Block[] {
  if (!c) return [{ kind: 'paragraph', text: 'Left out: the run has no config.json to take its augmentation from.' }];
  if (!train.ok)
    return [{ kind: 'paragraph', text: `Left out: the training images could not be read (${train.reason}); pass --data-dir.` }];
  const what = describePreset(c.augment);
  // The first image, and the first of another class.
  const labels = train.value.labels;
  const other = labels.findIndex((l) => l !== labels[0]);
  const indices = train.value.count === 0 ? [] : other > 0 ? [0, other] : [0];
  const rows = indices.map((index) => [
    { image: rawTile(train.value.images, index), caption: ['original', classNames[train.value.labels[index]!] ?? ''] },
    ...augmentedTiles(train.value, index, c, AUGMENTED_COPIES).map((tile, e) => ({ image: tile, caption: [`epoch ${e + 1}`] })),
  ]);
  return [
    {
      kind: 'paragraph',
      text:
        `Augmentation \`${c.augment}\`: ${what}. Each row: a training image, then as the run augments it in epochs 1 to ${AUGMENTED_COPIES} ` +
        "(the draw is keyed by the run's seed, the epoch and the image, so for the epochs the run trained these are its exact inputs, " +
        'before any Mixup or CutMix).',
    },
    {
      kind: 'image',
      file: `${prefix}augmentation.png`,
      alt: `Training images augmented ${AUGMENTED_COPIES} times`,
      png: imageGridPng({ title: `Augmentation "${c.augment}", epochs 1-${AUGMENTED_COPIES}`, rows, factor: 3 }),
    },
  ];
}

/** A preset's steps in words, from its spec. */
function describePreset(preset: RunConfigFields['augment']): string {
  const s = PRESET_SPECS[preset];
  const steps = [
    s.crop ? 'random crop of 32 with padding 4' : '',
    s.flip ? 'horizontal flip' : '',
    s.brightness > 0 ? `brightness jitter ${s.brightness}` : '',
    s.contrast > 0 ? `contrast jitter ${s.contrast}` : '',
  ].filter((x) => x);
  return steps.length === 0 ? 'images are only normalised, so every epoch sees the same pixels' : steps.join(', ');
}

/** A mixing weight: 2 decimals, 3 near 0 and 1 (Beta(0.2, 0.2) draws there often) so no weight reads as 0.00. */
function weight(w: number): string {
  return w < 0.01 || w > 0.99 ? w.toFixed(3) : w.toFixed(2);
}

function mixTitle(c: RunConfigFields): string {
  return [c.mixupAlpha > 0 ? 'Mixup' : '', c.cutmixAlpha > 0 ? 'CutMix' : ''].filter((s) => s).join(' and ');
}

function mixSection(
  c: RunConfigFields,
  record: RunConfigRecord | null,
  train: Loaded<Cifar10Split>,
  classNames: readonly string[],
  prefix: string,
): Block[] {
  if (!train.ok)
    return [{ kind: 'paragraph', text: `Left out: the training images could not be read (${train.reason}); pass --data-dir.` }];
  const examples = mixExamples(train.value, c, MIX_EXAMPLES, record?.plan.stepsPerEpoch);
  if (examples.length === 0) return [{ kind: 'paragraph', text: 'No mixed pair of two different classes was found in the first steps.' }];
  const name = (label: number) => classNames[label] ?? String(label);
  const rows = examples.map((e) => [
    { image: e.a.tile, caption: [`A: ${name(e.a.label)}`] },
    { image: e.b.tile, caption: [`B: ${name(e.b.label)}`] },
    {
      image: e.mixed,
      caption: [
        `${e.mode === 'mixup' ? 'Mixup' : 'CutMix'} λ = ${weight(e.lam)}`,
        `${weight(e.lam)} ${name(e.a.label)} + ${weight(1 - e.lam)} ${name(e.b.label)}`,
      ],
    },
  ]);
  const alphas = [c.mixupAlpha > 0 ? `Mixup alpha ${c.mixupAlpha}` : '', c.cutmixAlpha > 0 ? `CutMix alpha ${c.cutmixAlpha}` : ''].filter(
    (s) => s,
  );
  return [
    {
      kind: 'paragraph',
      text:
        `${alphas.join(', ')}: lambda ~ Beta(alpha, alpha); the target is lambda x A's label + (1 - lambda) x B's` +
        `${c.labelSmoothing > 0 ? ` (each smoothed by ${c.labelSmoothing})` : ''}.` +
        `${c.mixupAlpha > 0 ? ' Mixup blends the pixels.' : ''}${c.cutmixAlpha > 0 ? ' CutMix pastes a box of B into A; lambda is the part of A left.' : ''}` +
        `${c.mixupAlpha > 0 && c.cutmixAlpha > 0 ? ' Each batch uses one of the two, at even odds.' : ''}` +
        " The examples are from the first steps of epoch 1 as a one-process run draws them (the run's seed, one example a step).",
    },
    {
      kind: 'image',
      file: `${prefix}mix.png`,
      alt: `${examples.length} mixed training examples with their lambda`,
      png: imageGridPng({ title: `${mixTitle(c)} training examples`, rows }),
    },
    {
      kind: 'list',
      items: examples.map(
        (e) => `epoch ${e.epoch} step ${e.step}: ${e.mode}, lambda ${e.lam.toFixed(3)}: ${name(e.a.label)} with ${name(e.b.label)}`,
      ),
    },
  ];
}
