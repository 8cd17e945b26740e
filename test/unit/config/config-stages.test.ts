import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addConfigFileOption, applyConfigStages, resolvedFlags } from '../../../cli/config-stages.js';
import { durationOpt } from '../../../cli/option.js';
import { fleetProgram } from '../../../cli/main.js';
import { addTrainingOptions, trainConfigFrom } from '../../../cli/train-command.js';
import { ConfigError, ConfigFileError, type TrainConfig } from '../../../src/runtime/config/train-config.js';

let dir: string;
let saved: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
// The stages read process.env: each test starts without FLEET_* variables.
beforeEach(() => {
  saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (k.startsWith('FLEET_')) delete process.env[k];
});
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

interface Parsed {
  config: TrainConfig;
  flags: Record<string, unknown>;
  command: Command;
}

/** The training flags on a command wired like `fleet train` (the program's preAction hook, the validated stage). */
async function parse(args: string[], env: Record<string, string> = {}): Promise<Parsed> {
  Object.assign(process.env, env);
  let parsed: Parsed | undefined;
  const program = new Command('fleet').exitOverride().hook('preAction', (_p, c) => applyConfigStages(c));
  program.addCommand(
    addConfigFileOption(addTrainingOptions(new Command('train')))
      .addOption(durationOpt('--round-timeout <duration>', 'a timeout', 'FLEET_ROUND_TIMEOUT', 600_000))
      .exitOverride()
      .action((flags: Record<string, unknown>, command: Command) => {
        parsed = { config: trainConfigFrom(flags, command), flags, command };
      }),
  );
  await program.parseAsync(['train', '--out', join(dir, 'run'), ...args], { from: 'user' });
  if (!parsed) throw new Error('the action did not run');
  return parsed;
}

describe('configuration stages: flag > FLEET_ variable > config file > default', () => {
  it('takes what the file says where nothing else does, by camelCase, kebab-case or config key', async () => {
    const f = await file('a.yaml', 'batchSize: 64\nlabel-smoothing: 0.1\nmixupAlpha: 0.2\nmodel: tiny\nroundTimeout: 30s\n');
    const { config, flags } = await parse(['--config', f]);
    expect(config).toMatchObject({ batchSize: 64, labelSmoothing: 0.1, mixupAlpha: 0.2, model: 'tiny', epochs: 30 });
    expect(flags.roundTimeout).toBe(30_000);
  });

  it('a variable beats the file, a flag beats both', async () => {
    const f = await file('b.yaml', 'batchSize: 64\nepochs: 5\nlr: 0.3\n');
    const { config } = await parse(['--config', f, '--batch-size', '8'], { FLEET_BATCH_SIZE: '16', FLEET_EPOCHS: '7' });
    expect(config.batchSize).toBe(8);
    expect(config.epochs).toBe(7);
    expect(config.lr).toBe(0.3);
  });

  it('FLEET_CONFIG names the file like --config does', async () => {
    const f = await file('c.yaml', 'seed: 42\n');
    expect((await parse([], { FLEET_CONFIG: f })).config.seed).toBe(42);
  });

  it('reads boolean variables and file values with the one boolean parser', async () => {
    expect((await parse([], { FLEET_DOWNLOAD: '0' })).config.download).toBe(false);
    expect((await parse([], { FLEET_DOWNLOAD: 'YES' })).config.download).toBe(true);
    expect((await parse(['--config', await file('d.yaml', 'download: on\nallowPartial: true\n')])).config).toMatchObject({
      download: true,
      allowPartial: true,
    });
    const bad = parse([], { FLEET_ALLOW_PARTIAL: 'maybe' });
    await expect(bad).rejects.toThrow(ConfigError);
    await expect(bad).rejects.toThrow(/FLEET_ALLOW_PARTIAL \(--allow-partial\) "maybe": expected a boolean/);
  });

  it('refuses an unknown key naming the file and the key', async () => {
    const f = await file('e.yaml', 'batchSize: 64\nbatchsize: 32\n');
    const result = parse(['--config', f]);
    await expect(result).rejects.toThrow(ConfigFileError);
    await expect(result).rejects.toThrow(`${f}: batchsize`);
    await expect(result).rejects.toThrow(/unknown key/);
  });

  it("refuses a bad value naming the file and the key, whether the flag's parser or the schema finds it", async () => {
    await expect(parse(['--config', await file('f.yaml', 'batchSize: lots\n')])).rejects.toThrow(
      /f\.yaml: batchSize \(--batch-size\) "lots": 'lots' is not a number/,
    );
    await expect(parse(['--config', await file('g.yaml', 'batchSize: 0\n')])).rejects.toThrow(
      /g\.yaml: batchSize \(--batch-size\) 0: Too small/,
    );
    await expect(parse(['--config', await file('h.yaml', 'model: vgg\n')])).rejects.toThrow(/h\.yaml: model \(--model\) "vgg"/);
    await expect(parse(['--config', await file('i.yaml', 'roundTimeout: soon\n')])).rejects.toThrow(
      /i\.yaml: roundTimeout \(--round-timeout\) "soon": 'soon' is not a duration/,
    );
    // A value from the file that the flag overrides is still checked: the file is wrong either way.
    await expect(parse(['--config', await file('j.yaml', 'epochs: many\n'), '--epochs', '3'])).rejects.toThrow(/j\.yaml: epochs/);
  });

  it('refuses a file that is not a mapping of single values, a key given twice, or no file at all', async () => {
    await expect(parse(['--config', await file('k.yaml', '- batchSize\n')])).rejects.toThrow(/k\.yaml.*must be a mapping/);
    await expect(parse(['--config', await file('l.yaml', 'lr: [0.1, 0.2]\n')])).rejects.toThrow(/l\.yaml: lr.*single value/);
    await expect(parse(['--config', await file('m.yaml', 'batchSize: 64\nbatch-size: 32\n')])).rejects.toThrow(
      /m\.yaml: batch-size.*again/,
    );
    await expect(parse(['--config', await file('n.yaml', 'lr: 0.1\nlr: 0.2\n')])).rejects.toThrow(/n\.yaml.*not valid YAML/);
    await expect(parse(['--config', join(dir, 'absent.yaml')])).rejects.toThrow(/absent\.yaml.*cannot be read \(ENOENT\)/);
  });

  it('names the variable when the schema refuses a value from one', async () => {
    await expect(parse([], { FLEET_LR: '-1' })).rejects.toThrow(/FLEET_LR \(--lr\) -1/);
  });

  it('hands on what was given (flag, variable or file) as flags, not the defaults', async () => {
    const f = await file('o.yaml', 'batchSize: 64\ndownload: yes\n');
    const { command } = await parse(['--config', f, '--model', 'tiny'], { FLEET_EPOCHS: '3' });
    const forwarded = resolvedFlags(command, (o) => o.long !== '--out' && o.long !== '--config');
    expect(forwarded).toEqual(expect.arrayContaining(['--model', 'tiny', '--epochs', '3', '--batch-size', '64', '--download']));
    expect(forwarded).not.toContain('--lr');
    expect(forwarded).toHaveLength(7);
  });
});

describe("the fleet program's boolean variables", () => {
  /** The flags a real subcommand would act on; its action is replaced so nothing runs. */
  async function flagsOf(name: string, args: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
    Object.assign(process.env, env);
    const program = fleetProgram();
    let flags: Record<string, unknown> = {};
    for (const c of program.commands) c.exitOverride();
    const command = program.commands.find((c) => c.name() === name);
    if (!command) throw new Error(`no command ${name}`);
    command.action((f: Record<string, unknown>) => {
      flags = f;
    });
    await program.parseAsync([name, ...args], { from: 'user' });
    return flags;
  }

  it('FLEET_LEDGER=1 turns the ledger on and FLEET_LEDGER=0 leaves it off; FLEET_TLS reads the same way', async () => {
    expect((await flagsOf('coordinator', [], { FLEET_LEDGER: '1' })).ledger).toBe(true);
    expect((await flagsOf('coordinator', [], { FLEET_LEDGER: '0' })).ledger).toBe(false);
    expect((await flagsOf('coordinator', [], { FLEET_EXTERNAL_EVALUATOR: 'off' })).externalEvaluator).toBe(false);
    expect((await flagsOf('worker', ['--coordinator', 'c:1'], { FLEET_TLS: 'yes' })).tls).toBe(true);
    expect((await flagsOf('worker', ['--coordinator', 'c:1'], { FLEET_TLS: 'false' })).tls).toBe(false);
  });

  it('timeouts are durations in milliseconds from any source', async () => {
    const f = await file('timeouts.yaml', 'heartbeatTimeout: 45\nlinger: 500ms\n');
    const flags = await flagsOf('coordinator', ['--config', f, '--round-timeout', '2m'], { FLEET_SHUTDOWN_GRACE: '1s' });
    expect(flags).toMatchObject({
      roundTimeout: 120_000,
      heartbeatTimeout: 45_000,
      linger: 500,
      shutdownGrace: 1000,
      evaluatorWait: 600_000,
    });
    const worker = await flagsOf('worker', ['--coordinator', 'c:1', '--transfer-timeout', '90'], {});
    expect(worker).toMatchObject({ connectTimeout: 300_000, callTimeout: 10_000, roundWaitTimeout: 3_600_000, transferTimeout: 90_000 });
  });
});
