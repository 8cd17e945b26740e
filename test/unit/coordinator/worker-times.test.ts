import { describe, expect, it } from 'vitest';
import { workerTimes } from '../../../services/coordinator/rpc/worker-times.js';

/** The worker's transfer times from a contribution's header: passed to the events when plausible, dropped otherwise. */
describe('workerTimes', () => {
  it("passes this round's download and the previous contribution's upload with its round", () => {
    expect(workerTimes({ round: 5, downloadMs: 12.5, previousUploadMs: 30, previousUploadRound: 4 })).toEqual({
      downloadMs: 12.5,
      previousUpload: { ms: 30, round: 4 },
    });
    // No download needed (the parameters were current); a first contribution has no previous upload.
    expect(workerTimes({ round: 0, downloadMs: 0 })).toEqual({ downloadMs: 0 });
    // A worker older than the fields sends none.
    expect(workerTimes({ round: 3 })).toEqual({});
  });

  it('drops a figure that is not finite and >= 0, or an upload not of an earlier round', () => {
    for (const downloadMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(workerTimes({ round: 2, downloadMs })).toEqual({});
    expect(workerTimes({ round: 2, previousUploadMs: -5, previousUploadRound: 1 })).toEqual({});
    expect(workerTimes({ round: 2, previousUploadMs: 5, previousUploadRound: 2 })).toEqual({});
    expect(workerTimes({ round: 2, previousUploadMs: 5 })).toEqual({});
    expect(workerTimes({ round: 2, downloadMs: 3, previousUploadMs: Number.NaN, previousUploadRound: 1 })).toEqual({ downloadMs: 3 });
  });
});
