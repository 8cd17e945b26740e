import { hostname } from 'node:os';
import type { BackendChoice } from '../../config/train-config.js';
import type { Logger } from '../../runtime/logger.js';
import type { WeightSlice } from '../../training/flat-weights.js';
import { createCoordinatorClient } from './client/grpc-coordinator-client.js';
import { runWorker } from './worker-run.js';
import { routeGrpcLogs } from '../../rpc/grpc-logging.js';

export interface WorkerServiceOptions {
  coordinator: string;
  name: string | null;
  runId: string;
  dataDir: string | null;
  backend: BackendChoice | null;
  connectTimeoutMs: number;
}

/** `fleet worker`: train for a coordinator until the run is over; SIGTERM finishes the round, then leaves. */
export async function runWorkerService(options: WorkerServiceOptions, log: Logger): Promise<void> {
  routeGrpcLogs(log);
  let layout: readonly WeightSlice[] = [];
  const client = createCoordinatorClient(options.coordinator, () => layout, {
    callTimeoutMs: 10_000, roundWaitTimeoutMs: 3_600_000, transferTimeoutMs: 600_000,
  });
  const stop = new AbortController();
  const onSignal = (signal: string) => {
    log.warn({ signal }, 'stopping after this round');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await runWorker(client, {
      name: options.name ?? `${hostname()}-${process.pid}`, runId: options.runId, dataDir: options.dataDir, backend: options.backend,
      reconnectTimeoutMs: options.connectTimeoutMs,
      onLayout: (l) => { layout = l; },
    }, log, stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    client.close();
  }
}
