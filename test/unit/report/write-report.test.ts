import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReportDocument } from '../../../services/report/report-document.js';
import { reportMarkdown } from '../../../services/report/report-document.js';
import { reportHtml } from '../../../services/report/report-html.js';
import { writeReport } from '../../../services/report/write-report.js';

function png(value: number): Buffer {
  const image = new PNG({ width: 2, height: 2 });
  image.data.fill(value);
  return PNG.sync.write(image);
}

function doc(images: string[]): ReportDocument {
  return {
    title: 'Run report: r1',
    blocks: [
      { kind: 'heading', level: 2, text: 'Curves' },
      { kind: 'paragraph', text: 'Best **61.30%** in `runs/r1` <b>not html</b> & more.' },
      { kind: 'list', items: ['cat taken for dog: 12'] },
      { kind: 'table', header: ['a|b', 'value'], rows: [['x', '1']], align: ['left', 'right'] },
      ...images.map((file, i) => ({ kind: 'image' as const, file, alt: `picture ${i}`, png: png(i * 40) })),
    ],
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-write-report-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('report documents', () => {
  it('as markdown: headings, bold and code kept, tables with escaped pipes and right-aligned columns, images linked', () => {
    const md = reportMarkdown(doc(['loss.png']));
    expect(md).toContain('# Run report: r1\n\n## Curves\n');
    expect(md).toContain('Best **61.30%** in `runs/r1`');
    expect(md).toContain('| a\\|b | value |\n| --- | ---: |\n| x | 1 |');
    expect(md).toContain('![picture 0](loss.png)');
  });

  it('as HTML: text escaped, bold and code as tags, every image inlined as a data URI', () => {
    const d = doc(['loss.png']);
    const html = reportHtml(d);
    expect(html).toContain('<strong>61.30%</strong> in <code>runs/r1</code> &lt;b&gt;not html&lt;/b&gt; &amp; more.');
    expect(html).toContain('<th>a|b</th>');
    expect(html).toContain(`src="data:image/png;base64,${(d.blocks[4] as { png: Buffer }).png.toString('base64')}"`);
    expect(html).not.toMatch(/src="(?!data:)/);
  });
});

describe('writeReport', () => {
  it('writes README.md, report.html and the PNGs; a second report removes the PNGs the first linked and no other file', async () => {
    await writeFile(join(dir, 'notes.png'), 'mine');
    await writeReport(dir, doc(['loss.png', 'mix.png']));
    expect((await readdir(dir)).sort()).toEqual(['README.md', 'loss.png', 'mix.png', 'notes.png', 'report.html']);
    expect(PNG.sync.read(await readFile(join(dir, 'mix.png'))).width).toBe(2);

    await writeReport(dir, doc(['loss.png']));
    expect((await readdir(dir)).sort()).toEqual(['README.md', 'loss.png', 'notes.png', 'report.html']);
    expect(await readFile(join(dir, 'notes.png'), 'utf8')).toBe('mine');
  });

  it('refuses a report folder that is a file, naming it', async () => {
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    await expect(writeReport(file, doc([]))).rejects.toThrow(`cannot write the report into ${file}: a file is in the way`);
  });
});
