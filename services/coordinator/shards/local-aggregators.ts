import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../../../src/runtime/logger.js';
import { FleetError } from '../../../src/runtime/errors.js';

/** A local aggregator that did not come up (exited, or never said where it listens). */
export class LocalAggregatorError extends FleetError {}

/**
 * --shards K without --aggregators: K-1 `fleet aggregator` child processes on
 * this machine (`host`, any free port each), started with this process's
 * node and CLI entry; the token reaches them in their environment
 * (FLEET_TOKEN), not on a command line. Their log lines go to this
 * process's stderr, but for their 'listening' lines: launchers and tests take
 * the first 'listening' line of a coordinator for its port ('local aggregators
 * started' names theirs). Resolves with their addresses once each is listening.
 */
export async function startLocalAggregators(
  count: number,
  o: { host: string; advertise: string; token: string | null; log: Logger; startTimeoutMs?: number },
): Promise<{ addresses: string[]; stop: () => void }> {
  const entry = process.argv[1];
  if (!entry) throw new LocalAggregatorError('cannot start aggregators: this process has no script path to start them with');
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  };
  try {
    const addresses = await Promise.all(
      Array.from({ length: count }, (_, i) => {
        // FLEET_EXIT_WITH_PARENT: the child ends when its stdin (a pipe from this process) closes, so a coordinator
        // killed with SIGKILL leaves no aggregator behind.
        const env = { ...process.env, FLEET_EXIT_WITH_PARENT: '1', ...(o.token !== null ? { FLEET_TOKEN: o.token } : {}) };
        const child = spawn(process.execPath, [entry, 'aggregator', '--host', o.host, '--port', '0'], {
          env,
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        children.push(child);
        return new Promise<string>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new LocalAggregatorError(`aggregator ${i + 1} did not listen within ${o.startTimeoutMs ?? 60_000} ms`)),
            o.startTimeoutMs ?? 60_000,
          );
          child.once('exit', (code, signal) => {
            clearTimeout(timer);
            reject(new LocalAggregatorError(`aggregator ${i + 1} exited before it listened (${signal ?? `code ${code}`})`));
          });
          createInterface({ input: child.stdout! }).on('line', (line) => {
            const port = /"msg":"listening"/.test(line) ? /"port":(\d+)/.exec(line)?.[1] : undefined;
            if (!port) process.stderr.write(`${line}\n`);
            else {
              clearTimeout(timer);
              resolve(`${o.advertise}:${port}`);
            }
          });
        });
      }),
    );
    o.log.info({ aggregators: addresses, pids: children.map((c) => c.pid) }, 'local aggregators started');
    return { addresses, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
