import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { applyWeights, loadCheckpoint, weightMismatches, weightsOf } from '../checkpoint/checkpoint';
import { Config, InputConfig, ModelConfig, backboneOptions } from '../config';
import { InputError } from '../errors';
import { ModelDescription, METADATA_KEYS, inputSpecFromMetadata } from '../export/metadata';
import { decodeOnnx } from '../graph/onnx';
import { resolveOutputs } from '../graph/shapes';
import { Graph, TensorData } from '../graph/types';
import { describeModel } from '../model/load';
import { EMBEDDING_NAME, INPUT_NAME } from '../nn/backbone';
import { buildBackbone, isBackboneName } from '../nn/registry';

/**
 * The backbone a run trains, and where it came from:
 * - `config`: built from config.model and seeded (training from scratch);
 * - `checkpoint`: one of our .safetensors checkpoints; its own model and input sections decide
 *   the architecture and the preprocessing, the run's config only the seed and dropout;
 * - `onnx-mapped`: an .onnx file of one of our backbones whose tensors are all there by name and
 *   shape: loaded into our own graph of that backbone;
 * - `onnx-imported`: any other .onnx (a third party's, or ours with BatchNorm already folded by
 *   export): the imported graph itself is the backbone and its float initializers are trained,
 *   as far as the autodiff has rules for its ops.
 * The head is never taken from the source: a fine-tuning run makes a new one for its identities.
 */

export type BackboneOrigin =
  | { kind: 'config' }
  | { kind: 'checkpoint'; file: string }
  | { kind: 'onnx-mapped'; file: string }
  | { kind: 'onnx-imported'; file: string; sha256: string };

export interface TrainBackbone {
  graph: Graph;
  origin: BackboneOrigin;
  /** The model and input sections that describe this backbone (saved in checkpoints). */
  model: ModelConfig;
  input: InputConfig;
  /** What export writes into the ONNX metadata. */
  description: ModelDescription;
  /** Decisions worth telling the user (what was taken from where, why a graph was imported). */
  notes: string[];
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function readFile(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${key} ${file}: cannot read (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message})`);
  }
}

function described(model: ModelConfig, input: InputConfig, backbone: string = model.backbone, embeddingSize = model.embedding_size): ModelDescription {
  const base = describeModel({ model, input } as Config);
  return { ...base, backbone, embeddingSize };
}

function fromConfig(config: Config): TrainBackbone {
  const { model, input } = config;
  return { graph: buildBackbone(model.backbone, backboneOptions(model)), origin: { kind: 'config' }, model, input, description: described(model, input), notes: [] };
}

function fromCheckpoint(config: Config, file: string): TrainBackbone {
  const ckpt = loadCheckpoint(file);
  // The checkpoint's architecture and preprocessing; the run's seed (head, order) and dropout.
  const model: ModelConfig = { ...ckpt.config.model, seed: config.model.seed, dropout: config.model.dropout };
  const graph = buildBackbone(model.backbone, backboneOptions(model));
  applyWeights(graph, ckpt.tensors, file);
  const notes = [`backbone ${model.backbone} (embedding ${model.embedding_size}) and input settings from ${file}`];
  if (config.model.backbone !== model.backbone || config.model.embedding_size !== model.embedding_size) {
    notes.push(`the config's model.backbone ${config.model.backbone} / embedding_size ${config.model.embedding_size} are ignored`);
  }
  return { graph, origin: { kind: 'checkpoint', file }, model, input: ckpt.config.input, description: described(model, ckpt.config.input), notes };
}

/** The input settings an ONNX file declares in its metadata, over the config's. */
function onnxInput(graph: Graph, config: Config): InputConfig {
  const meta = inputSpecFromMetadata(graph.metadata);
  return {
    size: config.input.size,
    color: meta.color ?? config.input.color,
    mean: meta.mean ?? config.input.mean,
    std: meta.std ?? config.input.std,
  };
}

/** Our backbone named in the file's metadata, with the file's tensors when every one is there by name and shape. */
function mapOntoOurs(onnx: Graph, config: Config, file: string): { graph: Graph; model: ModelConfig; why?: undefined } | { why: string } {
  const name = onnx.metadata[METADATA_KEYS.backbone];
  const embedding = Number(onnx.metadata[METADATA_KEYS.embeddingSize]);
  if (name === undefined || !isBackboneName(name) || !Number.isInteger(embedding)) return { why: 'its metadata names none of our backbones' };
  const model: ModelConfig = { ...config.model, backbone: name, embedding_size: embedding };
  const graph = buildBackbone(name, backboneOptions(model));
  const wanted = weightsOf(graph);
  const tensors = new Map<string, TensorData>();
  for (const key of wanted.keys()) {
    const t = onnx.initializers.get(key)?.tensor;
    if (t) tensors.set(key, t);
  }
  const missing = weightMismatches(graph, tensors);
  if (missing.length > 0) {
    return { why: `it is a ${name} with ${missing.length} of its ${wanted.size} tensors absent or reshaped (BatchNorm folded at export), e.g. ${missing[0]}` };
  }
  applyWeights(graph, tensors, file);
  return { graph, model };
}

/**
 * A third party's graph made into a backbone: its one image input renamed `input` with a
 * dynamic batch, its first output renamed `embedding`, which must be [N, E].
 */
export function adaptImportedGraph(graph: Graph, file: string, size: number): Graph {
  const inputs = graph.inputs.filter((i) => !graph.initializers.has(i.name));
  if (inputs.length !== 1) throw new InputError(`${file}: expected one image input, found ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`);
  const [image] = inputs;
  const [, c, h, w] = image.shape;
  if (image.shape.length !== 4 || c !== 3 || h !== size || w !== size) {
    throw new InputError(`${file}: input ${image.name} has shape [${image.shape.join(', ')}]; training needs [N, 3, ${size}, ${size}] (NCHW)`);
  }
  if (graph.outputs.length === 0) throw new InputError(`${file}: the graph has no outputs`);
  const renames = new Map([
    [image.name, INPUT_NAME],
    [graph.outputs[0].name, EMBEDDING_NAME],
  ]);
  const taken = new Set([...graph.initializers.keys(), ...graph.nodes.flatMap((n) => n.outputs)]);
  for (const [from, to] of renames) {
    if (from !== to && taken.has(to)) throw new InputError(`${file}: the graph already has a tensor named ${to}; cannot rename ${from} to it`);
  }
  const rename = (t: string) => renames.get(t) ?? t;
  for (const n of graph.nodes) {
    n.inputs = n.inputs.map(rename);
    n.outputs = n.outputs.map(rename);
  }
  graph.inputs = [{ name: INPUT_NAME, dtype: 'float32', shape: ['N', 3, size, size] }];
  graph.outputs = [{ ...graph.outputs[0], name: EMBEDDING_NAME }];
  try {
    resolveOutputs(graph);
  } catch (err) {
    throw new InputError(`${file}: cannot infer its shapes with a dynamic batch (${(err as Error).message})`);
  }
  const out = graph.outputs[0].shape;
  if (out.length !== 2 || typeof out[1] !== 'number') throw new InputError(`${file}: output ${[...renames.keys()][1]} has shape [${out.join(', ')}]; a backbone's embedding must be [N, E]`);
  const notFloat = [...graph.initializers.values()].find((i) => i.role === 'trainable' && i.tensor.dtype !== 'float32');
  if (notFloat) throw new InputError(`${file}: initializer ${notFloat.name} is ${notFloat.tensor.dtype}; training needs float32 weights`);
  return graph;
}

/** Decodes and adapts an ONNX file to train it as the backbone. */
export function importOnnxBackbone(bytes: Uint8Array, file: string, size: number): Graph {
  let graph: Graph;
  try {
    graph = decodeOnnx(bytes, file);
  } catch (err) {
    throw new InputError(`${file}: cannot read as ONNX (${(err as Error).message.split('\n')[0]})`);
  }
  return adaptImportedGraph(graph, file, size);
}

function fromOnnx(config: Config, file: string): TrainBackbone {
  const bytes = readFile(file, 'train.init_from');
  const onnx = importOnnxBackbone(bytes, file, config.input.size);
  const input = onnxInput(onnx, config);
  const mapped = mapOntoOurs(onnx, config, file);
  if (mapped.why === undefined) {
    return {
      graph: mapped.graph,
      origin: { kind: 'onnx-mapped', file },
      model: mapped.model,
      input,
      description: described(mapped.model, input),
      notes: [`${file}: ${mapped.model.backbone} tensors loaded by name into our ${mapped.model.backbone} graph`],
    };
  }
  const embedding = onnx.outputs[0].shape[1] as number;
  const label = onnx.metadata[METADATA_KEYS.backbone] ?? path.basename(file, path.extname(file));
  return {
    graph: onnx,
    origin: { kind: 'onnx-imported', file, sha256: sha256(bytes) },
    model: config.model,
    input,
    description: described(config.model, input, label, embedding),
    notes: [`${file}: training the imported graph itself as the backbone (${mapped.why})`],
  };
}

/** The backbone a new run starts from (train.init_from, else the config). */
export function initialBackbone(config: Config): TrainBackbone {
  const from = config.train.init_from;
  if (from === null) return fromConfig(config);
  const ext = path.extname(from).toLowerCase();
  if (ext === '.safetensors') return fromCheckpoint(config, from);
  if (ext === '.onnx') return fromOnnx(config, from);
  throw new InputError(`train.init_from ${from}: expected a .safetensors checkpoint or an .onnx model`);
}

/**
 * The same backbone structure again, for a resume: our graphs are rebuilt from the saved model
 * section; an imported graph is read again from its file, which must be unchanged. The caller
 * then loads the checkpoint's tensors into it.
 */
export function rebuildBackbone(origin: BackboneOrigin, model: ModelConfig, input: InputConfig): TrainBackbone {
  if (origin.kind !== 'onnx-imported') {
    return { graph: buildBackbone(model.backbone, backboneOptions(model)), origin, model, input, description: described(model, input), notes: [] };
  }
  const bytes = readFile(origin.file, 'the resumed run was initialised from');
  if (sha256(bytes) !== origin.sha256) throw new InputError(`${origin.file}: changed since the run started from it (sha256 differs); cannot resume`);
  const graph = importOnnxBackbone(bytes, origin.file, input.size);
  const label = graph.metadata[METADATA_KEYS.backbone] ?? path.basename(origin.file, path.extname(origin.file));
  return { graph, origin, model, input, description: described(model, input, label, graph.outputs[0].shape[1] as number), notes: [] };
}
