import type { Compress } from '../runtime/config/run-config.js';
import type { TensorDtype } from './tensor-layout.js';
import type { RoundingKey, WireFormat } from './tensor-set-encode.js';

/** --compress as the dtype tensor sets travel in. */
export function wireDtypeOf(compress: Compress): TensorDtype {
  return compress === 'fp16' ? 'float16' : compress === 'bf16' ? 'bfloat16' : 'float32';
}

/**
 * How the coordinator sends parameters to workers: rounded to nearest. The
 * master stays float32 and takes every update whole; a worker computes its
 * gradient at the rounded point, which moves as soon as the master has
 * moved half a step, so nothing is lost and the smaller error wins.
 */
export function parameterWire(compress: Compress): WireFormat {
  return { dtype: wireDtypeOf(compress), rounding: 'nearest' };
}

/**
 * How a worker sends its contribution. Gradients (--sync-every 1) are
 * averaged into a float32 update: rounded to nearest, the smaller error.
 * Parameters after K local steps (--sync-every K > 1) are averaged into the
 * master itself: rounded to nearest, an update smaller than half a step of
 * the 16-bit format would be rounded away every round (the master would
 * stall where its values are large); rounded stochastically it survives in
 * expectation. The draws are keyed by the run's seed, the round, the
 * worker's position among the round's members and the tensor, so a run
 * is reproducible. Measured: docs/benchmarks.md (compress-rounding) and docs/benchmark-history.md, "Compressed exchange".
 */
export function contributionWire(compress: Compress, kind: 'gradients' | 'parameters', key: RoundingKey): WireFormat {
  const dtype = wireDtypeOf(compress);
  if (dtype === 'float32' || kind === 'gradients') return { dtype, rounding: 'nearest' };
  return { dtype, rounding: 'stochastic', key };
}
