/**
 * vitest globalSetup of the containers project (vitest.config.ts): asks
 * testcontainers once whether a container engine answers. Without one every
 * container test is skipped, and this line says why, once:
 *
 *   container tests skipped: no container engine (Could not find a working container runtime strategy)
 *
 * (It runs outside the test processes: no `vitest` import here, only types.)
 */
import type { TestProject } from 'vitest/node';

/** How long the engine gets to answer: a machine without one skips the container tests in well under 5 s. */
const DETECT_TIMEOUT_MS = 4_000;

/**
 * testcontainers' own runtime detection (DOCKER_HOST, the socket,
 * ~/.testcontainers.properties, ...), bounded in time. Null when an engine
 * answered, else the reason.
 */
export async function detectContainerEngine(timeoutMs = DETECT_TIMEOUT_MS): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
    });
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const absent = await detectContainerEngine();
  if (absent !== null) process.stdout.write(`container tests skipped: no container engine (${absent})\n`);
  project.provide('containerEngineAbsent', absent);
}
