import { type LineProcess, startLineProcess } from './line-process.js';
import { FLEET_BIN } from './run-fleet.js';

/** A real `fleet` child process with its output collected line by line. */
export type FleetProcess = LineProcess;

export function startFleet(args: string[], env: Record<string, string> = {}): FleetProcess {
  return startLineProcess(process.execPath, [FLEET_BIN, ...args], env);
}

/** Starts `fleet coordinator --port 0 ...` and resolves with its real port. */
export async function startCoordinator(args: string[]): Promise<FleetProcess & { port: number }> {
  const p = startFleet(['coordinator', '--host', '127.0.0.1', '--port', '0', ...args]);
  const line = await p.waitFor(/"msg":"listening"/);
  return { ...p, port: Number(/"port":(\d+)/.exec(line)![1]) };
}
