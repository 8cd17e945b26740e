import { z } from 'zod';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'onednn', 'wasm', 'cpu'] as const;
export const PROGRESS_CHOICES = ['auto', 'bar', 'log', 'off'] as const;
export type ProgressChoice = (typeof PROGRESS_CHOICES)[number];

export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/**
 * What belongs to the machine a process runs on: where the data and the run
 * directory are, how it computes and reports. Never saved as part of the run;
 * a resumed run takes these from its own command line. (Ports, TLS files and
 * timeouts are machine-local too; they belong to one service each and are
 * compiled by its command, not kept with the training config.)
 */
export const machineConfigSchema = z.object({
  dataDir: z.string().min(1),
  download: z.boolean(),
  /** Where --download fetches cifar-10-binary.tar.gz from (a mirror inside a cluster without internet); null: the official URL. */
  dataUrl: z.string().url().nullable().default(null),
  backend: z.enum(BACKEND_CHOICES),
  outDir: z.string().min(1),
  // Machine-local: it changes memory use and speed of scoring, never its result.
  evalBatchSize: z.number().int().min(1).max(65_536),
  progress: z.enum(PROGRESS_CHOICES),
  /**
   * Threads of the native CPU kernels (oneDNN); null: every CPU this process
   * may use. Workers sharing a machine get their share from the launcher.
   */
  threads: z.number().int().min(1).max(4096).nullable().default(null),
});

export type MachineConfig = z.infer<typeof machineConfigSchema>;

/** The one list of machine-local keys. */
export const MACHINE_KEYS = Object.keys(machineConfigSchema.shape) as (keyof MachineConfig)[];
