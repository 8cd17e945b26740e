import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFleet } from '../../helpers/fleet-args.js';

/**
 * deploy/README.md's shell blocks: every fleet command line in them (alone,
 * after `kubectl exec ... --` or `docker compose exec SERVICE`) parses with
 * fleet's own program, so a renamed command or flag fails here.
 */

const README = readFileSync(new URL('../../../deploy/README.md', import.meta.url), 'utf8');

function fleetLines(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, ' '));
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((l) => l.replace(/\s#.*$/, '').trim())
    .flatMap((l) => {
      const m = /(?:^|\s--\s|compose exec \S+ )(fleet\s.*)$/.exec(l) ?? /^(fleet\s.*)$/.exec(l);
      return m ? [m[1]!.trim()] : [];
    });
}

describe('deploy/README.md', () => {
  it('shows fleet command lines that fleet parses', async () => {
    const lines = fleetLines(README);
    expect(lines.length).toBeGreaterThanOrEqual(6);
    expect(lines.some((l) => l.startsWith('fleet train --gpus 0,1,2,3'))).toBe(true);
    expect(lines.some((l) => l.includes('--render-jobs'))).toBe(true);
    for (const line of lines) {
      const args = line.split(/\s+/).slice(1);
      await expect(parseFleet(args, {}), line).resolves.toBeDefined();
    }
  });
});
