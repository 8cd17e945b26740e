import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { CHART_FONT } from './charts/chart-style.js';

/**
 * Text widths in DejaVu Sans for vega's layout. Without a canvas vega guesses
 * 0.8 em a character, half as wide again as DejaVu's letters: axis titles
 * then float far from their labels and legend labels are cut short. Each
 * character's advance is measured once with resvg and the very font files it
 * draws with: width("H" c "H") - width("HH") at 100 px, so kerning aside the
 * layout is the drawing's.
 */
export class DejaVuMetrics {
  private readonly advances = new Map<string, number>();

  constructor(private readonly fontFiles: readonly string[]) {}

  /** Width in pixels of `text` at `fontSize`, bold or regular. */
  width(text: string, fontSize: number, bold: boolean): number {
    let em = 0;
    for (const c of text) em += this.advance(c, bold);
    return em * fontSize;
  }

  private advance(c: string, bold: boolean): number {
    const key = `${bold ? 'b' : 'r'}${c}`;
    let a = this.advances.get(key);
    if (a === undefined) {
      a = (this.inkWidth(`H${c}H`, bold) - this.inkWidth('HH', bold)) / 100;
      // A character the font lacks measures nothing: count it as an average letter rather than as nothing.
      if (!(a > 0) && c.trim() !== '') a = 0.62;
      this.advances.set(key, a);
    }
    return a;
  }

  private inkWidth(text: string, bold: boolean): number {
    const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="200"><text x="10" y="150" font-family="${CHART_FONT}" ` +
      `font-size="100"${bold ? ' font-weight="bold"' : ''} xml:space="preserve">${escaped}</text></svg>`;
    const box = new Resvg(svg, {
      font: { fontFiles: [...this.fontFiles], loadSystemFonts: false, defaultFontFamily: CHART_FONT },
    }).getBBox();
    return box ? box.width : 0;
  }
}

interface VegaTextItem {
  fontSize?: number | string;
  fontWeight?: string | number;
}

type TextMetrics = { width: (item: VegaTextItem, text: unknown) => number };

let installed: DejaVuMetrics | undefined;

/** Makes vega lay text out with DejaVu Sans's widths (once per process; vega's text metrics are global). */
export function useDejaVuMetrics(fontFiles: readonly string[]): void {
  if (installed) return;
  const metrics = new DejaVuMetrics(fontFiles);
  installed = metrics;
  const textMetrics = (vega as unknown as { textMetrics: TextMetrics }).textMetrics;
  textMetrics.width = (item, text) => {
    const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
    const weight = item.fontWeight;
    const bold = weight === 'bold' || weight === 'bolder' || (typeof weight === 'number' && weight >= 600) || Number(weight) >= 600;
    return metrics.width(String(text ?? '').trim(), size, bold);
  };
}
