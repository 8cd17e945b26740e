export type StopSignal = 'SIGINT' | 'SIGTERM';

/**
 * Calls `onStop` for the first SIGINT or SIGTERM (Ctrl-C, a pod's stop),
 * until the returned function removes the handlers: each process stops
 * cleanly on either, and a second signal falls through to Node's default.
 */
export function onStopSignal(onStop: (signal: StopSignal) => void): () => void {
  const handler = (signal: StopSignal) => onStop(signal);
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
