import { describe, expect, it } from 'vitest';
import { mostConfusedPair, readableScore, weakestClasses } from '../../../src/training/run-record/score-tables.js';

const scores = {
  classNames: ['cat', 'dog', 'bird'],
  accuracy: 0.6,
  perClassAccuracy: [0.4, 0.9, Number.NaN],
  confusion: [
    [4, 6, 0],
    [1, 9, 0],
    [0, 0, 0],
  ],
};

describe('an epoch result as a person reads it', () => {
  it('names the weakest classes (lowest first, classes without images left out) and the most confused pair', () => {
    expect(weakestClasses(scores)).toEqual([
      { name: 'cat', accuracy: 0.4 },
      { name: 'dog', accuracy: 0.9 },
    ]);
    expect(mostConfusedPair(scores)).toEqual({ trueClass: 'cat', predicted: 'dog', count: 6 });
    expect(readableScore(scores)).toEqual({
      accuracyPercent: '60.00%',
      weakest: 'cat 40.00%, dog 90.00%',
      mostConfused: 'cat taken for dog (6 images)',
    });
  });
});
