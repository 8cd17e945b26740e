import type { TopLevelSpec } from 'vega-lite';

/** A chart as a vega-lite spec: pure data, rendered by render-png.ts and read by the tests. */
export type ChartSpec = TopLevelSpec;

/** The one font the renderer loads (render-png.ts): vega must lay text out in the face resvg will draw. */
export const CHART_FONT = 'DejaVu Sans';

export const CHART_WIDTH = 560;
export const CHART_HEIGHT = 300;

/** Shared look: the report's font everywhere, a white background (PNGs are viewed on any page). */
export const CHART_CONFIG = {
  font: CHART_FONT,
  background: 'white',
  padding: 12,
  title: { fontSize: 15, anchor: 'start', offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 12, titlePadding: 8 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 360 },
  view: { stroke: '#ccc' },
} as const;

/** The parts every chart spec has: schema, title, the shared config. */
export function chartBase(title: string, subtitle?: string): Pick<TopLevelSpec, '$schema' | 'title' | 'config'> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: subtitle ? { text: title, subtitle } : title,
    config: CHART_CONFIG,
  };
}
