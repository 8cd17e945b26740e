import type { Logger } from '../../src/runtime/logger.js';
import type { RoundController } from './rounds/round-controller.js';

/** What a graceful stop needs of a coordinator (createCoordinator's result). */
export interface StoppableCoordinator {
  controller: RoundController;
  /** Writes the checkpoint unless the file already holds the current state; true when written. */
  checkpointStop: () => Promise<boolean>;
}

/**
 * SIGTERM/SIGINT on a coordinator (a pod stopped, a node drained): the run
 * is put aside to be resumed, not failed. No new round starts; the round in
 * hand closes within `drainTimeoutMs` or is abandoned (its samples trained
 * again after the resume); the checkpoint is written; waiting workers are
 * answered UNAVAILABLE, so they retry and register with the restarted
 * coordinator. 'finished' when the round in hand was the run's last.
 */
export async function stopGracefully(
  coordinator: StoppableCoordinator,
  reason: string,
  drainTimeoutMs: number,
  log: Logger,
): Promise<'finished' | 'stopped'> {
  const { controller } = coordinator;
  log.warn(
    { reason, drainTimeoutMs, version: controller.currentVersion },
    'stopping: no new round; the round in hand closes or is abandoned within --drain-timeout, then a checkpoint',
  );
  const drained = await controller.drain(drainTimeoutMs);
  if (drained === 'finished') return 'finished';
  const written = await coordinator.checkpointStop();
  controller.close(reason, 'stopped');
  log.info({ drained, checkpoint: written ? 'written' : 'already up to date', version: controller.currentVersion }, 'drained');
  return 'stopped';
}
