import * as fs from 'fs';
import { z } from 'zod';
import { Config, loadConfig } from '../config';
import { describeProblem, problemsOf } from '../config/problems';
import { inputSection } from '../config/sections/input';
import { modelSection } from '../config/sections/model';
import { InputError } from '../errors';
import { Graph, TensorData } from '../graph/types';
import { writeFileAtomic } from '../util/atomic';
import { decodeSafetensors, encodeSafetensors } from './safetensors';

/**
 * A checkpoint is one safetensors file (see docs/checkpoint-format.md): the model's trainable
 * parameters and state (BatchNorm running statistics) by their graph names, and in
 * `__metadata__` the format tag, the config sections that rebuild the model (`model` and
 * `input`, as JSON) and the training progress. Constants (shape vectors) are not stored: the
 * builder recreates them.
 */

export const CHECKPOINT_FORMAT = 'arcface-checkpoint/1';

/** The config sections a checkpoint stores: enough to rebuild the graph and feed it. */
export const modelSpecSchema = z.strictObject({ model: modelSection, input: inputSection });
export type ModelSpec = z.infer<typeof modelSpecSchema>;

export interface TrainingProgress {
  step?: number;
  epoch?: number;
}

export interface CheckpointMetadata extends TrainingProgress {
  format: typeof CHECKPOINT_FORMAT;
}

export interface Checkpoint {
  /** The stored `model` and `input` sections; the other sections are the shipped defaults. */
  config: Config;
  /** The model's tensors (training-state tensors are in `training`). */
  tensors: Map<string, TensorData>;
  metadata: CheckpointMetadata;
  /** Present in a training checkpoint: what `train --resume` needs beyond the model. */
  training?: TrainingPayload;
}

/**
 * Tensors stored under this prefix are training state (the margin head, optimiser buffers), not
 * model weights: readers that only want the model never see them, so a training checkpoint
 * loads wherever a model checkpoint does.
 */
export const TRAINING_TENSOR_PREFIX = 'training/';
/** The `__metadata__` key holding the training state (JSON, written by src/core/train/checkpointing.ts). */
export const TRAINING_METADATA_KEY = 'training';

export interface TrainingPayload {
  /** JSON text: the trainer's own record (step, loader position, optimiser, run config). */
  state: string;
  /** By their names without TRAINING_TENSOR_PREFIX. */
  tensors: Map<string, TensorData>;
}

export class CheckpointError extends InputError {}

/** Tensors a checkpoint holds for `graph`: every initializer except constants. */
export function weightsOf(graph: Graph): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  for (const init of graph.initializers.values()) if (init.role !== 'constant') out.set(init.name, init.tensor);
  return out;
}

function progressEntries(extra: TrainingProgress): [string, string][] {
  return (['step', 'epoch'] as const).flatMap((key): [string, string][] => {
    const v = extra[key];
    if (v === undefined) return [];
    if (!Number.isSafeInteger(v) || v < 0) throw new CheckpointError(`checkpoint ${key} must be an integer >= 0, got ${v}`);
    return [[key, String(v)]];
  });
}

export function encodeCheckpoint(graph: Graph, config: ModelSpec, extra: TrainingProgress = {}, training?: TrainingPayload): Buffer {
  const spec: ModelSpec = { model: config.model, input: config.input };
  const entries: [string, string][] = [['format', CHECKPOINT_FORMAT], ['config', JSON.stringify(spec)], ...progressEntries(extra)];
  const tensors = weightsOf(graph);
  if (training) {
    entries.push([TRAINING_METADATA_KEY, training.state]);
    for (const [name, t] of training.tensors) tensors.set(`${TRAINING_TENSOR_PREFIX}${name}`, t);
  }
  return encodeSafetensors(tensors, Object.fromEntries(entries));
}

/** Writes atomically: an interrupted save leaves the previous checkpoint intact. */
export function saveCheckpoint(path: string, graph: Graph, config: ModelSpec, extra: TrainingProgress = {}, training?: TrainingPayload): void {
  writeFileAtomic(path, encodeCheckpoint(graph, config, extra, training));
}

function parseSpec(json: string | undefined, source: string): ModelSpec {
  if (json === undefined) throw new CheckpointError(`${source}: checkpoint has no config in its __metadata__`);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new CheckpointError(`${source}: checkpoint config is not valid JSON (${(err as Error).message})`);
  }
  const result = modelSpecSchema.safeParse(raw);
  if (result.success) return result.data;
  const [first] = problemsOf(modelSpecSchema, raw, result.error.issues);
  throw new CheckpointError(`${source}: checkpoint config: ${describeProblem(first)}`);
}

function parseProgress(metadata: Record<string, string>, source: string): TrainingProgress {
  const out: TrainingProgress = {};
  for (const key of ['step', 'epoch'] as const) {
    const text = metadata[key];
    if (text === undefined) continue;
    if (!/^\d+$/.test(text)) throw new CheckpointError(`${source}: checkpoint ${key} ${JSON.stringify(text)} is not an integer >= 0`);
    out[key] = Number(text);
  }
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array, source: string): Checkpoint {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata.format === undefined) {
    throw new CheckpointError(`${source}: not an arcface checkpoint (a safetensors file without __metadata__.format)`);
  }
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${source}: checkpoint format ${JSON.stringify(metadata.format)} is not supported (expected ${CHECKPOINT_FORMAT})`);
  }
  const spec = parseSpec(metadata.config, source);
  const model = new Map<string, TensorData>();
  const state = new Map<string, TensorData>();
  for (const [name, t] of tensors) {
    if (name.startsWith(TRAINING_TENSOR_PREFIX)) state.set(name.slice(TRAINING_TENSOR_PREFIX.length), t);
    else model.set(name, t);
  }
  const trainingState = metadata[TRAINING_METADATA_KEY];
  return {
    config: { ...loadConfig(), ...spec },
    tensors: model,
    metadata: { format: CHECKPOINT_FORMAT, ...parseProgress(metadata, source) },
    ...(trainingState !== undefined || state.size > 0 ? { training: { state: trainingState ?? '{}', tensors: state } } : {}),
  };
}

export function loadCheckpoint(path: string): Checkpoint {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new CheckpointError(`${path}: cannot read checkpoint (${why})`);
  }
  return decodeCheckpoint(bytes, path);
}

const shape = (dims: readonly number[]) => `[${dims.join(', ')}]`;

/** Every way `tensors` fails to fit `graph`'s parameters and state, one line each. */
export function weightMismatches(graph: Graph, tensors: ReadonlyMap<string, TensorData>): string[] {
  const wanted = weightsOf(graph);
  const problems: string[] = [];
  for (const [name, mine] of wanted) {
    const theirs = tensors.get(name);
    if (!theirs) problems.push(`checkpoint has no tensor ${name} (the model needs ${mine.dtype} ${shape(mine.dims)})`);
    else if (theirs.dtype !== mine.dtype || shape(theirs.dims) !== shape(mine.dims)) {
      problems.push(`tensor ${name}: checkpoint has ${theirs.dtype} ${shape(theirs.dims)}, the model needs ${mine.dtype} ${shape(mine.dims)}`);
    }
  }
  for (const name of tensors.keys()) if (!wanted.has(name)) problems.push(`checkpoint tensor ${name} is not in the model`);
  return problems;
}

/**
 * Copies `tensors` into the parameters and state of a freshly built `graph`, by name. Nothing is
 * changed unless every tensor fits: the same names, dtypes and shapes on both sides. `source`
 * (the checkpoint's path) prefixes the error.
 */
export function applyWeights(graph: Graph, tensors: ReadonlyMap<string, TensorData>, source?: string): void {
  const problems = weightMismatches(graph, tensors);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new CheckpointError(`${source ? `${source}: ` : ''}${problems[0]}${more}`);
  }
  for (const [name, t] of tensors) {
    const init = graph.initializers.get(name)!;
    init.tensor = { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() };
  }
}
