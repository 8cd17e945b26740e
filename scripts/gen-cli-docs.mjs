// Writes docs/cli.md from the compiled commander program (npm run docs builds first).
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { fleetProgram } from '../dist/cli/main.js';
import { renderCliDocs } from '../dist/cli/cli-docs.js';

const target = fileURLToPath(new URL('../docs/cli.md', import.meta.url));
await writeFile(target, renderCliDocs(fleetProgram()));
console.log(`wrote ${target}`);
