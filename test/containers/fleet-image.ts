import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The image's recipe, whatever it holds when the tests run; built with the repository root as its context. */
export const DOCKERFILE = 'deploy/docker/Dockerfile';

/**
 * The fleet image's build context, staged: the repository's files as git
 * sees them (tracked, and new ones not ignored: the working tree under
 * test), with the Dockerfile's own ignore file (Dockerfile.dockerignore,
 * which BuildKit reads beside it) as the context's .dockerignore.
 * testcontainers reads only <context>/.dockerignore: from the checkout
 * itself it would send node_modules, dist and any data.
 */
async function stageBuildContext(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-image-context-'));
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  for (const file of listed.split('\0')) {
    // A tracked file deleted in the working tree is listed too: the tree is what is built.
    if (file === '' || !existsSync(join(REPO_ROOT, file))) continue;
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(REPO_ROOT, file), join(dir, file));
  }
  const ownIgnore = join(REPO_ROOT, `${DOCKERFILE}.dockerignore`);
  if (existsSync(ownIgnore)) await copyFile(ownIgnore, join(dir, '.dockerignore'));
  return dir;
}

/**
 * Builds the fleet image from deploy/docker/Dockerfile (minutes: npm ci
 * compiles fleet inside); the engine removes it when the test process ends.
 * Returns its name.
 */
export async function buildFleetImage(): Promise<string> {
  const context = await stageBuildContext();
  try {
    const recipe = await readFile(join(REPO_ROOT, DOCKERFILE), 'utf8');
    const { GenericContainer } = await import('testcontainers');
    let builder = GenericContainer.fromDockerfile(context, DOCKERFILE);
    // BuildKit-only syntax (a syntax line, cache or secret mounts): the classic builder would refuse it.
    if (/^#\s*syntax=|--mount=/m.test(recipe)) builder = builder.withBuildkit();
    const image = `fleet-containers-test:${process.pid}-${Date.now()}`;
    await builder.build(image, { deleteOnExit: true });
    return image;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}
