import { Command } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../src/runtime/config/train-config.js';
import { createRootLogger } from '../src/runtime/logger.js';
import { opt, threadsOpt } from './option.js';
import { parseInteger, parsePositiveInteger } from './parse-flag.js';
import { DEFAULT_DATA_DIR } from './train-command.js';

/** `fleet eval DIR`: a saved model's test-set score, per-class accuracy and confusion matrix. */
export function evalCommand(): Command {
  return new Command('eval')
    .description("Score a saved model (a run's best/) on the CIFAR-10 test set: accuracy, loss, per-class accuracy, confusion matrix")
    .argument('<model-dir>', 'the folder holding model.json, weights.bin and meta.json')
    .addOption(
      opt('--data-dir <dir>', 'CIFAR-10 binary files (or their parent folder); only test_batch.bin is read', 'FLEET_DATA_DIR').default(
        DEFAULT_DATA_DIR,
      ),
    )
    .addOption(
      opt('--backend <name>', 'compute backend', 'FLEET_BACKEND')
        .choices([...BACKEND_CHOICES])
        .default('auto'),
    )
    .addOption(threadsOpt())
    .addOption(opt('--eval-batch-size <n>', 'images per batch', 'FLEET_EVAL_BATCH_SIZE').argParser(parsePositiveInteger).default(500))
    .addOption(opt('--limit-test <n>', 'score only the first N test images', 'FLEET_LIMIT_TEST').argParser(parseInteger))
    .addOption(opt('--json', 'print the score as one JSON object instead of tables').default(false))
    .action(
      async (
        modelDir: string,
        flags: { dataDir: string; backend: BackendChoice; threads?: number; evalBatchSize: number; limitTest?: number; json: boolean },
      ) => {
        // Logs go to stderr: stdout is the score.
        const log = createRootLogger({ service: 'eval' }, { destination: process.stderr, pretty: false });
        const { formatScore, scoreSavedModel } = await import('../services/evaluator/score-saved-model.js');
        const score = await scoreSavedModel(
          {
            modelDir,
            dataDir: flags.dataDir,
            backend: flags.backend,
            threads: flags.threads ?? null,
            batchSize: flags.evalBatchSize,
            limitTest: flags.limitTest ?? null,
          },
          log,
        );
        const { evaluation: e, meta } = score;
        process.stdout.write(
          flags.json
            ? `${JSON.stringify({ modelDir, model: meta.model, backend: score.backend, classNames: meta.classNames, ...e })}\n`
            : formatScore(score),
        );
      },
    );
}
