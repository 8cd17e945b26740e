/**
 * What the network alone costs a synchronous round, for W workers and a
 * tensor set of P bytes on links of R bits/s (docs/scaling.md):
 *
 * - star (fleet's coordinator): every worker downloads the parameters from
 *   the coordinator and uploads a contribution to it, so the coordinator's
 *   link carries 2 x W x P bytes a round. fleet's round is phased (the
 *   downloads start together and end together, then the uploads), so the
 *   two directions of the full-duplex link are busy one after the other:
 *   2 x W x P / R. Perfect overlap of the two would halve it.
 * - ring all-reduce (reduce-scatter then all-gather, no central node):
 *   each worker sends and receives 2 x (W - 1) / W x P bytes over its own
 *   link, all links at once: 2 x (W - 1) / W x P / R, under 2 x P / R
 *   whatever W. Latency terms (2 x (W - 1) steps) are left out.
 *
 * Both are lower bounds of the transfer time: no protocol overhead, no CPU.
 */

/** Seconds the coordinator's link needs for one round of the star: 2 x W x P bytes at R bit/s. */
export function starRoundSeconds(workers: number, parameterBytes: number, linkBitsPerSecond: number): number {
  return (2 * workers * parameterBytes * 8) / linkBitsPerSecond;
}

/** Seconds one ring all-reduce of P bytes over W workers needs on links of R bit/s: 2 x (W - 1) / W x P each. */
export function ringRoundSeconds(workers: number, parameterBytes: number, linkBitsPerSecond: number): number {
  return (((2 * (workers - 1)) / workers) * parameterBytes * 8) / linkBitsPerSecond;
}

/** Bytes through the coordinator's link in one round of the star: 2 x W x P. */
export function starRoundBytes(workers: number, parameterBytes: number): number {
  return 2 * workers * parameterBytes;
}

/**
 * The largest worker count whose star exchange fits in one step time
 * (2 x W x P / R <= stepSeconds); beyond it the coordinator's link takes
 * longer than the computation it serves. 0 when even one worker's exchange
 * takes longer than a step.
 */
export function starWorkersWithinStep(stepSeconds: number, parameterBytes: number, linkBitsPerSecond: number): number {
  return Math.floor((stepSeconds * linkBitsPerSecond) / (2 * parameterBytes * 8));
}
