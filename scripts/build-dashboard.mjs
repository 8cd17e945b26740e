// Builds the dashboard's page (services/dashboard/page) into dist/dashboard/: type-checks it
// with its own tsconfig (DOM, no Node), bundles it with esbuild, copies index.html and app.css.
// Part of `npm run build`: the page is served from these files, nothing is fetched at run time.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const page = join(root, 'services/dashboard/page');
const out = join(root, 'dist/dashboard');

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(page, 'tsconfig.json')], { stdio: 'inherit' });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(page, 'main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
await copyFile(join(page, 'index.html'), join(out, 'index.html'));
await copyFile(join(page, 'app.css'), join(out, 'app.css'));
