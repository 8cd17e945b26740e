import { experimental, logVerbosity as LogVerbosity } from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { routeGrpcLogs } from '../../../src/rpc/index.js';

describe('routeGrpcLogs', () => {
  it('sends grpc-js log lines into pino with component grpc-js, the trace tracer as a field, and honours the verbosity', () => {
    const lines: Record<string, unknown>[] = [];
    const root = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        },
      },
    );
    routeGrpcLogs(root, LogVerbosity.DEBUG);
    experimental.log(LogVerbosity.ERROR, 'connection to %s failed', '127.0.0.1:1');
    experimental.log(
      LogVerbosity.DEBUG,
      `${new Date().toISOString()} | v1.14.7 ${process.pid} | subchannel | (1) 127.0.0.1:1 CONNECTING -> TRANSIENT_FAILURE`,
    );
    expect(lines[0]).toMatchObject({ level: 50, component: 'grpc-js', msg: 'connection to 127.0.0.1:1 failed' });
    expect(lines[1]).toMatchObject({
      level: 20,
      component: 'grpc-js',
      tracer: 'subchannel',
      msg: '(1) 127.0.0.1:1 CONNECTING -> TRANSIENT_FAILURE',
    });

    routeGrpcLogs(root, LogVerbosity.ERROR);
    experimental.log(LogVerbosity.INFO, 'not shown');
    expect(lines).toHaveLength(2);
  });
});
