import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainConfigFrom } from '../../../cli/train-command.js';
import { parseFleet, variablesByCommand } from '../../helpers/fleet-args.js';
import {
  containerEnv,
  find,
  kubectl,
  OVERLAYS,
  renderOverlay,
  workloadOf,
  workloads,
  type Container,
  type K8sObject,
} from '../../helpers/kustomize.js';

/**
 * The manifests against fleet itself: every fleet command line in them (a
 * container's args, an exec probe) is parsed by fleet's own program with the
 * variables the pod would have and the config file it would mount: an
 * unknown subcommand, flag, variable, file key or a bad value fails here,
 * not in a pod. The coordinator's whole training configuration is validated.
 */

const CONFIG_PATH = '/etc/fleet/run.yaml';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-deploy-args-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const isFleet = (c: Container) => /^fleet(-gpu)?(:|$)/.test(c.image);

/** The args with the mounted run.yaml replaced by a file holding the overlay's ConfigMap (what the pod reads). */
async function withConfigFile(objects: readonly K8sObject[], overlay: string, args: readonly string[]): Promise<string[]> {
  if (!args.includes(CONFIG_PATH)) return [...args];
  const file = join(dir, `${overlay}-run.yaml`);
  await writeFile(file, find(objects, 'ConfigMap', 'fleet-run').data!['run.yaml']!);
  return args.map((a) => (a === CONFIG_PATH ? file : a));
}

describe.skipIf(kubectl() === null)('deploy/kubernetes: fleet commands, flags and variables', () => {
  it.each(OVERLAYS)('overlays/%s: every fleet container command parses with its pod variables and config file', async (overlay) => {
    const objects = renderOverlay(overlay);
    const byCommand = variablesByCommand();
    const ran: string[] = [];
    for (const w of workloads(objects)) {
      for (const c of w.template.spec.containers.filter(isFleet)) {
        expect(c.command, `${w.name}: the image's entrypoint is fleet`).toBeUndefined();
        const env = containerEnv(objects, c);
        const parsed = await parseFleet(await withConfigFile(objects, overlay, c.args!), env);
        ran.push(parsed.path);
        // Every variable set on the container itself is one its command reads (the shared ConfigMap serves several commands).
        for (const e of c.env ?? []) expect(byCommand.get(parsed.path), `${w.name}: ${e.name}`).toContain(e.name);
        if (parsed.path === 'coordinator') {
          const config = trainConfigFrom(parsed.flags, parsed.command);
          expect(config.workers).toBe(workloadOf(objects, 'worker').job!.parallelism);
          expect(config.runId).toBe(env.FLEET_RUN_ID);
          expect(config.outDir).toBe(env.FLEET_OUT);
          expect(config.dataDir).toBe(env.FLEET_DATA_DIR);
          expect(parsed.flags.resume).toBe('auto');
          expect(parsed.flags.externalEvaluator).toBe(true);
          expect(parsed.flags.tokenFile).toBe('/etc/fleet/token/token');
        }
        if (parsed.path === 'worker' || parsed.path === 'evaluator') {
          expect(parsed.flags.coordinator).toBe('fleet-coordinator:7070');
          expect(parsed.flags.tokenFile).toBe('/etc/fleet/token/token');
        }
        for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
          const command = probe?.exec?.command;
          if (!command) continue;
          expect(command[0]).toBe('fleet');
          const probeParsed = await parseFleet(command.slice(1), env);
          expect(probeParsed.path).toBe('health');
        }
      }
    }
    expect(ran.sort()).toEqual(['coordinator', 'data download', 'evaluator', 'worker']);
  });

  it.each(OVERLAYS)('overlays/%s: every variable of the shared ConfigMap is read by a fleet command of a pod that uses it', (overlay) => {
    const objects = renderOverlay(overlay);
    const byCommand = variablesByCommand();
    const shared = find(objects, 'ConfigMap', 'fleet-env').data!;
    const readers = new Set<string>();
    for (const w of workloads(objects)) {
      for (const c of w.template.spec.containers.filter(isFleet)) {
        if (!c.envFrom?.some((f) => f.configMapRef?.name === 'fleet-env')) continue;
        const path = c.args![0] === 'data' ? `data ${c.args![1]}` : c.args![0]!;
        for (const v of byCommand.get(path) ?? []) readers.add(v);
      }
    }
    for (const name of Object.keys(shared)) expect(readers, `fleet-env ${name}`).toContain(name);
  });

  it('the check can fail: a misspelt flag, an unknown config key and a bad variable are refused with fleet’s message', async () => {
    const objects = renderOverlay('cpu');
    const c = workloadOf(objects, 'coordinator').template.spec.containers[0]!;
    const env = containerEnv(objects, c);
    const args = await withConfigFile(objects, 'cpu', c.args!);
    await expect(parseFleet([...args, '--drain-timout', '60s'], env)).rejects.toThrow(/unknown option '--drain-timout'/);
    await expect(parseFleet(args, { ...env, FLEET_LEDGER: 'maybe' })).rejects.toThrow(/FLEET_LEDGER \(--ledger\)/);
    const bad = join(dir, 'bad-run.yaml');
    await writeFile(bad, `${find(objects, 'ConfigMap', 'fleet-run').data!['run.yaml']!}\nbatchsize: 64\n`);
    await expect(parseFleet(['coordinator', '--config', bad], env)).rejects.toThrow(/batchsize.*unknown key/);
    const worker = workloadOf(objects, 'worker').template.spec.containers[0]!;
    const { FLEET_COORDINATOR: _, ...withoutCoordinator } = containerEnv(objects, worker);
    await expect(parseFleet(worker.args!, withoutCoordinator)).rejects.toThrow(/--coordinator/);
  });
});
