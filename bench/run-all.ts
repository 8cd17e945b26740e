/**
 * `npm run bench`: every benchmark in turn, each printing its own figures.
 * FLEET_BENCH_ONLY=step-profile,... runs a subset. The figures of a run on
 * the build machines are recorded in docs/benchmarks.md, with command, commit and n.
 */
import { run as kernelFilterGrad } from './kernel-filter-grad.js';
import { gitSha } from './git-sha.js';
import { run as stepProfile } from './step-profile.js';
import { run as distributedThroughput } from './distributed-throughput.js';
import { run as exchangeRound } from './exchange-round.js';
import { run as exchangeTransport } from './exchange-transport.js';
import { run as vectorKernels } from './vector-kernels.js';
import { run as backendCompare } from './backend-compare.js';
import { run as scaleNull } from './scale-null.js';
import { run as compressRounding } from './compress-rounding.js';

const BENCHES: Record<string, () => Promise<void>> = {
  // Training images/s of the cnn at batch 128 on wasm, per-kernel split, fraction of forward conv GFLOP/s.
  'step-profile': stepProfile,
  // cnn and resnet18 training images/s on 1 and 2 cores: WASM, oneDNN and the PyTorch reference peer, with ratios.
  'backend-compare': backendCompare,
  // The filter gradient, the largest kernel of a step, per conv shape and variant.
  'kernel-filter-grad': kernelFilterGrad,
  // 2 workers over gRPC against two independent one-process trainings, on the real data.
  'distributed-throughput': distributedThroughput,
  // The coordinator's per-float loops (sum, finite scan, SGD): JS against the WebAssembly SIMD kernels.
  'vector-kernels': vectorKernels,
  // One gRPC round of a ResNet-18-sized tensor set with 1-8 workers, beside raw TCP; coordinator memory.
  'exchange-round': exchangeRound,
  // One 44.7 MB tensor set down and up over gRPC (fleet codec and generated codec) against raw TCP.
  'exchange-transport': exchangeTransport,
  // A real coordinator with 1-32 null workers (no compute) at cnn and resnet18 size, on loopback and behind 1 and 10 Gbit links, beside the star and ring models.
  'scale-null': scaleNull,
  // --compress on real cnn tensors: the error of one float16/bfloat16 transfer and of many rounds, to nearest and stochastic; codec speed.
  'compress-rounding': compressRounding,
};

const only = process.env.FLEET_BENCH_ONLY?.split(',').filter(Boolean);
const sha = gitSha();
console.log(`fleet benchmarks, git ${sha}, node ${process.version}, ${new Date().toISOString()}`);
for (const [name, run] of Object.entries(BENCHES)) {
  if (only && !only.includes(name)) continue;
  console.log(`\n=== ${name} ===`);
  await run();
}
