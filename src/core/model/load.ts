import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint, applyWeights } from '../checkpoint/checkpoint';
import { Config, backboneOptions, loadConfig } from '../config';
import { resolveConfigFile, shippedConfigNames } from '../config/paths';
import { ARCFACE_TEMPLATE_112 } from '../detect/template';
import { InputError } from '../errors';
import { ModelDescription } from '../export/metadata';
import { decodeOnnx } from '../graph/onnx';
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

/**
 * Resolves a model argument: `x.onnx`, `x.safetensors`, `x.yaml`, or the name of a shipped
 * config such as `resnet50`. `sets` are `--set` overrides applied to configs.
 */
export function loadModelSource(spec: string, sets: readonly string[] = []): ModelSource {
  const ext = path.extname(spec).toLowerCase();
  if (ext === '.onnx') return readOnnx(spec);
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
    `model ${spec}: expected an .onnx file, a .safetensors checkpoint, a .yaml config or a shipped config name (${shippedConfigNames().join(', ')})`,
  );
}
