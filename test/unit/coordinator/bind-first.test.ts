import { credentials, makeGenericClientConstructor, status as Status, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { createServer } from 'node:net';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { listenError } from '../../../services/coordinator/coordinator-main.js';
import { RoundController } from '../../../services/coordinator/rounds/round-controller.js';
import { bindCoordinatorServer, type CoordinatorListener } from '../../../services/coordinator/rpc/coordinator-server.js';
import { EpochSampler } from '../../../services/coordinator/sampler/index.js';
import { createParameterSource } from '../../../services/evaluator/client/parameter-source.js';
import { createCoordinatorClient } from '../../../services/worker/client/grpc-coordinator-client.js';
import { isUnavailable } from '../../../src/rpc/classify.js';
import { ConfigError } from '../../../src/runtime/config/config-error.js';
import { planTraining } from '../../../src/runtime/config/train-config.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';
import { testConfig } from '../../helpers/test-config.js';

// The coordinator binds before it loads data and writes its run directory: until it serves, every call is
// UNAVAILABLE (workers and the evaluator retry it as a coordinator not up yet) and its health NOT_SERVING.

const LAYOUT: WeightSlice[] = [{ name: 'dense/bias', shape: [3], offset: 0, length: 3, trainable: true }];
const silent = pino({ level: 'silent' });
const config = testConfig({ runId: 'bind-first', dataDir: '/nonexistent', outDir: '/nonexistent' });
const listeners: CoordinatorListener[] = [];
afterAll(async () => {
  for (const l of listeners) await l.shutdown(100);
});

const HealthClient = makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
function healthOf(address: string): Promise<string> {
  const client = new HealthClient(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (client as unknown as { check(req: unknown, opts: unknown, cb: (e: ServiceError | null, r: { status: string }) => void): void }).check(
      { service: '' },
      { deadline: new Date(Date.now() + 5000) },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.status);
      },
    );
  });
}

describe('bindCoordinatorServer', () => {
  it('answers UNAVAILABLE (retried by the clients) and NOT_SERVING until it serves, then the run', async () => {
    const listener = await bindCoordinatorServer({ host: '127.0.0.1', port: 0, log: silent });
    listeners.push(listener);
    const address = `127.0.0.1:${listener.port}`;
    const worker = createCoordinatorClient(address, () => LAYOUT, {
      callTimeoutMs: 5000,
      roundWaitTimeoutMs: 5000,
      transferTimeoutMs: 5000,
    });
    const evaluator = createParameterSource(address, { callTimeoutMs: 5000, transferTimeoutMs: 5000 });
    try {
      const early = await worker.register({ runId: '', workerName: 'early', backend: 'cpu' }).catch((e: unknown) => e);
      expect((early as ServiceError).code).toBe(Status.UNAVAILABLE);
      expect((early as ServiceError).details).toMatch(/the coordinator is starting/);
      expect(isUnavailable(early)).toBe(true);
      expect(isUnavailable(await evaluator.describe().catch((e: unknown) => e))).toBe(true);
      expect(isUnavailable(await worker.fetchParameters('w', 0).catch((e: unknown) => e))).toBe(true);
      expect(await healthOf(address)).toBe('NOT_SERVING');

      const controller = new RoundController({
        config,
        plan: planTraining(config, 16),
        layout: LAYOUT,
        params: new Float32Array(3),
        momentum: new Float32Array(3),
        sampler: new EpochSampler({ seed: 1, count: 16, batchSize: 4, syncEvery: 1 }),
        expectedWorkers: 1,
        roundTimeoutMs: 60_000,
        heartbeatTimeoutMs: 60_000,
        checkpointEveryRounds: 0,
        log: silent,
        hooks: { onEpochEnd: async () => {}, onCheckpoint: async () => {} },
      });
      listener.serve(controller, { config, layout: LAYOUT, log: silent }, { heartbeatIntervalMs: 1000 });
      expect((await evaluator.describe()).runId).toBe('bind-first');
      expect(await healthOf(address)).toBe('SERVING');
      // Another run's worker is told so, with the class a worker recognises.
      const other = await worker.register({ runId: 'another', workerName: 'w', backend: 'cpu' }).catch((e: unknown) => e);
      expect((other as ServiceError).code).toBe(Status.FAILED_PRECONDITION);
      expect((other as ServiceError).details).toBe('this coordinator runs bind-first, not another');
      controller.close('test over');
    } finally {
      worker.close();
      evaluator.close();
    }
  });

  it("a port in use is grpc-js's error, said as the flag to change", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const err = await bindCoordinatorServer({ host: '127.0.0.1', port, log: silent }).catch((e: unknown) => e);
      const explained = listenError(err, '127.0.0.1', port);
      expect(explained).toBeInstanceOf(ConfigError);
      expect(explained.message).toBe(`--port ${port}: address in use on 127.0.0.1 (another coordinator?); choose another --port or 0`);
    } finally {
      blocker.close();
    }
  });
});
