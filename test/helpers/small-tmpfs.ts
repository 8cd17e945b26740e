/**
 * A small tmpfs mounted for a test, to fill up on purpose (a full disk:
 * ENOSPC). Mounting needs root (CI runs as root); elsewhere `mountSmallTmpfs`
 * answers the reason it could not, for `it.skipIf` and a printed line.
 *
 *   const fs = await mountSmallTmpfs('disk-full', 2048);
 *   if ('skip' in fs) ...
 *   await fs.fill();   // a filler file takes every free block
 *   await fs.free();   // and is removed
 *   await fs.unmount();
 */
import { execFileSync } from 'node:child_process';
import { open, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallTmpfs {
  dir: string;
  /** Writes a filler file until the disk refuses (ENOSPC); resolves with the bytes it took. */
  fill(): Promise<number>;
  /** Removes the filler file. */
  free(): Promise<void>;
  /** Free bytes now. */
  available(): Promise<number>;
  unmount(): Promise<void>;
}

const FILLER = '.disk-filler';

export async function mountSmallTmpfs(name: string, sizeKiB: number): Promise<SmallTmpfs | { skip: string }> {
  if (process.platform !== 'linux') return { skip: `tmpfs mounts need Linux (this is ${process.platform})` };
  const dir = await mkdtemp(join(tmpdir(), `fleet-${name}-`));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return { skip: `cannot mount a tmpfs (${stderr || (err as Error).message}); run as root to test a full disk` };
  }
  const filler = join(dir, FILLER);
  return {
    dir,
    async fill() {
      const handle = await open(filler, 'a');
      const chunk = Buffer.alloc(4096, 0x66);
      let written = 0;
      try {
        for (;;) {
          const { bytesWritten } = await handle.write(chunk);
          written += bytesWritten;
          if (bytesWritten < chunk.length) break;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        await handle.close();
      }
      return written;
    },
    async free() {
      await rm(filler, { force: true });
    },
    async available() {
      const s = await statfs(dir);
      return s.bavail * s.bsize;
    },
    async unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
