import { PNG } from 'pngjs';
import { svgToPng } from './render-png.js';

/** An RGB image, HWC bytes. */
export interface RgbTile {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface GridCell {
  image: RgbTile;
  /** Lines under the image; the first in bold. */
  caption: readonly string[];
}

/** A PNG of `tile` enlarged `factor` times by repeating pixels (nearest neighbour: a 32x32 image stays sharp, not blurred). */
export function enlargedPng(tile: RgbTile, factor: number): Buffer {
  const width = tile.width * factor;
  const height = tile.height * factor;
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < width; x++) {
      const s = (sy * tile.width + Math.floor(x / factor)) * 3;
      const d = (y * width + x) * 4;
      png.data[d] = tile.rgb[s]!;
      png.data[d + 1] = tile.rgb[s + 1]!;
      png.data[d + 2] = tile.rgb[s + 2]!;
      png.data[d + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

export interface GridOptions {
  title: string;
  /** Cells per row; rows may be shorter. */
  rows: readonly (readonly GridCell[])[];
  /** Enlargement of each image (4: 32 px -> 128 px). */
  factor?: number;
  /** Row labels on the left, one per row. */
  rowLabels?: readonly string[];
}

const FONT_SIZE = 13;
const LINE = 17;
const GAP = 14;

/** Grids are drawn at twice their CSS size, as the charts are: text as sharp, images as large. */
const ZOOM = 2;

/**
 * Images in rows, each enlarged and captioned, as one PNG: an SVG of the
 * enlarged tiles (embedded PNGs, one image pixel to `factor` x 2 output
 * pixels) and their captions, drawn by resvg with the charts' font.
 */
export function imageGridPng(o: GridOptions): Buffer {
  const factor = o.factor ?? 4;
  const cells = o.rows.flat();
  const tile = Math.max(...cells.map((c) => c.image.width * factor));
  const tileH = Math.max(...cells.map((c) => c.image.height * factor));
  const longest = Math.max(0, ...cells.flatMap((c) => c.caption.map((l) => l.length)));
  // DejaVu Sans averages ~0.6 em a character: columns wide enough that no caption overlaps its neighbour.
  const column = Math.max(tile, Math.ceil(longest * FONT_SIZE * 0.62)) + GAP;
  const lines = Math.max(0, ...cells.map((c) => c.caption.length));
  const rowH = tileH + 6 + lines * LINE + GAP;
  const labelW = o.rowLabels ? Math.ceil(Math.max(...o.rowLabels.map((l) => l.length)) * FONT_SIZE * 0.62) + GAP : 0;
  const columns = Math.max(...o.rows.map((r) => r.length));
  const top = 36;
  const width = GAP + labelW + columns * column;
  const height = top + o.rows.length * rowH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width * ZOOM}" height="${height * ZOOM}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${GAP}" y="24" font-family="DejaVu Sans" font-size="16" font-weight="bold" fill="#222">${escapeXml(o.title)}</text>`,
  ];
  o.rows.forEach((row, r) => {
    const y = top + r * rowH;
    const label = o.rowLabels?.[r];
    if (label) {
      parts.push(
        `<text x="${GAP}" y="${y + tileH / 2}" font-family="DejaVu Sans" font-size="${FONT_SIZE}" font-weight="bold" fill="#222">${escapeXml(label)}</text>`,
      );
    }
    row.forEach((cell, c) => {
      const x = GAP + labelW + c * column;
      const w = cell.image.width * factor;
      const h = cell.image.height * factor;
      const cx = x + (column - GAP) / 2;
      // Enlarged here to the output's pixels, so resvg draws it 1:1 and never smooths it.
      const data = enlargedPng(cell.image, factor * ZOOM).toString('base64');
      parts.push(
        `<image x="${cx - w / 2}" y="${y}" width="${w}" height="${h}" image-rendering="optimizeSpeed" xlink:href="data:image/png;base64,${data}"/>`,
      );
      parts.push(`<rect x="${cx - w / 2 - 0.5}" y="${y - 0.5}" width="${w + 1}" height="${h + 1}" fill="none" stroke="#999"/>`);
      cell.caption.forEach((line, i) => {
        parts.push(
          `<text x="${cx}" y="${y + h + 6 + (i + 1) * LINE - 4}" text-anchor="middle" font-family="DejaVu Sans" font-size="${FONT_SIZE}"${
            i === 0 ? ' font-weight="bold"' : ''
          } fill="#222">${escapeXml(line)}</text>`,
        );
      });
    });
  });
  parts.push('</svg>');
  return svgToPng(parts.join('\n'));
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
