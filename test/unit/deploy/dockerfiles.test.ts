import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The container images, checked as far as possible without a container
 * engine (none runs on the build machines): multi-stage, a non-root user
 * with the manifests' uid, `fleet` as the entrypoint, every file copied from
 * the context exists and is not excluded by the .dockerignore, every stage
 * copied from is defined earlier, and the GPU image's CUDA matches what
 * @tensorflow/tfjs-node-gpu 4.22's libtensorflow was built for.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOCKER = `${ROOT}deploy/docker/`;
const FILES = ['Dockerfile', 'Dockerfile.gpu'] as const;
const UID = 10001;

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  name: string | null;
  from: string;
  instructions: Instruction[];
}

/** Instructions (continuations joined, comments dropped) and ARG defaults. */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = i + 1;
    if (line.startsWith('#')) return;
    pending += `${line.replace(/\\$/, '').trim()} `;
    if (!line.endsWith('\\')) {
      const [keyword, ...rest] = pending.trim().split(/\s+/);
      instructions.push({ keyword: keyword!.toUpperCase(), args: rest.join(' '), line: start });
      pending = '';
    }
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const [name, value] = ins.args.split('=');
      args[name!] = value ?? '';
    } else if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      stages.push({ from: m[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => args[n] ?? ''), name: m[2] ?? null, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { args, stages };
}

/** COPY's sources and options. */
function copyOf(ins: Instruction): { from: string | null; sources: string[]; dest: string } {
  const words = ins.args.split(/\s+/);
  let from: string | null = null;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
  }
  const dest = words.pop()!;
  return { from, sources: words, dest };
}

/** .dockerignore patterns: `**` any folders, `*` within one name; a pattern also excludes what is under it. */
function ignoredBy(patterns: readonly string[], path: string): string | null {
  const clean = path.replace(/^\.\//, '').replace(/\/$/, '');
  for (const p of patterns) {
    const re = new RegExp(
      `^${p
        .replace(/\/$/, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '\0')
        .replace(/\*/g, '[^/]*')
        .replace(/\0/g, '(.*/)?')}(/.*)?$`,
    );
    if (re.test(clean)) return p;
  }
  return null;
}

const read = (file: string) => readFileSync(`${DOCKER}${file}`, 'utf8');
const ignorePatterns = (file: string) =>
  read(`${file}.dockerignore`)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  scripts: Record<string, string>;
};

describe.each(FILES)('deploy/docker/%s', (file) => {
  const { stages } = parseDockerfile(read(file));
  const final = stages.at(-1)!;
  const run = (stage: Stage) =>
    stage.instructions
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join('\n');

  it('is multi-stage: fleet is built in a stage of its own and the final image takes only what runs', () => {
    const build = stages.find((s) => s.name === 'build')!;
    expect(build).toBeDefined();
    expect(run(build)).toMatch(/npm ci\b/);
    expect(run(build)).toMatch(/npm prune --omit=dev/);
    expect(run(final)).not.toMatch(/npm ci|g\+\+|make|python3/);
    const fromBuild = final.instructions
      .filter((i) => i.keyword === 'COPY')
      .map(copyOf)
      .filter((c) => c.from !== null)
      .flatMap((c) => c.sources);
    expect(fromBuild).toEqual(expect.arrayContaining(['/app/package.json', '/app/node_modules/', '/app/dist/', '/app/cli/fleet.js']));
  });

  it('runs as a non-root user with the uid the Kubernetes manifests and the compose file use', () => {
    const users = final.instructions.filter((i) => i.keyword === 'USER');
    expect(users.map((u) => u.args)).toEqual([`${UID}:${UID}`]);
    expect(run(final)).toContain(`useradd --uid ${UID} --gid ${UID}`);
    expect(run(final)).toContain(`groupadd --gid ${UID} fleet`);
    // The user comes after every RUN (apt-get needs root) and nothing runs as root after it.
    const userAt = final.instructions.findIndex((i) => i.keyword === 'USER');
    expect(final.instructions.slice(userAt).filter((i) => i.keyword === 'RUN')).toEqual([]);
  });

  it('has fleet as its entrypoint (through tini, which forwards SIGTERM), on PATH for exec probes', () => {
    const entrypoint = final.instructions.filter((i) => i.keyword === 'ENTRYPOINT');
    expect(entrypoint).toHaveLength(1);
    expect(JSON.parse(entrypoint[0]!.args)).toEqual(['/usr/bin/tini', '--', 'fleet']);
    expect(run(final)).toContain('tini');
    expect(run(final)).toContain('ln -s /app/cli/fleet.js /usr/local/bin/fleet');
    expect(readFileSync(`${ROOT}cli/fleet.js`, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    expect(JSON.parse(final.instructions.find((i) => i.keyword === 'CMD')!.args)).toEqual(['--help']);
  });

  it('copies from the context only files that exist and that its .dockerignore lets through; stages are copied from after they are defined', () => {
    const patterns = ignorePatterns(file);
    const names = new Set<string>();
    for (const stage of stages) {
      for (const ins of stage.instructions.filter((i) => i.keyword === 'COPY')) {
        const copy = copyOf(ins);
        if (copy.from !== null) {
          expect(names.has(copy.from), `line ${ins.line}: --from=${copy.from}`).toBe(true);
          continue;
        }
        for (const source of copy.sources) {
          expect(existsSync(`${ROOT}${source}`), `line ${ins.line}: ${source}`).toBe(true);
          expect(ignoredBy(patterns, source), `line ${ins.line}: ${source}`).toBeNull();
        }
      }
      if (stage.name) names.add(stage.name);
    }
  });

  it('the build stage has what npm ci builds from: the sources tsc compiles and the scripts package.json runs', () => {
    const build = stages.find((s) => s.name === 'build')!;
    const copied = build.instructions
      .filter((i) => i.keyword === 'COPY')
      .flatMap((i) => copyOf(i).sources)
      .map((s) => s.replace(/\/$/, ''));
    const tsconfig = JSON.parse(readFileSync(`${ROOT}tsconfig.json`, 'utf8')) as { include: string[] };
    // The image runs no tests and no benchmarks; everything else tsc compiles is fleet.
    for (const dir of tsconfig.include.filter((d) => d !== 'test' && d !== 'bench')) {
      expect(
        copied.some((c) => dir === c || dir.startsWith(`${c}/`)),
        `tsconfig include ${dir}`,
      ).toBe(true);
    }
    for (const script of Object.values(pkg.scripts).flatMap((s) => [...s.matchAll(/node (scripts\/\S+)/g)].map((m) => m[1]!))) {
      expect(copied, `package.json runs ${script}`).toContain('scripts');
    }
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json']));
  });

  it('its .dockerignore keeps node_modules, dist, data, runs, sweeps, .git and the compose secrets out of the context', () => {
    const patterns = ignorePatterns(file);
    for (const path of [
      'node_modules',
      'src/compute/onednn/node_modules',
      'dist',
      'data',
      'runs',
      'sweeps',
      '.git',
      'deploy/compose/secrets/token',
    ]) {
      expect(ignoredBy(patterns, path), path).not.toBeNull();
    }
    for (const path of ['src/compute/select-backend.ts', 'cli/fleet.js', 'examples/1-baseline-cnn.yaml', 'package-lock.json']) {
      expect(ignoredBy(patterns, path), path).toBeNull();
    }
  });
});

describe('the two images', () => {
  it('the CPU image builds the oneDNN kernels against libdnnl-dev and runs them with libdnnl2', () => {
    const { stages } = parseDockerfile(read('Dockerfile'));
    const build = stages.find((s) => s.name === 'build')!;
    const buildRun = build.instructions.map((i) => i.args).join('\n');
    expect(buildRun).toMatch(/apt-get install .*libdnnl-dev/);
    expect(buildRun).toContain('test -f src/compute/onednn/build/Release/fleet_onednn.node');
    const final = stages.at(-1)!;
    expect(final.instructions.map((i) => i.args).join('\n')).toMatch(/apt-get install .*libdnnl2/);
    const copies = final.instructions.filter((i) => i.keyword === 'COPY').map(copyOf);
    // Where src/compute/onednn/addon.ts looks from dist/: <app>/src/compute/onednn/build/Release/.
    expect(copies).toContainEqual({
      from: 'build',
      sources: ['/app/src/compute/onednn/build/Release/fleet_onednn.node'],
      dest: 'src/compute/onednn/build/Release/',
    });
    expect(readFileSync(`${ROOT}src/compute/onednn/addon.ts`, 'utf8')).toContain("'build/Release/fleet_onednn.node'");
    expect(stages[0]!.from).toBe('node:20-bookworm-slim');
  });

  it('the GPU image: CUDA 11.2 with cuDNN 8 for libtensorflow 2.9.1, and tfjs-node-gpu of the same version as fleet’s tfjs', () => {
    const text = read('Dockerfile.gpu');
    const { stages } = parseDockerfile(text);
    const final = stages.at(-1)!;
    expect(final.from).toBe('nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04');
    const tfjs = pkg.dependencies['@tensorflow/tfjs']!.replace(/^[~^]/, '');
    expect(text).toContain(`npm install --no-save --omit=dev --no-audit --no-fund @tensorflow/tfjs-node-gpu@${tfjs}`);
    expect(tfjs).toBe('4.22.0');
    expect(text).toContain('libtensorflow.so.2.9.1');
    // The package fleet imports first for `--backend auto`.
    expect(readFileSync(`${ROOT}src/compute/gpu-package.ts`, 'utf8')).toContain("'@tensorflow/tfjs-node-gpu'");
    // Installed on the runtime's OS (the addon's glibc), then carried into the final image.
    const gpuDeps = stages.find((s) => s.name === 'gpu-deps')!;
    expect(gpuDeps.from).toBe(final.from);
    expect(final.instructions.filter((i) => i.keyword === 'COPY').map(copyOf)).toContainEqual({
      from: 'gpu-deps',
      sources: ['/app/node_modules/'],
      dest: 'node_modules/',
    });
  });

  it('the image names and tags are the ones the Kubernetes overlays and the compose file use', () => {
    expect(read('Dockerfile')).toContain(`docker build -f deploy/docker/Dockerfile -t fleet:${pkg.version} .`);
    expect(read('Dockerfile.gpu')).toContain(`docker build -f deploy/docker/Dockerfile.gpu -t fleet-gpu:${pkg.version} .`);
    for (const overlay of ['cpu', 'gpu']) {
      const kustomization = readFileSync(`${ROOT}deploy/kubernetes/overlays/${overlay}/kustomization.yaml`, 'utf8');
      expect(kustomization).toContain(`newTag: ${pkg.version}`);
    }
    const compose = readFileSync(`${ROOT}deploy/compose/compose.yaml`, 'utf8');
    expect(compose).toContain(`fleet:${pkg.version}`);
    expect(compose).toContain(`fleet-gpu:${pkg.version}`);
  });
});
