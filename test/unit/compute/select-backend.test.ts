import * as tf from '@tensorflow/tfjs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { BackendUnavailableError, selectBackend, wasmKernelsInstalled } from '../../../src/compute/index.js';
import type { Logger } from '../../../src/runtime/logger.js';

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

  it("'auto' falls back to wasm when no native package is installed, and logs the choice", async () => {
    await selectBackend('cpu');
    const { log, lines } = capturingLogger();
    expect(await selectBackend('auto', log)).toEqual({ name: 'wasm', source: '@tensorflow/tfjs-backend-wasm' });
    const chosen = lines().find((l) => l.msg === 'compute backend selected');
    expect(chosen).toMatchObject({ backend: 'wasm', requested: 'auto' });
  });
});
