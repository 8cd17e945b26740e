/**
 * A report as blocks, rendered twice: README.md (report-markdown below) with
 * the PNGs beside it, and report.html (report-html.ts) with them inlined.
 * Text may hold **bold** and `code`; everything else is literal.
 */
export type Block =
  | { kind: 'heading'; level: 2 | 3; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'list'; items: readonly string[] }
  | { kind: 'table'; header: readonly string[]; rows: readonly (readonly string[])[]; align?: readonly ('left' | 'right')[] }
  | { kind: 'image'; file: string; alt: string; png: Buffer };

export interface ReportDocument {
  title: string;
  blocks: Block[];
}

/** The PNG files a report holds, in order of appearance. */
export function reportImages(doc: ReportDocument): { file: string; png: Buffer }[] {
  return doc.blocks.flatMap((b) => (b.kind === 'image' ? [{ file: b.file, png: b.png }] : []));
}

/** README.md: GitHub-flavoured markdown, images linked by file name (they sit beside it). */
export function reportMarkdown(doc: ReportDocument): string {
  const out: string[] = [`# ${doc.title}`, ''];
  for (const b of doc.blocks) {
    switch (b.kind) {
      case 'heading':
        out.push(`${'#'.repeat(b.level)} ${b.text}`, '');
        break;
      case 'paragraph':
        out.push(b.text, '');
        break;
      case 'list':
        out.push(...b.items.map((i) => `- ${i}`), '');
        break;
      case 'table': {
        const cell = (s: string) => s.replace(/\|/g, '\\|');
        out.push(`| ${b.header.map(cell).join(' | ')} |`);
        out.push(`| ${b.header.map((_, i) => (b.align?.[i] === 'right' ? '---:' : '---')).join(' | ')} |`);
        for (const row of b.rows) out.push(`| ${row.map(cell).join(' | ')} |`);
        out.push('');
        break;
      }
      case 'image':
        out.push(`![${b.alt}](${b.file})`, '');
        break;
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}
