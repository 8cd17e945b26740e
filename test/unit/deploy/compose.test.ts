import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/runtime/config/value-parsers.js';
import { parseFleet } from '../../helpers/fleet-args.js';

/**
 * deploy/compose/compose.yaml without a container engine (the docker compose
 * plugin is not installed either): against the Compose Specification's JSON
 * schema (vendored, test/fixtures/schemas/README.md), then what it means for
 * fleet: one worker per GPU with its own device reservation, every fleet
 * command line parsed by fleet's own program with the service's variables
 * and config file, and the containers locked down as on Kubernetes.
 */

const COMPOSE_DIR = fileURLToPath(new URL('../../../deploy/compose/', import.meta.url));
const UID = '10001:10001';

interface Service {
  image: string;
  command?: string[];
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  configs?: { source: string; target: string }[];
  secrets?: string[];
  stop_grace_period?: string;
  restart?: string;
  profiles?: string[];
  healthcheck?: { test: string[] };
  deploy?: { resources?: { reservations?: { devices?: { driver: string; device_ids: string[]; capabilities: string[] }[] } } };
}

interface Compose {
  services: Record<string, Service>;
  configs: Record<string, { file: string }>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
}

/** The file as compose loads it: YAML merge keys (<<) resolved. */
const compose = parse(readFileSync(`${COMPOSE_DIR}compose.yaml`, 'utf8'), { merge: true }) as Compose;
const runYaml = `${COMPOSE_DIR}run.yaml`;
const fleetServices = Object.entries(compose.services).filter(([, s]) => /^fleet(-gpu)?:/.test(s.image));
const workers = fleetServices.filter(([, s]) => s.command?.[0] === 'worker');

function validator() {
  const schema = JSON.parse(readFileSync(new URL('../../fixtures/schemas/compose-spec.json', import.meta.url), 'utf8'));
  // Draft-07, named by an https URL Ajv does not know under that spelling: Ajv's default is draft-07.
  expect(schema.$schema).toBe('https://json-schema.org/draft-07/schema');
  delete schema.$schema;
  return new Ajv({ allErrors: true, strict: false }).compile(schema);
}

/** The command line with the mounted config file replaced by the file compose mounts there. */
function hostArgs(service: Service, args: readonly string[]): string[] {
  return args.map((a) => {
    const config = service.configs?.find((c) => c.target === a);
    return config ? `${COMPOSE_DIR}${compose.configs[config.source]!.file}` : a;
  });
}

describe('deploy/compose/compose.yaml', () => {
  it('is valid for the Compose Specification schema, and the schema refuses a misspelt key', () => {
    const validate = validator();
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['worker-0']!.stop_grace = '5m';
    expect(validate(broken)).toBe(false);
    expect(JSON.stringify(validate.errors)).toContain('stop_grace');
  });

  it('runs NATS, the coordinator, the evaluator, the data download and one worker per GPU, as many as run.yaml says', () => {
    const commands = fleetServices.map(([, s]) => s.command![0]).sort();
    expect(commands).toEqual(['coordinator', 'data', 'evaluator', ...workers.map(() => 'worker')].sort());
    expect(compose.services.nats?.image).toMatch(/^nats:2\.10/);
    const run = parse(readFileSync(runYaml, 'utf8')) as { workers: number };
    expect(workers.length).toBe(run.workers);
    expect(workers.length).toBeGreaterThanOrEqual(2);
  });

  it('each worker reserves its own GPU and sees it as device 0; CPU services reserve none', () => {
    const ids = workers.map(([name, s]) => {
      const devices = s.deploy?.resources?.reservations?.devices ?? [];
      expect(devices, name).toHaveLength(1);
      expect(devices[0]!.driver).toBe('nvidia');
      expect(devices[0]!.capabilities).toEqual(['gpu']);
      expect(devices[0]!.device_ids).toHaveLength(1);
      // The reservation exposes that GPU alone; CUDA numbers what it sees from 0.
      expect(s.environment?.CUDA_VISIBLE_DEVICES, name).toBe('0');
      expect(s.image).toMatch(/^fleet-gpu:/);
      return devices[0]!.device_ids[0]!;
    });
    expect(ids).toEqual(workers.map((_, i) => String(i)));
    expect(new Set(workers.map(([, s]) => s.environment?.FLEET_WORKER_NAME)).size).toBe(workers.length);
    for (const [name, s] of fleetServices.filter(([, s]) => s.command?.[0] !== 'worker')) {
      expect(s.deploy?.resources?.reservations?.devices, name).toBeUndefined();
      expect(s.image, name).toMatch(/^fleet:/);
    }
  });

  it('every fleet container runs as uid 10001 on a read-only root with no capabilities and no privilege gain', () => {
    for (const [name, s] of fleetServices) {
      expect(s.user, name).toBe(UID);
      expect(s.read_only, name).toBe(true);
      expect(s.cap_drop, name).toEqual(['ALL']);
      expect(s.cap_add, name).toBeUndefined();
      expect(s.security_opt, name).toContain('no-new-privileges:true');
    }
    // NATS too; only the one-shot that hands its volume to that uid runs as root, with CHOWN alone.
    expect(compose.services.nats).toMatchObject({ user: UID, read_only: true, cap_drop: ['ALL'] });
    expect(compose.services['nats-volume']).toMatchObject({ user: '0:0', cap_drop: ['ALL'], cap_add: ['CHOWN'] });
    expect(compose.services['nats-volume']!.command).toEqual(['chown', UID, '/data']);
  });

  it('every fleet command line parses with the service variables and config file; the healthcheck runs fleet health', async () => {
    const ran: string[] = [];
    for (const [name, s] of fleetServices) {
      const parsed = await parseFleet(hostArgs(s, s.command!), s.environment ?? {});
      ran.push(parsed.path);
      if (parsed.path === 'coordinator') {
        expect(parsed.flags.resume, name).toBe('auto');
        // fleet coordinator --workers N is the range N:N (exactly N, not elastic).
        expect(parsed.flags.workers).toEqual({ min: workers.length, max: workers.length, elastic: false });
      }
      if (s.secrets?.includes('token')) expect(parsed.flags.tokenFile, name).toBe('/run/secrets/token');
      const check = s.healthcheck?.test;
      if (check) {
        expect(check.slice(0, 2)).toEqual(['CMD', 'fleet']);
        expect((await parseFleet(check.slice(2), s.environment ?? {})).path).toBe('health');
      }
    }
    expect(ran.sort()).toEqual(['coordinator', 'data download', 'evaluator', ...workers.map(() => 'worker')].sort());
  });

  it('the coordinator is stopped with time to drain and checkpoint, restarted only after a failure', () => {
    const c = compose.services.coordinator!;
    const drain = parseDuration(c.command![c.command!.indexOf('--drain-timeout') + 1]!, 's');
    expect(parseDuration(c.stop_grace_period!, 's')).toBeGreaterThanOrEqual(drain + 5_000 + 30_000);
    // A stopped coordinator exits 0 and stays stopped; `docker compose start` resumes it (--resume auto).
    expect(c.restart).toBe('on-failure');
  });

  it('a stop exits 0 here (no FLEET_STOPPED_EXIT_CODE): restart: on-failure would start a stopped container again when the Docker daemon restarts', async () => {
    for (const [name, s] of fleetServices.filter(([, s]) => s.command?.[0] !== 'data')) {
      expect(s.environment?.FLEET_STOPPED_EXIT_CODE, name).toBeUndefined();
      expect((await parseFleet(hostArgs(s, s.command!), s.environment ?? {})).flags.stoppedExitCode, name).toBe(0);
    }
  });

  it('volumes: the data service fills what the others mount read-only; coordinator and evaluator share the run dir', () => {
    const mounts = (name: string) => compose.services[name]!.volumes ?? [];
    expect(mounts('data')).toEqual(['cifar10:/data/cifar10']);
    expect(compose.services.data!.profiles).toEqual(['data']);
    for (const [name] of fleetServices.filter(([n]) => n !== 'data')) expect(mounts(name), name).toContain('cifar10:/data/cifar10:ro');
    for (const name of ['coordinator', 'evaluator']) expect(mounts(name)).toContain('runs:/runs');
    for (const v of Object.values(compose.services).flatMap((s) => s.volumes ?? [])) {
      expect(Object.keys(compose.volumes), v).toContain(v.split(':')[0]);
    }
    expect(compose.secrets.token!.file).toBe('./secrets/token');
    expect(readFileSync(`${COMPOSE_DIR}.gitignore`, 'utf8')).toMatch(/^secrets\/$/m);
  });
});
