/**
 * `total` split into `parts` sizes that differ by at most one, the larger
 * first: the contiguous cut of a DistributedSampler shard, of a batch into
 * local steps, and of a machine's CPUs among workers. No parts: no sizes.
 */
export function evenSizes(total: number, parts: number): number[] {
  if (parts <= 0) return [];
  const base = Math.floor(total / parts);
  const extra = total % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}
