import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { epochCurvesSpec } from '../../../services/report/charts/epoch-curves.js';
import { enlargedPng, imageGridPng } from '../../../services/report/image-grid.js';
import { findFontFiles, FontMissingError, renderChartPng, svgToPng } from '../../../services/report/render-png.js';
import { pngFacts } from './png-check.js';

let empty: string;
beforeAll(async () => {
  empty = await mkdtemp(join(tmpdir(), 'fleet-fonts-'));
});
afterAll(async () => {
  await rm(empty, { recursive: true, force: true });
});

describe('render-png', () => {
  it('draws a chart as a PNG at twice its size, with its text (fonts loaded: a text-only SVG is not blank)', async () => {
    const spec = epochCurvesSpec({
      title: 'Loss',
      yTitle: 'Loss',
      points: [1, 2].flatMap((epoch) => [
        { epoch, split: 'train', value: 2 / epoch },
        { epoch, split: 'test', value: 2.2 / epoch },
      ]),
    });
    const facts = pngFacts(await renderChartPng(spec));
    expect(facts.width).toBeGreaterThan(1000); // 560 px wide plus axes and legend, times 2
    expect(facts.height).toBeGreaterThan(600);
    expect(facts.colours).toBeGreaterThan(20);
    expect(facts.darkPixels).toBeGreaterThan(2000);

    // resvg without a font draws no text and says nothing: the text alone must leave ink.
    const text = pngFacts(
      svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="4" y="28" font-size="24">Epoch 12</text></svg>'),
    );
    expect(text.darkPixels).toBeGreaterThan(150);
  });

  it('refuses to render without a font, naming the package to install', () => {
    expect(() => findFontFiles([empty])).toThrow(FontMissingError);
    expect(() => findFontFiles([empty])).toThrow(/fonts-dejavu-core/);
    expect(findFontFiles(['/nonexistent', ...findFontDirs()])[0]).toMatch(/DejaVuSans\.ttf$/);
  });

  it('enlarges an image by repeating pixels (nearest neighbour) and grids captioned images', () => {
    const rgb = new Uint8Array(2 * 2 * 3);
    rgb.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const big = PNG.sync.read(enlargedPng({ width: 2, height: 2, rgb }, 4));
    expect([big.width, big.height]).toEqual([8, 8]);
    const at = (x: number, y: number) => [...big.data.subarray((y * 8 + x) * 4, (y * 8 + x) * 4 + 4)];
    expect(at(3, 3)).toEqual([255, 0, 0, 255]);
    expect(at(4, 0)).toEqual([0, 255, 0, 255]);
    expect(at(0, 7)).toEqual([0, 0, 255, 255]);
    expect(at(7, 7)).toEqual([10, 20, 30, 255]);

    const tile = { width: 32, height: 32, rgb: new Uint8Array(32 * 32 * 3).fill(200) };
    const grid = pngFacts(
      imageGridPng({
        title: 'Grid',
        rows: [
          [
            { image: tile, caption: ['true: cat', 'predicted: dog'] },
            { image: tile, caption: ['x'] },
          ],
        ],
        rowLabels: ['cat'],
      }),
    );
    expect(grid.width).toBeGreaterThanOrEqual(2 * 128);
    expect(grid.height).toBeGreaterThan(128 + 2 * 17);
    expect(grid.darkPixels).toBeGreaterThan(200); // title, labels and captions drawn
  });
});

function findFontDirs(): string[] {
  return [findFontFiles()[0]!.replace(/\/DejaVuSans\.ttf$/, '')];
}
