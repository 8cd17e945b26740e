import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { cruise, type IViolation } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../fixtures/layering/', import.meta.url));
const config = require(`${ROOT}.dependency-cruiser.cjs`) as { forbidden: unknown[] };

async function violations(baseDir: string, paths: string[]): Promise<IViolation[]> {
  const result = await cruise(
    paths,
    {
      baseDir,
      validate: true,
      ruleSet: { forbidden: config.forbidden } as never,
      tsPreCompilationDeps: true,
      exclude: { path: '^(node_modules|dist)/' },
    } as never,
    { extensions: ['.ts', '.js'], extensionAlias: { '.js': ['.ts', '.js'] } } as never,
  );
  if (typeof result.output === 'string') throw new Error('expected a cruise result object');
  return result.output.summary.violations;
}

describe('dependency rules (.dependency-cruiser.cjs, run by npm run deps)', () => {
  it('refuse a library module that imports services/, a stage that imports a later one, and a cycle; allow a later stage importing an earlier one', async () => {
    const found = await violations(FIXTURE, ['src', 'services']);
    const edges = found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
    expect(edges).toEqual(
      [
        'library-imports-no-application: src/dataset/reads-a-service.ts -> services/coordinator/round-plan.ts',
        'no-circular: src/training/cycle-a.ts -> src/training/cycle-b.ts',
        'src-dataset-imports-only-earlier-stages: src/dataset/reads-a-later-stage.ts -> src/training/steps.ts',
      ].sort(),
    );
  });
});
