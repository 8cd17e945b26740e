import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { ExitWith, exitAfter, serviceExitCode } from '../../../src/runtime/stopped-exit.js';
import { parseFleet } from '../../helpers/fleet-args.js';

/**
 * --stopped-exit-code (FLEET_STOPPED_EXIT_CODE): the exit code of fleet
 * coordinator, worker and evaluator when a signal stopped them before their
 * run finished; a finished run exits 0 whatever it says. The processes
 * themselves: test/integration/manifest-commands.test.ts (143, as the
 * Kubernetes manifests set it) and graceful-stop.test.ts (the default 0).
 */

const silent = pino({ level: 'silent' });
const SERVICES: { service: string; args: readonly string[] }[] = [
  { service: 'coordinator', args: ['coordinator'] },
  { service: 'worker', args: ['worker', '--coordinator', '127.0.0.1:7070'] },
  { service: 'evaluator', args: ['evaluator', '--coordinator', '127.0.0.1:7070'] },
];

describe('the exit code of a stopped service', () => {
  it('a finished run exits 0 whatever --stopped-exit-code says; a stop before the end exits the chosen code', () => {
    expect(serviceExitCode('finished', 143)).toBe(0);
    expect(serviceExitCode('stopped', 143)).toBe(143);
    expect(serviceExitCode('stopped', 0)).toBe(0);
    expect(() => exitAfter('finished', 143, silent)).not.toThrow();
    expect(() => exitAfter('stopped', 0, silent)).not.toThrow();
    let thrown: unknown;
    try {
      exitAfter('stopped', 143, silent);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ExitWith);
    expect((thrown as ExitWith).exitCode).toBe(143);
  });

  it.each(SERVICES)('fleet $service: default 0, FLEET_STOPPED_EXIT_CODE, the flag wins over the variable', async ({ args }) => {
    expect((await parseFleet(args, {})).flags.stoppedExitCode).toBe(0);
    expect((await parseFleet(args, { FLEET_STOPPED_EXIT_CODE: '143' })).flags.stoppedExitCode).toBe(143);
    expect((await parseFleet([...args, '--stopped-exit-code', '1'], { FLEET_STOPPED_EXIT_CODE: '143' })).flags.stoppedExitCode).toBe(1);
  });

  it.each(SERVICES)('fleet $service: a value that is no exit code is refused, naming the flag and the variable', async ({ args }) => {
    await expect(parseFleet([...args, '--stopped-exit-code', '256'], {})).rejects.toThrow(
      /--stopped-exit-code <n>' argument '256' is invalid\. '256' is not an exit code \(0 to 255\)/,
    );
    await expect(parseFleet([...args, '--stopped-exit-code', '-1'], {})).rejects.toThrow(/'-1' is not an exit code/);
    await expect(parseFleet(args, { FLEET_STOPPED_EXIT_CODE: '14.3' })).rejects.toThrow(
      /--stopped-exit-code <n>' value '14\.3' from env 'FLEET_STOPPED_EXIT_CODE' is invalid\. '14\.3' is not a whole number/,
    );
  });

  it('fleet train has no --stopped-exit-code: it ends its local cluster itself and exits 130/143 when interrupted', async () => {
    await expect(parseFleet(['train', '--stopped-exit-code', '143'], {})).rejects.toThrow(/unknown option '--stopped-exit-code'/);
  });
});
