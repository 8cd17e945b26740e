/**
 * Counter-based randomness. Every random choice made for a sample is a pure
 * function of (seed, epoch, sample index): the triple is hashed to a 64-bit key
 * and draw k is hash(key, k). Nothing depends on which worker trains the
 * sample, how many workers there are, or where the sample sits in its batch,
 * so a re-sharded run augments every image exactly as a single-worker run.
 *
 * Batch-level choices (Mixup/CutMix lambda, partner permutation, box) use a
 * separate domain keyed by (seed, epoch, batch key), where the caller supplies
 * the batch key, typically the global step. Those choices pair samples WITHIN
 * a batch, so unlike per-sample transforms they depend on batch composition.
 *
 * All arithmetic is 32-bit integer (Math.imul, >>>), identical on every engine.
 */
import { requireNonNegativeInt } from './validate.js';

/** What samplers need from a random source; tests may supply their own. */
export interface RandomStream {
  /** Uniform integer in [0, 2^32). */
  uint32(): number;
  /** Uniform double in [0, 1) with 53 random bits. */
  float(): number;
  /** Uniform integer in [0, n), n a positive integer <= 2^32. */
  int(n: number): number;
}

const GOLDEN = 0x9e3779b9;
/** Domain tags keep the per-sample and per-batch streams unrelated even when index === batchKey. */
const SAMPLE_DOMAIN = 0x5a3ce1a1;
const BATCH_DOMAIN = 0xb47c0d3e;
/** Second key word starts from a different constant so the two words are independent hashes. */
const SECOND_WORD = 0x27d4eb2f;

/** A bijective 32-bit mixer (Wellons' "lowbias32"); avalanche is good enough for augmentation choices. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Folds one 32-bit word into a running hash; bijective in `word` for a fixed `h`. */
function absorb(h: number, word: number): number {
  return mix32((h + GOLDEN + mix32(word >>> 0)) | 0);
}

/** Folds a non-negative safe integer (up to 53 bits) as its low and high 32-bit words. */
function absorbInt(h: number, value: number): number {
  return absorb(absorb(h, value >>> 0), (value / 4294967296) >>> 0);
}

/**
 * A stream of draws from one key. Mutable and resettable so the hot loop can
 * reuse one instance per batch instead of allocating one per sample.
 */
export class CounterRandom implements RandomStream {
  private k1 = 0;
  private k2 = 0;
  private counter = 0;

  /** Rekeys the stream from (domain, seed, epoch, key) and rewinds it to draw 0. */
  reset(domain: number, seed: number, epoch: number, key: number): this {
    const a = absorbInt(absorbInt(absorbInt(domain, seed), epoch), key);
    const b = absorbInt(absorbInt(absorbInt(domain ^ SECOND_WORD, seed), epoch), key);
    this.k1 = a;
    this.k2 = b;
    this.counter = 0;
    return this;
  }

  uint32(): number {
    // splitmix-style: a Weyl sequence through the mixer, then whitened by the second key word.
    this.counter = (this.counter + 1) | 0;
    return mix32(mix32((this.k1 + Math.imul(this.counter, GOLDEN)) | 0) ^ this.k2);
  }

  float(): number {
    const hi = this.uint32() >>> 5; // 27 bits
    const lo = this.uint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  int(n: number): number {
    return Math.floor(this.float() * n);
  }
}

/** The stream of a sample's transform choices. Validates its arguments. */
export function sampleRandom(seed: number, epoch: number, index: number, into: CounterRandom = new CounterRandom()): CounterRandom {
  requireNonNegativeInt('seed', seed);
  requireNonNegativeInt('epoch', epoch);
  requireNonNegativeInt('sample index', index);
  return into.reset(SAMPLE_DOMAIN, seed, epoch, index);
}

/** The stream of a batch's Mixup/CutMix choices; `batchKey` is the caller's name for the batch (e.g. global step). */
export function batchRandom(seed: number, epoch: number, batchKey: number, into: CounterRandom = new CounterRandom()): CounterRandom {
  requireNonNegativeInt('seed', seed);
  requireNonNegativeInt('epoch', epoch);
  requireNonNegativeInt('batchKey', batchKey);
  return into.reset(BATCH_DOMAIN, seed, epoch, batchKey);
}

/** Unchecked rekey for hot loops whose caller has already validated seed and epoch. */
export function resetSampleRandom(rng: CounterRandom, seed: number, epoch: number, index: number): CounterRandom {
  return rng.reset(SAMPLE_DOMAIN, seed, epoch, index);
}
