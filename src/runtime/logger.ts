import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Fields every log line may carry; absent ones are simply omitted. */
export interface LogScope {
  service?: string;
  run?: string;
  worker?: string | number;
  round?: number;
  epoch?: number;
}

/**
 * One pino root per process. JSON to stdout by default (machines read it);
 * pretty when FLEET_LOG_PRETTY=1 or stdout is a terminal. LOG_LEVEL sets the level.
 */
export function createRootLogger(scope: LogScope = {}, options: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = process.env.LOG_LEVEL ?? 'info';
  const pretty =
    options.pretty ?? (process.env.FLEET_LOG_PRETTY === '1' || (process.env.FLEET_LOG_PRETTY !== '0' && process.stdout.isTTY === true));
  const base: LoggerOptions = { level, base: { pid: process.pid, ...scope } };
  if (options.destination) return pino(base, options.destination);
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' } },
    });
  }
  return pino(base);
}
