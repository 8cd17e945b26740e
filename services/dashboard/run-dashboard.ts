import { connectNatsReader } from '../../src/events/nats-reader.js';
import type { EventReader } from '../../src/events/event-reader.js';
import type { Logger } from '../../src/runtime/logger.js';
import { Board } from './board.js';
import { type DashboardServer, startDashboardServer } from './dashboard-server.js';
import { type NatsFeed, startNatsFeed } from './nats-feed.js';

/** `fleet dashboard`, compiled: where to read runs from, where to serve. */
export interface DashboardOptions {
  /** NATS server(s) to follow events on, or null: the runs folder only. */
  natsUrl: string | null;
  natsAuth?: { user?: string; pass?: string; token?: string; credsFile?: string };
  /** A folder of run and sweep directories, or null. */
  runsDir: string | null;
  host: string;
  port: number;
  /** Required beyond loopback (the CLI checks). */
  token: string | null;
  log: Logger;
  /** How often the runs folder is read again (default 2 s). */
  rescanMs?: number;
}

export interface RunningDashboard {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts the board's sources (NATS: a reader that never creates the stream;
 * the folder: read at start and every `rescanMs`), then the HTTP server.
 * A NATS that does not answer at start fails the command (NatsUnavailableError).
 */
export async function startDashboard(o: DashboardOptions): Promise<RunningDashboard> {
  const board = new Board({ nats: o.natsUrl, runs: o.runsDir });
  let reader: EventReader | null = null;
  let feed: NatsFeed | null = null;
  let server: DashboardServer | null = null;
  let rescanTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  const stop = async (): Promise<void> => {
    stopped = true;
    if (rescanTimer !== null) clearTimeout(rescanTimer);
    await server?.close();
    await feed?.stop();
    await reader?.close();
  };
  try {
    if (o.runsDir !== null) await board.rescan();
    if (o.natsUrl !== null) {
      reader = await connectNatsReader({ servers: o.natsUrl, name: 'dashboard', log: o.log, ...(o.natsAuth ? { auth: o.natsAuth } : {}) });
      feed = startNatsFeed({ reader, onEvent: (e) => board.apply(e), log: o.log.child({ component: 'feed' }) });
      await feed.ready;
    }
    if (o.runsDir !== null) {
      const rescanMs = o.rescanMs ?? 2000;
      const again = (): void => {
        rescanTimer = setTimeout(() => {
          board
            .rescan()
            .catch((err: Error) => o.log.warn({ dir: o.runsDir, err: err.message }, 'reading the runs folder failed'))
            .finally(() => {
              if (!stopped) again();
            });
        }, rescanMs);
      };
      again();
    }
    server = await startDashboardServer({ board, host: o.host, port: o.port, token: o.token, log: o.log });
  } catch (err) {
    await stop();
    throw err;
  }
  o.log.info(
    { url: server.url, port: server.port, host: o.host, nats: o.natsUrl, runs: o.runsDir, token: o.token !== null },
    'dashboard listening',
  );
  return { url: server.url, port: server.port, stop };
}
