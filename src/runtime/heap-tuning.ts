import { setFlagsFromString } from 'node:v8';

/**
 * The old generation may grow to 2x its live size before a major GC.
 *
 * Why: a tensor exchange allocates 1 MiB message buffers at hundreds of MB/s
 * (grpc-js frames and reassembles every message), and those in flight when a
 * scavenge runs are promoted. V8's own growth factor for a small heap (the
 * coordinator's is ~27 MB) leaves about 10 MB of room, so promoted buffers
 * started a major GC every ~40 ms: 110 per 8-worker round of a ResNet-18-sized
 * model, a third of the coordinator's CPU and about as much in each worker.
 * With 2x, 8-worker rounds take 0.54-0.75 of the time (bench/exchange-round.ts,
 * side by side). 3x was faster still but let the coordinator's resident
 * memory pass 3x the parameter bytes above its baseline. Heaps stay small
 * either way: tensors live in typed arrays and WASM memory, outside the V8 heap.
 */
export const HEAP_GROWING_PERCENT = 100;

const FLAG = '--heap-growing-percent';

/** Sets V8's heap growth for this process; 0 gives V8 its own dynamic factor back. */
export function setHeapGrowingPercent(percent: number): void {
  setFlagsFromString(`${FLAG}=${percent}`);
}

/**
 * Applies HEAP_GROWING_PERCENT to this process, unless the user set the V8
 * flag already (node --heap-growing-percent=N; NODE_OPTIONS does not take
 * it). Call it first thing: V8 reads the factor each time it sets the next
 * GC limit.
 */
export function tuneHeapForTransfers(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => a === FLAG || a.startsWith(`${FLAG}=`))) return false;
  setHeapGrowingPercent(HEAP_GROWING_PERCENT);
  return true;
}
