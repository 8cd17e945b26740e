import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/runtime/atomic-file.js';
import { FleetError } from '../../src/runtime/errors.js';
import { reportHtml } from './report-html.js';
import { reportImages, reportMarkdown, type ReportDocument } from './report-document.js';

export const REPORT_MD = 'README.md';
export const REPORT_HTML = 'report.html';

export interface WrittenReport {
  dir: string;
  markdown: string;
  html: string;
  images: string[];
}

/**
 * REPORT_DIR/README.md with its PNGs beside it, and report.html holding the
 * same with the PNGs inlined. A report written there before is replaced: the
 * PNGs its README.md linked and this one does not are removed, nothing else.
 */
export async function writeReport(dir: string, doc: ReportDocument): Promise<WrittenReport> {
  await makeReportDir(dir);
  const images = reportImages(doc);
  const stale = (await previousImages(dir)).filter((f) => !images.some((i) => i.file === f));
  for (const image of images) await writeFileAtomic(join(dir, image.file), image.png);
  await writeFileAtomic(join(dir, REPORT_HTML), reportHtml(doc));
  await writeFileAtomic(join(dir, REPORT_MD), reportMarkdown(doc));
  for (const file of stale) await rm(join(dir, file), { force: true });
  return { dir, markdown: join(dir, REPORT_MD), html: join(dir, REPORT_HTML), images: images.map((i) => join(dir, i.file)) };
}

async function makeReportDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'a file is in the way' : e.message;
    throw new FleetError(`cannot write the report into ${dir}: ${reason}`);
  }
}

/** The PNG file names a report's README.md in `dir` links (none when there is no report there). */
async function previousImages(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(dir, REPORT_MD), 'utf8');
  } catch {
    return [];
  }
  return [...text.matchAll(/!\[[^\]]*\]\(([^)/\\]+\.png)\)/g)].map((m) => m[1]!);
}
