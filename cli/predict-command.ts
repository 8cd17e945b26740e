import { Command } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../src/runtime/config/train-config.js';
import { createRootLogger } from '../src/runtime/logger.js';
import type { ImagePrediction } from '../services/results/predict-images.js';
import { opt } from './option.js';
import { parsePositiveInteger } from './parse-flag.js';

/** `fleet predict MODEL_DIR IMAGE...`: the most probable classes of each image. */
export function predictCommand(): Command {
  return new Command('predict')
    .description("Classify PNG or JPEG images with a saved model (a run's best/); images must be of the model's input size (32x32)")
    .argument('<model-dir>', 'the folder holding model.json, weights.bin and meta.json')
    .argument('<image...>', 'PNG or JPEG files (any alpha channel is ignored)')
    .addOption(opt('--top <n>', 'classes printed per image').argParser(parsePositiveInteger).default(3))
    .addOption(
      opt('--backend <name>', 'compute backend', 'FLEET_BACKEND')
        .choices([...BACKEND_CHOICES])
        .default('auto'),
    )
    .addOption(opt('--json', 'print one JSON object a line per image instead of text').default(false))
    .action(async (modelDir: string, images: string[], flags: { top: number; backend: BackendChoice; json: boolean }) => {
      // Logs go to stderr: stdout is the predictions.
      const log = createRootLogger({ service: 'predict' }, { destination: process.stderr, pretty: false });
      const { predictImages } = await import('../services/results/predict-images.js');
      const predictions = await predictImages({ modelDir, images, top: flags.top, backend: flags.backend }, log);
      process.stdout.write(`${predictions.map((p) => (flags.json ? JSON.stringify(p) : formatPrediction(p))).join('\n')}\n`);
    });
}

function formatPrediction(p: ImagePrediction): string {
  return `${p.image}: ${p.top.map((t) => `${t.className} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`;
}
