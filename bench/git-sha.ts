import { execSync } from 'node:child_process';

/** Short commit of the working tree, 'unknown' outside git. */
export function gitSha(): string {
  try {
    return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}
