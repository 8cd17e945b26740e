import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Why the container tests are skipped (no engine answered), or null when one did: engine-setup.ts. */
    containerEngineAbsent: string | null;
  }
}

/** In a container test file: the reason to skip (detected once for the whole run by engine-setup.ts), or null. */
export function containerEngineAbsent(): string | null {
  return inject('containerEngineAbsent');
}
