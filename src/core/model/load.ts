import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint, applyWeights } from '../checkpoint/checkpoint';
import { Config, backboneOptions, loadConfig } from '../config';
import { resolveConfigFile, shippedConfigNames } from '../config/paths';
import { ARCFACE_TEMPLATE_112 } from '../detect/template';
import { InputError } from '../errors';
import { ModelDescription } from '../export/metadata';
import { TfliteImportError, importTflite } from '../deploy/tflite/import';
import { importPretrainedTflite } from '../deploy/tflite/pretrained';
import { TfliteFormatError } from '../deploy/tflite/schema';
import { decodeOnnx, encodeOnnx } from '../graph/onnx';
import { Graph } from '../graph/types';
import { buildBackbone } from '../nn/registry';

/**
 * Where a model comes from: one of our configs (built and seeded), one of our checkpoints
 * (config + weights), or any ONNX file, ours or a third party's.
 */
export type ModelSource =
  | { kind: 'ours'; label: string; config: Config; backbone: Graph }
  | { kind: 'onnx'; label: string; bytes: Uint8Array; graph?: Graph; readError?: string };

export function describeModel(config: Config): ModelDescription {
  return {
    backbone: config.model.backbone,
    embeddingSize: config.model.embedding_size,
    input: { ...config.input, layout: 'NCHW' },
    alignmentTemplate: ARCFACE_TEMPLATE_112,
  };
}

export function buildFromConfig(config: Config): Graph {
  return buildBackbone(config.model.backbone, backboneOptions(config.model));
}

export function loadCheckpointModel(file: string): { config: Config; backbone: Graph } {
  const ckpt = loadCheckpoint(file);
  const backbone = buildFromConfig(ckpt.config);
  applyWeights(backbone, ckpt.tensors, file);
  return { config: ckpt.config, backbone };
}

function readOnnx(file: string): ModelSource {
  const bytes = fs.readFileSync(file);
  try {
    return { kind: 'onnx', label: path.basename(file), bytes, graph: decodeOnnx(bytes, file) };
  } catch (e) {
    // onnxruntime may still run what our reader cannot parse; counts are then unknown.
    return { kind: 'onnx', label: path.basename(file), bytes, readError: (e as Error).message };
  }
}

/** Built-in pretrained models (shipped by an npm dependency), by the name users type. */
export const PRETRAINED_MODELS = {
  'pretrained:mobilefacenet': 'MobileFaceNet',
} as const;

export type PretrainedModelName = keyof typeof PRETRAINED_MODELS;

export function isPretrainedName(spec: string): spec is PretrainedModelName {
  return Object.prototype.hasOwnProperty.call(PRETRAINED_MODELS, spec);
}

function loadPretrained(spec: string): ModelSource {
  if (!isPretrainedName(spec)) {
    throw new InputError(`model ${spec}: unknown pretrained model; expected one of ${Object.keys(PRETRAINED_MODELS).join(', ')}`);
  }
  const graph = importPretrainedTflite(PRETRAINED_MODELS[spec]);
  return { kind: 'onnx', label: spec, bytes: encodeOnnx(graph), graph };
}

function readTflite(file: string): ModelSource {
  let graph: Graph;
  try {
    graph = importTflite(fs.readFileSync(file), file);
  } catch (e) {
    if (e instanceof TfliteImportError || e instanceof TfliteFormatError) throw new InputError(e.message);
    throw e;
  }
  return { kind: 'onnx', label: path.basename(file), bytes: encodeOnnx(graph), graph };
}

/**
 * Resolves a model argument: `pretrained:mobilefacenet`, `x.tflite` (imported), `x.onnx`, `x.safetensors`, `x.yaml`, or the name of a shipped
 * config such as `resnet50`. `sets` are `--set` overrides applied to configs.
 */
export function loadModelSource(spec: string, sets: readonly string[] = []): ModelSource {
  if (spec.startsWith('pretrained:')) return loadPretrained(spec);
  const ext = path.extname(spec).toLowerCase();
  if (ext === '.onnx') return readOnnx(spec);
  if (ext === '.tflite') return readTflite(spec);
  if (ext === '.safetensors') {
    if (sets.length > 0) throw new InputError(`--set applies to configs, not to the checkpoint ${spec}`);
    const { config, backbone } = loadCheckpointModel(spec);
    return { kind: 'ours', label: path.basename(spec), config, backbone };
  }
  if (ext === '.yaml' || ext === '.yml' || shippedConfigNames().includes(spec)) {
    const config = loadConfig(resolveConfigFile(spec), sets);
    const name = path.basename(spec).replace(/\.ya?ml$/, '');
    // The base config is the embedded default; name it by what it builds.
    return { kind: 'ours', label: name === 'base' ? config.model.backbone : name, config, backbone: buildFromConfig(config) };
  }
  throw new InputError(
    `model ${spec}: expected ${Object.keys(PRETRAINED_MODELS).join(', ')}, an .onnx or .tflite file, a .safetensors checkpoint, a .yaml config or a shipped config name (${shippedConfigNames().join(', ')})`,
  );
}
