import { describe, expect, it } from 'vitest';
import { epochPermutation } from '../../../src/training/epoch-order.js';

describe('epoch order', () => {
  it('is a permutation of all indices', () => {
    const order = epochPermutation(7, 1, 1000);
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('is a pure function of seed and epoch', () => {
    expect(epochPermutation(7, 3, 500)).toEqual(epochPermutation(7, 3, 500));
    expect(epochPermutation(7, 3, 500)).not.toEqual(epochPermutation(7, 4, 500));
    expect(epochPermutation(7, 3, 500)).not.toEqual(epochPermutation(8, 3, 500));
  });
});
