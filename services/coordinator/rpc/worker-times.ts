import type { Contribution } from '../rounds/round-types.js';

/**
 * The worker's own download and previous upload times from a contribution's
 * header, for the events. Only plausible values pass (finite, >= 0, an
 * earlier round): a figure is informative, so a bad one is dropped, never
 * a reason to refuse the contribution.
 */
export function workerTimes(header: {
  round: number;
  downloadMs?: number | undefined;
  previousUploadMs?: number | undefined;
  previousUploadRound?: number | undefined;
}): Pick<Contribution, 'downloadMs' | 'previousUpload'> {
  const ms = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x) && x >= 0;
  const out: Pick<Contribution, 'downloadMs' | 'previousUpload'> = {};
  if (ms(header.downloadMs)) out.downloadMs = header.downloadMs;
  const round = header.previousUploadRound;
  if (ms(header.previousUploadMs) && round !== undefined && Number.isInteger(round) && round < header.round)
    out.previousUpload = { ms: header.previousUploadMs, round };
  return out;
}
