import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { FleetError } from '../../src/runtime/errors.js';
import { CHART_FONT, type ChartSpec } from './charts/chart-style.js';
import { useDejaVuMetrics } from './text-metrics.js';

/** Where Debian (fonts-dejavu-core), Fedora and Arch keep DejaVu Sans. */
export const FONT_DIRS = [
  '/usr/share/fonts/truetype/dejavu',
  '/usr/share/fonts/dejavu-sans-fonts',
  '/usr/share/fonts/TTF',
  '/usr/share/fonts/dejavu',
];
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'];

/** resvg draws no text at all without a font, silently: a report without one is refused instead. */
export class FontMissingError extends FleetError {
  constructor(readonly searched: readonly string[]) {
    super(
      `no ${CHART_FONT} font found for the report's charts (looked for ${FONT_FILES[0]} in ${searched.join(', ')}): ` +
        'install it (`apt-get install fonts-dejavu-core` on Debian or Ubuntu) or name its folder in FLEET_FONT_DIR',
    );
  }
}

/** The DejaVu Sans files to load: FLEET_FONT_DIR first, then the usual system folders. */
export function findFontFiles(dirs: readonly string[] = fontDirs()): string[] {
  for (const dir of dirs) {
    const files = FONT_FILES.map((f) => join(dir, f)).filter((f) => existsSync(f));
    if (files.some((f) => f.endsWith(FONT_FILES[0]!))) return files;
  }
  throw new FontMissingError(dirs);
}

function fontDirs(): string[] {
  const own = process.env.FLEET_FONT_DIR;
  return own ? [own, ...FONT_DIRS] : FONT_DIRS;
}

let fonts: string[] | undefined;

/** The font files, looked up once. */
function reportFonts(): string[] {
  fonts ??= findFontFiles();
  return fonts;
}

/** An SVG document as PNG bytes, its text drawn in DejaVu Sans. */
export function svgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    font: { fontFiles: reportFonts(), loadSystemFonts: false, defaultFontFamily: CHART_FONT, sansSerifFamily: CHART_FONT },
    background: 'white',
  });
  return resvg.render().asPng();
}

/** The chart as SVG: vega-lite compiled to vega, laid out and drawn headless. */
export async function chartSvg(spec: ChartSpec, scale = 2): Promise<string> {
  useDejaVuMetrics(reportFonts());
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG(scale);
  } finally {
    view.finalize();
  }
}

/** The chart as a PNG at `scale` times its CSS size (2: sharp on high-density screens and when zoomed). */
export async function renderChartPng(spec: ChartSpec, scale = 2): Promise<Buffer> {
  return svgToPng(await chartSvg(spec, scale));
}
