import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fsyncDirectory, writeFileAtomic } from '../runtime/atomic-file.js';
import { ModelFilesError } from './errors.js';
import { applyLayerStates, describeFleetLayers, rewriteTopology, type FleetLayerState } from './layer-restore.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const META_JSON = 'meta.json';

/** fleet's own entry in model.json's userDefinedMetadata (plain tfjs ignores it). */
export interface FleetModelMetadata {
  /** Lets the loader refuse a weights.bin that does not belong to this model.json (crash between the two renames). */
  weightsBytes: number;
  weightsSha256: string;
  /** fleet layers saved under stock class names (SeededDropout as Dropout...), by layer name; loadModelFiles restores them. */
  layers: Record<string, FleetLayerState>;
}

export interface SavedModelFiles {
  dir: string;
  weightsBytes: number;
  weightsSha256: string;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function toBytes(weightData: tf.io.WeightData | undefined): Uint8Array {
  if (weightData === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(weightData));
}

async function captureArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (captured === undefined) throw new Error('model.save did not call the save handler');
  return captured;
}

/**
 * Save `model` as a tfjs layers-model folder: dir/weights.bin, dir/model.json
 * (the format tfjs-node's file:// handler writes) and, if given, dir/meta.json.
 * Each file is replaced atomically, weights first: model.json is the commit
 * point and records the checksum of its weights.bin, so a crash between the two
 * renames is detected on load instead of mixing checkpoints. meta.json comes
 * last, so it never describes weights that are not on disk yet (after a crash
 * it may still describe the previous ones).
 */
export async function saveModelFiles(model: tf.LayersModel, dir: string, meta?: unknown): Promise<SavedModelFiles> {
  // Serialise meta first: a meta that cannot be written must fail before any file changes.
  const metaText = meta === undefined ? undefined : `${JSON.stringify(meta, null, 2)}\n`;
  const created = await mkdir(dir, { recursive: true });
  if (created !== undefined) await fsyncDirectory(dirname(resolve(dir)));
  const artifacts = await captureArtifacts(model);
  const weights = toBytes(artifacts.weightData);
  const fleet: FleetModelMetadata = {
    weightsBytes: weights.byteLength,
    weightsSha256: sha256(weights),
    layers: describeFleetLayers(model),
  };
  const modelJson: JsonObject = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
    ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
    userDefinedMetadata: { ...(artifacts.userDefinedMetadata ?? {}), fleet },
  };
  await writeFileAtomic(join(dir, WEIGHTS_BIN), weights);
  await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJson));
  if (metaText !== undefined) await writeFileAtomic(join(dir, META_JSON), metaText);
  return { dir, weightsBytes: fleet.weightsBytes, weightsSha256: fleet.weightsSha256 };
}

async function readOrThrow(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ModelFilesError(path, 'missing-file', (error as Error).message, { cause: error });
  }
}

/** Manifest paths must name files inside the model folder. */
function checkManifestPath(file: string, path: unknown): string {
  if (typeof path !== 'string' || path === '' || isAbsolute(path) || normalize(path).split(sep).includes('..')) {
    throw new ModelFilesError(file, 'bad-manifest-path', `weights path ${JSON.stringify(path)} is not a file inside the model folder`);
  }
  return path;
}

/** Reads and checks dir/model.json: a tfjs layers-model with a weights manifest. */
export async function readModelJson(dir: string): Promise<tf.io.ModelJSON> {
  const file = join(dir, MODEL_JSON);
  const text = (await readOrThrow(file)).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFilesError(file, 'bad-json', (error as Error).message, { cause: error });
  }
  if (!isObject(json) || !isObject(json.modelTopology) || !Array.isArray(json.weightsManifest)) {
    throw new ModelFilesError(file, 'bad-format', 'expected an object with modelTopology and a weightsManifest array');
  }
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new ModelFilesError(file, 'bad-format', `format is ${JSON.stringify(json.format)}, not 'layers-model'`);
  }
  for (const group of json.weightsManifest) {
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new ModelFilesError(file, 'bad-format', 'each weightsManifest entry needs paths and weights arrays');
    }
    for (const p of group.paths) checkManifestPath(file, p);
  }
  return json as unknown as tf.io.ModelJSON;
}

function fleetMetadata(json: tf.io.ModelJSON): FleetModelMetadata | undefined {
  const fleet = isObject(json.userDefinedMetadata) ? json.userDefinedMetadata.fleet : undefined;
  return isObject(fleet) ? (fleet as unknown as FleetModelMetadata) : undefined;
}

/**
 * Load a folder written by saveModelFiles (or any single-folder tfjs
 * layers-model) with tf.loadLayersModel; pure tfjs has no file:// handler, so
 * the IOHandler here reads the files. Checks weights.bin against the checksum
 * model.json recorded, and brings fleet's layers back (SeededDropout with its
 * seed and step, fleet's BatchNorm) where plain tfjs would load stock ones.
 */
export async function loadModelFiles(dir: string): Promise<tf.LayersModel> {
  const json = await readModelJson(dir);
  const fleet = fleetMetadata(json);
  const states = fleet && isObject(fleet.layers) ? fleet.layers : {};
  rewriteTopology(json.modelTopology, states);
  const handler: tf.io.IOHandler = {
    load: () =>
      tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const parts: Buffer[] = [];
        for (const group of manifest) for (const path of group.paths) parts.push(await readOrThrow(join(dir, path)));
        const bytes = Buffer.concat(parts);
        const label = join(dir, manifest[0]?.paths[0] ?? WEIGHTS_BIN);
        if (fleet && bytes.byteLength !== fleet.weightsBytes) {
          throw new ModelFilesError(label, 'size-mismatch', `${bytes.byteLength} bytes, model.json expects ${fleet.weightsBytes}`);
        }
        if (fleet && sha256(bytes) !== fleet.weightsSha256) {
          throw new ModelFilesError(label, 'checksum-mismatch', 'weights do not belong to this model.json (interrupted save?)');
        }
        const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
        return [tf.io.getWeightSpecs(manifest), weightData];
      }),
  };
  const model = await tf.loadLayersModel(handler);
  applyLayerStates(model, states);
  return model;
}

/** dir/meta.json parsed, or undefined when the model was saved without meta. */
export async function readModelMeta(dir: string): Promise<unknown> {
  const file = join(dir, META_JSON);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ModelFilesError(file, 'bad-json', (error as Error).message, { cause: error });
  }
}
