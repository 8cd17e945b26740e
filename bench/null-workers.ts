/**
 * Null workers: fleet's worker protocol with no compute, for measuring what
 * the exchange alone costs (bench/scale-null.ts). Each null worker registers
 * with a real `fleet coordinator`, and every round asks for its work,
 * downloads the round's parameters and uploads a contribution of the run's
 * model size, through fleet's own gRPC client
 * (services/worker/client/grpc-coordinator-client.ts): the same chunking,
 * CRC-32C and finite checks on download, the same encoding on upload. The
 * coordinator does all its real work (checks, sum, SGD). What is left out:
 * data, augmentation, forward and backward, and copying the downloaded
 * values into a model.
 *
 * Several null workers share one process (memory: 32 worker processes
 * would each load tfjs), each with its own gRPC channel and so its own TCP
 * connection and HTTP/2 session ('grpc.use_local_subchannel_pool': grpc-js
 * otherwise shares one connection between clients of the same target and
 * options). They share the process's event loop: their CRC and finite
 * checks take turns on one core, where separate processes would spread
 * over the cores; on this 2-core machine the coordinator's own work
 * competes with them either way.
 *
 *   node dist/bench/null-workers.js ADDRESS COUNT NAME
 *
 * prints one `null-round {...}` line per worker and round (download and
 * upload ms, bytes, the process's CPU time so far) and `null-done {...}`
 * when the coordinator says the run is over.
 */
import * as tf from '@tensorflow/tfjs';
import { credentials } from '@grpc/grpc-js';
import { buildModel } from '../src/model/index.js';
import type { AnyModelName } from '../src/model/build-model.js';
import { layoutLength, weightLayout, type WeightSlice } from '../src/training/flat-weights.js';
import { tuneHeapForTransfers } from '../src/runtime/heap-tuning.js';
import { createCoordinatorClient } from '../services/worker/client/grpc-coordinator-client.js';
import { isMain } from './kernel-conv-shapes.js';

/** A contribution's values: small, finite, the same for every worker and round (seeded by position). */
export function nullContribution(floats: number): Float32Array {
  const values = new Float32Array(floats);
  for (let i = 0; i < floats; i++) values[i] = ((i % 2001) - 1000) * 1e-6;
  return values;
}

/** The run's weight layout, from the model its config names (as a real worker builds it). */
function layoutOfRun(configJson: string): WeightSlice[] {
  const config = JSON.parse(configJson) as { model: AnyModelName; seed: number; stem?: 'cifar' | 'imagenet-conv1' };
  const model = buildModel({ name: config.model, seed: config.seed, ...(config.stem ? { stem: config.stem } : {}) });
  const layout = weightLayout(model);
  model.dispose();
  return layout;
}

/** What the null workers of one process share: the run's layout and the contribution's values. */
interface NullShared {
  layout: Promise<WeightSlice[]> | null;
  values: Float32Array | null;
}

async function nullWorker(address: string, name: string, shared: NullShared): Promise<number> {
  let layout: WeightSlice[] = [];
  const client = createCoordinatorClient(address, () => layout, {
    callTimeoutMs: 60_000,
    roundWaitTimeoutMs: 3_600_000,
    transferTimeoutMs: 3_600_000,
    // A channel of its own: its own TCP connection, as a worker on its own machine has.
    channel: { credentials: credentials.createInsecure(), options: { 'grpc.use_local_subchannel_pool': 1 } },
  });
  try {
    const reg = await client.register({ runId: '', workerName: name, backend: 'none' });
    shared.layout ??= Promise.resolve().then(() => layoutOfRun(reg.configJson));
    layout = await shared.layout;
    shared.values ??= nullContribution(layoutLength(layout));
    const values = shared.values;
    let from = 0;
    let rounds = 0;
    for (;;) {
      const work = await client.nextRound(reg.workerId, from);
      if (!work) break;
      from = work.round + 1;
      if (work.batches.length === 0) continue;
      const t0 = performance.now();
      await client.fetchParameters(reg.workerId, work.version);
      const t1 = performance.now();
      await client.contribute({
        workerId: reg.workerId,
        round: work.round,
        version: work.version,
        kind: 'gradients',
        sampleCount: work.batches.reduce((n, b) => n + b.indices.length, 0),
        lossSum: 0,
        correct: 0,
        trainMs: 0,
        values,
        layout,
      });
      const t2 = performance.now();
      rounds++;
      // cpuMs: the whole process's CPU time so far, so a reader can take the difference between two rounds.
      const cpu = process.cpuUsage();
      const line = { worker: name, round: work.round, downloadMs: t1 - t0, uploadMs: t2 - t1, bytes: values.byteLength };
      console.log(`null-round ${JSON.stringify({ ...line, cpuMs: (cpu.user + cpu.system) / 1000 })}`);
    }
    return rounds;
  } finally {
    client.close();
  }
}

/** `count` null workers named NAME-0 .. NAME-(count-1) against the coordinator at `address`, to the end of its run. */
export async function runNullWorkers(address: string, count: number, name: string): Promise<void> {
  tuneHeapForTransfers();
  await tf.setBackend('cpu');
  const shared: NullShared = { layout: null, values: null };
  const rounds = await Promise.all(Array.from({ length: count }, (_, i) => nullWorker(address, `${name}-${i}`, shared)));
  console.log(`null-done ${JSON.stringify({ name, workers: count, rounds })}`);
}

if (isMain(import.meta.url)) {
  const [address, count, name] = process.argv.slice(2);
  if (!address || !Number.isInteger(Number(count)) || Number(count) < 1 || !name) {
    console.error('usage: node dist/bench/null-workers.js ADDRESS COUNT NAME');
    process.exit(2);
  }
  await runNullWorkers(address, Number(count), name);
}
