import { Worker } from 'node:worker_threads';
import type { GrpcSecurity } from '../../../src/rpc/security/index.js';

/** What the main thread tells the heartbeat thread: whom to report (null: registering) and the round in hand. */
export interface HeartbeatUpdate {
  workerId: string | null;
  round: number;
}

/** The thread's start-up data: plain values (structured clone), the channel is built inside it. */
export interface HeartbeatThreadData {
  coordinator: string;
  security: GrpcSecurity;
  workerId: string | null;
  intervalMs: number;
  callTimeoutMs: number;
}

/** Who sends a worker's heartbeats: the loop tells it the worker id and round, and stops it at the end. */
export interface HeartbeatSender {
  update(u: HeartbeatUpdate): void;
  stop(): Promise<void>;
}

/**
 * Heartbeats from a worker thread with its own gRPC channel: a step that
 * blocks the main thread (WASM or native kernels run synchronously) cannot
 * delay them, so the coordinator's --heartbeat-timeout can be seconds
 * whatever a step takes, and a killed or stopped worker is noticed in that
 * time. A thread that fails is reported through `onError` and beats from
 * this thread's timers take over (delayed by steps, never silent).
 */
export function startHeartbeatThread(
  data: HeartbeatThreadData,
  hooks: {
    onError: (err: Error) => void;
    onFailedBeat?: (message: string) => void;
    /** A heartbeat from this thread: the fallback once the thread has failed. */
    beatHere: (workerId: string, round: number) => Promise<unknown>;
  },
): HeartbeatSender {
  const thread = new Worker(new URL('./heartbeat-thread-main.js', import.meta.url), { workerData: data });
  // The thread must never keep a finished worker process alive.
  thread.unref();
  let exited = false;
  let state: HeartbeatUpdate = { workerId: data.workerId, round: 0 };
  let fallback: NodeJS.Timeout | null = null;
  const done = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  thread.on('message', (m: { failed?: string }) => {
    if (m.failed !== undefined) hooks.onFailedBeat?.(m.failed);
  });
  thread.on('error', (err) => {
    exited = true;
    hooks.onError(err);
    fallback = setInterval(() => {
      if (state.workerId !== null) hooks.beatHere(state.workerId, state.round).catch(() => {});
    }, data.intervalMs);
  });
  return {
    update(u) {
      state = u;
      if (!exited) thread.postMessage(u);
    },
    async stop() {
      if (fallback) clearInterval(fallback);
      if (exited) return;
      exited = true;
      thread.postMessage('stop');
      // It closes its channel and ends; a thread stuck in a call is terminated after a second.
      const timer = setTimeout(() => void thread.terminate(), 1000);
      await done;
      clearTimeout(timer);
    },
  };
}
