import type { Command } from 'commander';

/**
 * An "Examples:" section after each command's --help, the same examples in
 * docs/cli.md (cli-docs.ts reads them back with examplesOf). One place, so
 * the help and the reference cannot differ; test/unit/docs checks that every
 * flag they use exists.
 */

export interface Example {
  /** What it does, one line (a `#` comment above the command). */
  what: string;
  command: string;
}

/** By the command's name below `fleet` (`data download` for a subcommand's). */
export const EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  train: [
    {
      what: 'download CIFAR-10 into data/cifar10 when absent, then train the cnn for 5 epochs in this process',
      command: 'fleet train --download --epochs 5',
    },
    {
      what: 'ResNet-18 with Mixup and label smoothing',
      command: 'fleet train --model resnet18 --augment full --mixup 0.2 --label-smoothing 0.1',
    },
    {
      what: "a coordinator and 4 worker processes on this machine, each worker's share sized by its speed",
      command: 'fleet train --workers 4 --batch-size 32 --balance speed',
    },
    {
      what: "settings from a YAML file (the flags' names in camelCase); flags still win",
      command: 'fleet train --config sweep.yaml --out runs/sweep-1',
    },
  ],
  coordinator: [
    {
      what: 'wait for 4 workers, publish events on NATS, leave the scoring to a fleet evaluator',
      command:
        'fleet coordinator --port 7070 --workers 4 --model resnet18 --data-dir /data/cifar10 --out runs/r1 --nats nats://nats:4222 --external-evaluator',
    },
    {
      what: 'a pod that may be restarted: continue from runs/r1/checkpoint.fleet when there is one, else start the run (exit 0 at once when it is finished)',
      command: 'fleet coordinator --resume auto --workers 4 --out runs/r1',
    },
    {
      what: "SIGTERM gives the round in hand 50 s, then checkpoints and exits 0 (the pod's terminationGracePeriodSeconds: 60 or more)",
      command: 'fleet coordinator --resume auto --workers 4 --out runs/r1 --drain-timeout 50s',
    },
    {
      what: 'download CIFAR-10 when absent; Prometheus metrics on port 9464',
      command: 'fleet coordinator --workers 2 --download --data-dir /data/cifar10 --metrics-port 9464',
    },
  ],
  worker: [
    {
      what: 'train for this coordinator: everything but the data folder and backend comes from its run',
      command: 'fleet worker --coordinator coordinator-host:7070',
    },
    {
      what: "this machine's data folder, backend and CPU threads",
      command: 'fleet worker --coordinator coordinator-host:7070 --data-dir /mnt/cifar10 --backend onednn --threads 4',
    },
    { what: 'one process per GPU', command: 'CUDA_VISIBLE_DEVICES=1 fleet worker --coordinator coordinator-host:7070 --name gpu-1' },
  ],
  evaluator: [
    {
      what: "score each epoch end of the latest run; best/ and metrics.jsonl go to the run's --out",
      command: 'fleet evaluator --coordinator coordinator-host:7070 --nats nats://nats:4222',
    },
    {
      what: 'one run, into a folder of its own',
      command: 'fleet evaluator --coordinator coordinator-host:7070 --nats nats://nats:4222 --run r1 --out /shared/runs/r1',
    },
  ],
  health: [
    {
      what: 'an exec probe: exit 0 when the coordinator on this machine is serving its run',
      command: 'fleet health 127.0.0.1:7070 --service fleet.v1.Coordinator',
    },
    {
      what: "over TLS, the certificate checked against this CA and for the coordinator's name; a client certificate for mutual TLS",
      command:
        'fleet health 127.0.0.1:7070 --tls-ca /etc/fleet/tls/ca.crt --tls-server-name fleet-coordinator --tls-cert /etc/fleet/tls/probe.crt --tls-key /etc/fleet/tls/probe.key --timeout 3s',
    },
  ],
  eval: [
    {
      what: "a run's best model on the test set: accuracy, loss, per-class accuracy, confusion matrix",
      command: 'fleet eval runs/r1/best',
    },
    { what: 'the first 1,000 test images, as JSON', command: 'fleet eval runs/r1/best --data-dir /data/cifar10 --limit-test 1000 --json' },
  ],
  show: [
    { what: "a run's last epoch", command: 'fleet show runs/r1' },
    { what: 'epoch 3, as JSON', command: 'fleet show runs/r1 --epoch 3 --json' },
  ],
  runs: [
    { what: 'the runs in ./runs', command: 'fleet runs' },
    { what: 'the runs in another folder', command: 'fleet runs /shared/runs' },
  ],
  predict: [
    { what: 'the top 3 classes of two 32x32 images', command: 'fleet predict runs/r1/best cat.png ship.jpg' },
    { what: 'the top class of each, one JSON object a line', command: 'fleet predict runs/r1/best images/*.png --top 1 --json' },
  ],
  watch: [
    {
      what: 'the latest run to start on this server (it waits, saying so, until there is one)',
      command: 'fleet watch --nats nats://nats:4222',
    },
    {
      what: 'in a log: one logfmt line per event; give up after 5 minutes without any',
      command: 'fleet watch --nats nats://nats:4222 --run r1 --wait-timeout 5m > watch.log',
    },
    { what: 'every event whole, as JSON lines, for tools', command: 'fleet watch --nats nats://nats:4222 --run r1 --json' },
    {
      what: "a sweep's trial table (id, params, status, epoch, best, pruned at), live",
      command: 'fleet watch --nats nats://nats:4222 --sweep augmentation-20250101-120000-ab12',
    },
  ],
  dashboard: [
    {
      what: 'the runs on this NATS server, live, and those in runs/, at http://127.0.0.1:7080/',
      command: 'fleet dashboard --nats nats://nats:4222',
    },
    { what: 'finished runs and sweeps from their directories, without NATS', command: 'fleet dashboard --runs /shared/runs --port 8080' },
    {
      what: 'for other machines: a token required (open http://HOST:7080/?token=TOKEN once)',
      command: 'FLEET_DASHBOARD_TOKEN=$(cat dashboard.token) fleet dashboard --host 0.0.0.0 --nats nats://nats:4222',
    },
  ],
  sweep: [
    {
      what: "exercise 2's quick scale: 3 trials, 2 at a time, into sweeps/<sweep id>",
      command: 'fleet sweep examples/2-augmentation.yaml --scale quick --data-dir data/cifar10',
    },
    {
      what: 'a smoke run of a spec: 500 images, one epoch, the first 2 trials',
      command: 'fleet sweep examples/3-mixup.yaml --set limitTrain=500 --set limitTest=200 --set epochs=1 --max-trials 2 --out /tmp/smoke',
    },
    {
      what: 'continue a sweep after a crash or Ctrl-C: ended trials stay, running ones continue from their checkpoints',
      command: 'fleet sweep examples/2-augmentation.yaml --scale quick --out sweeps/augmentation-20250101-120000-ab12 --resume',
    },
    {
      what: 'on 4 GPUs, one per trial, events on NATS for fleet watch --sweep',
      command: 'fleet sweep examples/2-augmentation.yaml --scale full --gpus 0,1,2,3 --nats nats://nats:4222',
    },
    {
      what: 'on Kubernetes: each trial a Job (no pruning), then kubectl apply -k k8s/augmentation',
      command:
        'fleet sweep examples/2-augmentation.yaml --scale full --render-jobs k8s/augmentation --job-image registry.example.com/fleet:0.1.0',
    },
  ],
  report: [
    {
      what: "a run's report in runs/r1/report: README.md with PNG charts, and report.html",
      command: 'fleet report runs/r1',
    },
    {
      what: "a sweep's report, into another folder",
      command: 'fleet report sweeps/augmentation-20250101-120000-ab12 --out reports/augmentation',
    },
    {
      what: "a run trained on another machine: its test images from this machine's data folder",
      command: 'fleet report runs/r1 --data-dir /data/cifar10',
    },
  ],
  'data download': [
    { what: 'into data/cifar10 (the default --data-dir of fleet train)', command: 'fleet data download' },
    {
      what: 'into a shared folder, from a mirror',
      command: 'fleet data download --dir /data/cifar10 --url https://mirror.example/cifar-10-binary.tar.gz',
    },
  ],
};

const attached = new WeakMap<Command, readonly Example[]>();

/** The examples attached to `command` (none for a command without). */
export function examplesOf(command: Command): readonly Example[] {
  return attached.get(command) ?? [];
}

/** "Examples:" and each example as a comment line and the command, indented for --help. */
export function renderExamples(examples: readonly Example[]): string {
  return ['Examples:', ...examples.flatMap((e) => [`  # ${e.what}`, `  ${e.command}`])].join('\n');
}

/**
 * Adds EXAMPLES to `program`'s commands, after their help. Throws when an
 * entry names no command, so a renamed command cannot lose its examples.
 */
export function attachExamples(program: Command, examples: Readonly<Record<string, readonly Example[]>> = EXAMPLES): Command {
  for (const [path, list] of Object.entries(examples)) {
    let command: Command | undefined = program;
    for (const name of path.split(' ')) command = command?.commands.find((c) => c.name() === name);
    if (command === undefined) throw new Error(`examples for "${program.name()} ${path}": no such command`);
    command.addHelpText('after', `\n${renderExamples(list)}`);
    attached.set(command, list);
  }
  return program;
}
