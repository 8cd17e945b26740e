import * as tf from '@tensorflow/tfjs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { BackendUnavailableError, selectBackend, wasmKernelsInstalled } from '../../../src/compute/index.js';
import type { Logger } from '../../../src/runtime/logger.js';
import { loadOnednn } from '../../../src/compute/onednn/index.js';

function capturingLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = pino({ level: 'debug' }, stream) as unknown as Logger;
  return {
    log,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('selectBackend', () => {
  it("'cpu' activates the JavaScript backend", async () => {
    expect(await selectBackend('cpu')).toEqual({ name: 'cpu', source: 'builtin' });
    expect(tf.getBackend()).toBe('cpu');
  });

  it("'wasm' activates wasm with fleet's kernels registered", async () => {
    expect(await selectBackend('wasm')).toEqual({ name: 'wasm', source: '@tensorflow/tfjs-backend-wasm' });
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmKernelsInstalled()).toBe(true);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it("'tensorflow' fails with a clear error saying how to install the native backend", async () => {
    const err = await selectBackend('tensorflow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const message = (err as Error).message;
    expect(message).toContain('npm install @tensorflow/tfjs-node-gpu@4.22.0');
    expect(message).toContain('CUDA 11.2');
    expect(message).toContain('cuDNN 8.1');
    expect(message).toContain('CUDA_VISIBLE_DEVICES');
    expect(message).toContain('@tensorflow/tfjs-node@4.22.0');
  });

  it("'auto' takes oneDNN's kernels when the addon is built, else wasm, and logs the choice", async () => {
    await selectBackend('cpu');
    const { log, lines } = capturingLogger();
    const built = loadOnednn() !== null;
    const selected = await selectBackend('auto', log, { threads: 1 });
    if (built) expect(selected).toMatchObject({ name: 'onednn', threads: 1 });
    else expect(selected).toEqual({ name: 'wasm', source: '@tensorflow/tfjs-backend-wasm' });
    const chosen = lines().find((l) => l.msg === 'compute backend selected');
    expect(chosen).toMatchObject({ backend: built ? 'onednn' : 'wasm', requested: 'auto' });
  });

  it("'wasm' is the WASM backend with fleet's WASM kernels even where oneDNN is built", async () => {
    expect(await selectBackend('wasm')).toEqual({ name: 'wasm', source: '@tensorflow/tfjs-backend-wasm' });
    expect(tf.getBackend()).toBe('wasm');
  });

  it.skipIf(loadOnednn() !== null)("'onednn' without the addon fails saying how to get it", async () => {
    const err = await selectBackend('onednn').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toContain('apt-get install libdnnl-dev');
  });
});
