import { logVerbosity as LogVerbosity, setLogger, setLogVerbosity } from '@grpc/grpc-js';
import { format } from 'node:util';
import type { Logger } from '../runtime/logger.js';

// grpc-js's trace lines look like "<iso date> | v1.14.7 <pid> | <tracer> | <text>":
// the date and pid are pino's own fields already, the tracer becomes one.
const TRACE_LINE = /^\S+ \| v\S+ \d+ \| (\S+) \| ([\s\S]*)$/;

function emit(log: Logger, level: 'error' | 'info' | 'debug', message: unknown, rest: unknown[]): void {
  const text = format(message, ...rest);
  const trace = TRACE_LINE.exec(text);
  if (trace) log[level]({ tracer: trace[1] }, trace[2]!);
  else log[level](text);
}

function verbosityFor(log: Logger): LogVerbosity {
  const fromEnv = (process.env.GRPC_NODE_VERBOSITY ?? process.env.GRPC_VERBOSITY ?? '').toUpperCase();
  if (fromEnv === 'DEBUG') return LogVerbosity.DEBUG;
  if (fromEnv === 'INFO') return LogVerbosity.INFO;
  if (fromEnv === 'NONE') return LogVerbosity.NONE;
  if (fromEnv === 'ERROR') return LogVerbosity.ERROR;
  return log.isLevelEnabled('debug') ? LogVerbosity.DEBUG : LogVerbosity.ERROR;
}

/**
 * Sends grpc-js's own log lines (by default written to stderr as "E ...")
 * into pino, as a child logger with `component: 'grpc-js'`. The verbosity
 * follows GRPC_NODE_VERBOSITY / GRPC_VERBOSITY when set, else the logger's
 * level (debug: everything, otherwise errors only). grpc-js has one global
 * logger: call this once per process, with the root logger.
 */
export function routeGrpcLogs(root: Logger, verbosity: LogVerbosity = verbosityFor(root)): void {
  const log = root.child({ component: 'grpc-js' });
  setLogger({
    error: (message?: unknown, ...rest: unknown[]) => emit(log, 'error', message, rest),
    info: (message?: unknown, ...rest: unknown[]) => emit(log, 'info', message, rest),
    debug: (message?: unknown, ...rest: unknown[]) => emit(log, 'debug', message, rest),
  });
  setLogVerbosity(verbosity);
}
