/**
 * What each benchmark measures and its knobs with their defaults, for the
 * table at the top of docs/benchmarks.md. The defaults are sized so a full
 * `npm run bench` stays under 25 minutes on a 2-core machine; the knobs give
 * the bigger runs. A benchmark missing here still gets its section.
 */
import type { CatalogEntry } from './render-benchmarks.js';

export const BENCH_CATALOG: CatalogEntry[] = [
  {
    name: 'step-profile',
    measures:
      'the `cnn` at batch 128 on the WASM backend, one process: images/s, the per-kernel split of a step, the step GFLOP/s as a fraction of the forward conv2d GFLOP/s measured in the same run',
    knobs: '`FLEET_BENCH_MODES` (untuned,fleet; add `upstream`, slow), `FLEET_BENCH_STEPS` (5), `FLEET_BENCH_BATCH` (128)',
  },
  {
    name: 'backend-compare',
    measures:
      "training images/s on 1 and 2 cores for fleet's WASM backend, its oneDNN backend (when the addon is built) and the PyTorch reference peer (bench/reference, when python3-torch is installed), with fleet/PyTorch and oneDNN/WASM ratios; fresh processes per row, rows repeated in rounds",
    knobs:
      '`FLEET_BENCH_MODELS` (cnn; add resnet18, about 10 min more), `FLEET_BENCH_BACKENDS` (wasm,onednn,pytorch), `FLEET_BENCH_CORES` (1,2), `FLEET_BENCH_ROUNDS` (1; 2 for rows measured at two times), `FLEET_BENCH_STEPS` (3 per process), `FLEET_BENCH_WARMUP` (1), `FLEET_BENCH_BATCH` (128), `FLEET_BENCH_RESNET18_BATCH` (64), `FLEET_BENCH_PYTHON`',
  },
  {
    name: 'kernel-filter-grad',
    measures: 'the filter gradient, the largest kernel of a step, per conv shape and variant: GFLOP/s',
    knobs: '`FLEET_BENCH_VARIANTS`, `FLEET_BENCH_SHAPES`, `FLEET_BENCH_REPS` (5), `FLEET_BENCH_BATCH` (128)',
  },
  {
    name: 'distributed-throughput',
    measures:
      "2 workers over gRPC against two independent one-process trainings at the same time, measured before and after the distributed runs (the reference is their mean), on the real data (cnn, batch 64 a worker); each variant's worker rounds split into compute, exchange and wait",
    knobs:
      '`FLEET_BENCH_BACKEND` (onednn when the addon is built, else wasm), `FLEET_BENCH_VARIANTS` (equal; also equal-no-prefetch, speed, speed-gc-off, speed-pinned), `FLEET_BENCH_REPEATS` (2), `FLEET_BENCH_STEPS` (24), `FLEET_BENCH_DATA` (../shared/cifar10)',
  },
  {
    name: 'vector-kernels',
    measures:
      "the coordinator's per-float loops (sum, finite scan, SGD) on 11.2 M floats: JS loops against the WebAssembly SIMD kernels of src/compute/vector-math, in place and staged, ns a float",
    knobs: '`FLEET_BENCH_REPEATS` (7)',
  },
  {
    name: 'exchange-round',
    measures:
      "one round (every worker downloads the parameters and uploads a gradient set) of a ResNet-18-sized set (11.2 M floats, 44.7 MB) on loopback, beside raw TCP moving the same bytes in a round of the same shape and in one stream; the coordinator's resident memory above its baseline; with `FLEET_BENCH_TUNINGS=1` the largest round again with V8's default heap growth and with its parallel GC",
    knobs:
      '`FLEET_BENCH_WORKERS` (2,8; the full table 1,2,4,8), `FLEET_BENCH_ROUNDS` (5), `FLEET_BENCH_MODEL` (resnet18), `FLEET_BENCH_COMPRESS` (unset; e.g. none,fp16,bf16: each worker count once per format, with the bytes a round moved), `FLEET_BENCH_TUNINGS` (unset; 1)',
  },
  {
    name: 'exchange-transport',
    measures: "one 44.7 MB tensor set downloaded and uploaded over gRPC (fleet's chunk codec and the generated one) against raw TCP, MB/s",
    knobs: '`FLEET_BENCH_RUNS` (5)',
  },
  {
    name: 'scale-null',
    measures:
      "a real `fleet coordinator` with null workers (fleet's gRPC client, the model's tensor set, no compute) in the multi-host test bed, the coordinator's link held to a rate by tbf (or on loopback): round time beside the star model (2 x workers x bytes / link rate) and a ring all-reduce's, the bytes on the coordinator's link, CPU per round; [scaling.md](scaling.md)",
    knobs:
      '`FLEET_BENCH_MODELS` (cnn; resnet18 is 3.4x the bytes), `FLEET_BENCH_WORKERS` (16,32; the full table 1,2,4,8,16,32), `FLEET_BENCH_PLACES` (hosts; also loopback), `FLEET_BENCH_RATES` (1gbit; also 10gbit), `FLEET_BENCH_ROUNDS` (3), `FLEET_BENCH_WARMUP` (1), `FLEET_BENCH_PROCESSES` (8), `FLEET_BENCH_TCP_MB` (two seconds of the link, at least 250)',
  },
  {
    name: 'compress-rounding',
    measures:
      "`--compress` on the `cnn`: the bytes a 2-worker round moves with none, fp16 and bf16 (the coordinator's server counting them); on its real tensors after 20 SGD steps on CIFAR-10, the error of one float16/bfloat16 transfer and of many rounds of gradients and of local SGD's parameters, to nearest and stochastic; ns a float to encode and decode",
    knobs:
      '`FLEET_BENCH_ROUNDS` (20; 50 for the table in benchmark-history.md, 2.5x as long), `FLEET_BENCH_MODEL` (cnn), `FLEET_BENCH_DATA` (../shared/cifar10)',
  },
  {
    name: 'shards',
    measures:
      "`--shards K`: 8 null workers against a coordinator and K-1 aggregators, each on its own host of the multi-host test bed with a tbf-limited link: round time for K = 1, 2, 4 beside the model (the busiest link's bytes, 2 x workers x parameter bytes / K, at the link's rate) and the busiest link's measured bytes",
    knobs:
      '`FLEET_BENCH_SHARDS` (1,2,4), `FLEET_BENCH_SHARD_MODEL` (resnet, 1.1 MB), `FLEET_BENCH_SHARD_RATE` (25mbit), `FLEET_BENCH_SHARD_WORKERS` (8), `FLEET_BENCH_SHARD_ROUNDS` (3), `FLEET_BENCH_SHARD_WARMUP` (1), `FLEET_BENCH_SHARD_PROCESSES` (8)',
  },
  {
    name: 'wire-abuse',
    measures:
      "a real coordinator and 2 workers (generated images) undisturbed, then as long again while raw clients misbehave (open Contribute crowds, 2 MiB messages, uploads past their manifest and from no member, fetch floods, silent TCP connections), in one run: the workers' round time and the coordinator's resident memory in each phase, and what the wire limits refused",
    knobs:
      '`FLEET_BENCH_SECONDS` (20 a phase), `FLEET_BENCH_MODEL` (cnn), `FLEET_BENCH_BATCH` (32), `FLEET_BENCH_ABUSE` (crowd,uploads,fetch,silent)',
  },
  {
    name: 'compress-accuracy',
    measures:
      '`--compress` on real data: test accuracy after 1 epoch of 2 workers (cnn, 10,000 images of data_batch_1.bin, seed 1) with none, fp16 and bf16, one after another. Not part of `npm run bench` (about an hour here); its figures are carried in docs/benchmarks.json with their own date and commit',
    knobs: '-',
  },
  {
    name: 'garbage-worker',
    measures:
      "the contribution check against a worker that computes garbage: 3 workers on a subset of the real data, clean at 5 seeds (final test accuracy after 6 epochs, and after 2, mean +- std) and with one worker uploading scaled x100, sign-flipped or random gradients, or noise with no direction at 10x its own norm (under the norm factor: clipped; and with the clip off, side by side) from a given round; each faulty run's accuracy against the clean spread, its refusals, clips and quarantines (by rule), the ledger; the honest figures (norm over the window median, cosine with the round's earlier contributions)",
    knobs:
      '`FLEET_BENCH_MODEL` (tiny), `FLEET_BENCH_TRAIN` (2400), `FLEET_BENCH_TEST` (1000), `FLEET_BENCH_EPOCHS` (6), `FLEET_BENCH_EARLY_EPOCH` (2; 0: none), `FLEET_BENCH_BATCH` (48 a worker), `FLEET_BENCH_LR` (0.02 a worker), `FLEET_BENCH_SEEDS` (1,2,3,4,5), `FLEET_BENCH_FAULTS` (scale:100,sign-flip,random,noise:10,noise:10/noclip; /noclip: --contribution-clip-factor 0), `FLEET_BENCH_FAULT_ROUND` (8), `FLEET_BENCH_FAULT_SEEDS` (the clean seeds), `FLEET_BENCH_DATA` (../shared/cifar10)',
  },
];
