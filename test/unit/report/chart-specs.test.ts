import { describe, expect, it } from 'vitest';
import { compile } from 'vega-lite';
import { classAccuracySpec, HIGHLIGHTED, OTHER } from '../../../services/report/charts/class-accuracy.js';
import type { ChartSpec } from '../../../services/report/charts/chart-style.js';
import { CHART_FONT } from '../../../services/report/charts/chart-style.js';
import { confusionHeatmapSpec } from '../../../services/report/charts/confusion-heatmap.js';
import { contributionBarsSpec } from '../../../services/report/charts/contribution-bars.js';
import { epochCurvesSpec } from '../../../services/report/charts/epoch-curves.js';
import { LR_COMPUTED, LR_RECORDED, lrScheduleSpec } from '../../../services/report/charts/lr-schedule.js';
import { paramEffectSpec, TRIAL_POINTS, VALUE_MEAN } from '../../../services/report/charts/param-effect.js';
import { trialCurvesSpec } from '../../../services/report/charts/trial-curves.js';

type Channel = { field?: string; title?: string; legend?: unknown; type?: string; scale?: { domain?: unknown[] } };
type Json = Record<string, unknown>;

/** Every encoding channel of a spec and its layers, by channel name (x, y, color...). */
function channels(spec: unknown): Record<string, Channel[]> {
  const found: Record<string, Channel[]> = {};
  const visit = (s: Json) => {
    for (const [name, ch] of Object.entries((s.encoding as Json | undefined) ?? {})) {
      if (ch && typeof ch === 'object' && !Array.isArray(ch)) found[name] = [...(found[name] ?? []), ch as Channel];
    }
    for (const layer of (s.layer as Json[] | undefined) ?? []) visit(layer);
  };
  visit(spec as Json);
  return found;
}

/** Rows of every inline data set of a spec and its layers. */
function rows(spec: unknown): Json[] {
  const all: Json[] = [];
  const visit = (s: Json) => {
    all.push(...((((s.data as Json | undefined)?.values as Json[] | undefined) ?? []) as Json[]));
    for (const layer of (s.layer as Json[] | undefined) ?? []) visit(layer);
  };
  visit(spec as Json);
  return all;
}

/** The title an axis shows: the first titled channel of that name. */
function axisTitle(spec: ChartSpec, channel: 'x' | 'y'): string | undefined {
  return channels(spec)[channel]?.find((c) => c.title !== undefined)?.title;
}

/** A legend is shown for a channel that has a field and a title, and whose legend is not switched off. */
function legends(spec: ChartSpec): { channel: string; field: string; title: string }[] {
  return Object.entries(channels(spec))
    .filter(([name]) => ['color', 'strokeDash', 'shape', 'size', 'opacity'].includes(name))
    .flatMap(([name, list]) =>
      list.filter((c) => c.field && c.title && c.legend !== null).map((c) => ({ channel: name, field: c.field!, title: c.title! })),
    );
}

function expectCompiles(spec: ChartSpec) {
  // vega-lite throws on specs it cannot compile, and warns on the ones it half-understands.
  const warnings: unknown[] = [];
  const logger = {
    level: () => logger,
    error: (...a: unknown[]) => warnings.push(a),
    warn: (...a: unknown[]) => warnings.push(a),
    info: () => logger,
    debug: () => logger,
  };
  compile(spec, { logger: logger as never });
  expect(warnings).toEqual([]);
  expect((spec.config as Json | undefined)?.font).toBe(CHART_FONT);
  expect(spec.title).toBeTruthy();
}

const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

describe('chart spec builders', () => {
  it('loss/accuracy curves: Epoch and the quantity on the axes, a legend of the splits, a row per epoch and split', () => {
    const points = [1, 2, 3].flatMap((epoch) => [
      { epoch, split: 'train', value: 0.5 + epoch / 10 },
      { epoch, split: 'test', value: 0.4 + epoch / 10 },
    ]);
    const spec = epochCurvesSpec({ title: 'Accuracy', yTitle: 'Accuracy (%)', points, percent: true });
    expectCompiles(spec);
    expect(axisTitle(spec, 'x')).toBe('Epoch');
    expect(axisTitle(spec, 'y')).toBe('Accuracy (%)');
    expect(legends(spec)).toEqual([{ channel: 'color', field: 'split', title: 'Split' }]);
    const data = rows(spec);
    expect(data).toHaveLength(6);
    expect(data[0]).toMatchObject({ epoch: 1, split: 'train' });
    expect(data[0]!.value).toBeCloseTo(60, 10);
    expect(new Set(data.map((r) => r.split))).toEqual(new Set(['train', 'test']));
  });

  it('lr schedule: the per-step line and the recorded points, both named in one legend', () => {
    const spec = lrScheduleSpec({
      computed: [
        { epoch: 0.5, lr: 0.05 },
        { epoch: 1, lr: 0.1 },
        { epoch: 2, lr: 0 },
      ],
      recorded: [
        { epoch: 1, lr: 0.1 },
        { epoch: 2, lr: 0 },
      ],
      subtitle: 'peak 0.1',
    });
    expectCompiles(spec);
    expect(axisTitle(spec, 'x')).toBe('Epoch');
    expect(axisTitle(spec, 'y')).toBe('Learning rate');
    const color = legends(spec).filter((l) => l.channel === 'color');
    expect(color.map((l) => l.field)).toEqual(['source', 'source']);
    expect(channels(spec).color![0]!.scale!.domain).toEqual([LR_COMPUTED, LR_RECORDED]);
    expect(rows(spec).filter((r) => r.source === LR_RECORDED)).toHaveLength(2);
  });

  it('confusion heatmap: predicted and true class axes in label order, a count legend, a cell with its count for each pair', () => {
    const confusion = names.map((_, t) => names.map((__, p) => (t === p ? 80 : t + p)));
    const spec = confusionHeatmapSpec({ classNames: names, confusion });
    expectCompiles(spec);
    expect(axisTitle(spec, 'x')).toBe('Predicted class');
    expect(axisTitle(spec, 'y')).toBe('True class');
    const enc = channels(spec);
    expect((enc.x![0] as { sort?: unknown }).sort).toEqual(names);
    expect(legends(spec)).toContainEqual({ channel: 'color', field: 'count', title: 'Images' });
    expect(enc.text![0]!.field).toBe('count');
    const data = rows(spec);
    expect(data).toHaveLength(100);
    expect(data).toContainEqual({ true: 'cat', predicted: 'dog', count: 8 });
  });

  it('per-class accuracy: class and accuracy axes, the weakest classes told apart in a legend, the overall rule', () => {
    const spec = classAccuracySpec({
      classNames: names,
      perClassAccuracy: names.map((_, i) => (i === 4 ? null : i / 10)),
      highlighted: ['airplane', 'automobile'],
      overall: 0.5,
    });
    expectCompiles(spec);
    expect(axisTitle(spec, 'x')).toBe('Class');
    expect(axisTitle(spec, 'y')).toBe('Accuracy (%)');
    expect(legends(spec)).toContainEqual({ channel: 'color', field: 'group', title: 'Classes' });
    const bars = rows(spec).filter((r) => 'class' in r);
    expect(bars).toHaveLength(9); // deer has no test images: no bar
    expect(bars.find((r) => r.class === 'airplane')).toEqual({ class: 'airplane', accuracy: 0, group: HIGHLIGHTED });
    expect(bars.find((r) => r.class === 'cat')?.group).toBe(OTHER);
    expect(rows(spec)).toContainEqual({ overall: 50 });
  });

  it("trial curves: a legend naming each trial's params, pruned trials dashed with their own legend", () => {
    const spec = trialCurvesSpec({
      trials: [
        { label: 't000: augment=none', status: 'finished', points: [1, 2, 3].map((epoch) => ({ epoch, value: 0.3 + epoch / 20 })) },
        { label: 't001: augment=full', status: 'pruned', points: [{ epoch: 1, value: 0.2 }] },
      ],
    });
    expectCompiles(spec);
    expect(axisTitle(spec, 'x')).toBe('Epoch');
    expect(axisTitle(spec, 'y')).toBe('Test accuracy (%)');
    expect(legends(spec)).toEqual([
      { channel: 'color', field: 'trial', title: 'Trial (params)' },
      { channel: 'strokeDash', field: 'outcome', title: 'Outcome' },
    ]);
    const data = rows(spec);
    expect(data.filter((r) => r.outcome === 'pruned')).toEqual([
      { trial: 't001: augment=full', outcome: 'pruned', epoch: 1, accuracy: 20 },
    ]);
    expect(data.filter((r) => r.trial === 't000: augment=none')).toHaveLength(3);
  });

  it('accuracy against a parameter: the parameter on x (log for a learning rate range), trials and means in the legend', () => {
    const numeric = paramEffectSpec({
      param: 'lr',
      points: [
        { value: 0.01, accuracy: 0.4, trial: 't000' },
        { value: 0.3, accuracy: 0.5, trial: 't001' },
      ],
    });
    expectCompiles(numeric);
    expect(axisTitle(numeric, 'x')).toBe('lr');
    expect(axisTitle(numeric, 'y')).toBe('Best test accuracy (%)');
    expect((channels(numeric).x![0]!.scale as { type?: string }).type).toBe('log');
    expect(legends(numeric).map((l) => l.title)).toEqual(['Test accuracy', 'Test accuracy']);
    expect(channels(numeric).color![0]!.scale!.domain).toEqual([TRIAL_POINTS, VALUE_MEAN]);

    const nominal = paramEffectSpec({
      param: 'augment',
      points: ['none', 'basic', 'full'].map((value, i) => ({ value, accuracy: 0.4 + i / 20, trial: `t00${i}` })),
      order: ['none', 'basic', 'full'],
    });
    expectCompiles(nominal);
    expect(channels(nominal).x![0]!.type).toBe('ordinal');
    expect((channels(nominal).x![0] as { sort?: unknown }).sort).toEqual(['none', 'basic', 'full']);
    expect(rows(nominal)).toContainEqual({ value: 'full', accuracy: 50, trial: 't002', kind: TRIAL_POINTS });
  });

  it('ablation contributions: technique and points on the axes, helps/hurts in a legend', () => {
    const spec = contributionBarsSpec({
      contributions: [
        { technique: 'mixup', points: 1.5 },
        { technique: 'labelSmoothing', points: -0.25 },
      ],
    });
    expectCompiles(spec);
    expect(axisTitle(spec, 'x')).toBe('Contribution (accuracy points)');
    expect(axisTitle(spec, 'y')).toBe('Technique removed');
    expect(legends(spec)).toContainEqual({ channel: 'color', field: 'effect', title: 'Effect' });
    expect(rows(spec).map((r) => r.technique)).toEqual(['mixup', 'labelSmoothing']);
  });
});
