import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SgdMomentum } from '../../../src/training/sgd-momentum.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('SGD with momentum and weight decay', () => {
  it('matches the PyTorch update rule step by step', () => {
    const p = tf.variable(tf.tensor1d([1, -2]), true, 'p_sgd');
    const params = new Map([['p_sgd', p]]);
    const sgd = new SgdMomentum({ momentum: 0.9, weightDecay: 0.1 });
    // Reference in plain numbers: g = grad + wd*p; buf = g (first) or 0.9*buf + g; p -= lr*buf
    let ref = [1, -2];
    let buf: number[] | null = null;
    const gradsSeq = [
      [0.5, 0.25],
      [-1, 2],
      [0.3, 0.3],
    ];
    for (const gv of gradsSeq) {
      const grad = tf.tensor1d(gv);
      sgd.apply(params, { p_sgd: grad }, 0.05);
      grad.dispose();
      const g = ref.map((v, i) => gv[i]! + 0.1 * v);
      buf = buf === null ? g : buf.map((b, i) => 0.9 * b + g[i]!);
      ref = ref.map((v, i) => v - 0.05 * buf![i]!);
      const got = Array.from(p.dataSync());
      for (const [i, v] of got.entries()) expect(v).toBeCloseTo(ref[i]!, 6);
    }
    expect(sgd.step).toBe(3);
    sgd.dispose();
    p.dispose();
  });

  it('leaves parameters without a gradient untouched and does not leak tensors', () => {
    const a = tf.variable(tf.tensor1d([1]), true, 'a_sgd');
    const b = tf.variable(tf.tensor1d([2]), true, 'b_sgd');
    const sgd = new SgdMomentum({ momentum: 0.9, weightDecay: 5e-4 });
    const grad = tf.tensor1d([1]);
    sgd.apply(
      new Map([
        ['a_sgd', a],
        ['b_sgd', b],
      ]),
      { a_sgd: grad },
      0.1,
    );
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++)
      sgd.apply(
        new Map([
          ['a_sgd', a],
          ['b_sgd', b],
        ]),
        { a_sgd: grad },
        0.1,
      );
    expect(tf.memory().numTensors).toBe(before);
    expect(b.dataSync()[0]).toBe(2);
    expect(a.dataSync()[0]).toBeLessThan(1);
    sgd.dispose();
  });
});
