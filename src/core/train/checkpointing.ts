import * as fs from 'fs';
import * as path from 'path';
import { CheckpointError, loadCheckpoint, saveCheckpoint, weightsOf } from '../checkpoint/checkpoint';
import { Config, InputConfig, ModelConfig } from '../config';
import { Position } from '../data/loader';
import { Graph, TensorData } from '../graph/types';
import { BackboneOrigin } from './backbone';
import { OPTIMIZER_TYPES, OptimizerState, OptimizerType } from './optim';

/**
 * Training checkpoints: one safetensors file that is also a model checkpoint (the backbone's
 * tensors under their names, `config` = model + input), plus the training state:
 *   training/head/<name>        the margin head's parameters
 *   training/optimizer/<key>    optimiser buffers (<param>.momentum_buffer, .exp_avg, ...)
 *   __metadata__.training       JSON: step, loader position, optimiser type and step, classes,
 *                               where the backbone came from, and the run's whole config
 * Random state needs no entry: every draw is keyed by (seed, epoch, position) (see loop.ts).
 */

export const LAST_CHECKPOINT = 'last.safetensors';
export const FINAL_CHECKPOINT = 'final.safetensors';
export const STATE_VERSION = 1;

const HEAD_PREFIX = 'head/';
const OPTIMIZER_PREFIX = 'optimizer/';

export interface TrainingState {
  version: typeof STATE_VERSION;
  /** Optimiser steps done. */
  step: number;
  totalSteps: number;
  /** The loader position of the next micro-batch. */
  position: Position;
  optimizer: { type: OptimizerType; step: number };
  /** Class names the head's rows stand for. */
  classes: string[];
  origin: BackboneOrigin;
  /** The run's config, every section, as loaded. */
  config: Config;
}

export interface SavedRun {
  file: string;
  state: TrainingState;
  /** The backbone's model and input sections (what rebuilds it). */
  model: ModelConfig;
  input: InputConfig;
  backbone: Map<string, TensorData>;
  head: Map<string, TensorData>;
  optimizer: OptimizerState;
}

export interface RunSnapshot {
  backbone: Graph;
  /** Backbone + head: the head's tensors are those not in `backbone`. */
  forward: Graph;
  model: ModelConfig;
  input: InputConfig;
  optimizer: OptimizerState;
  state: TrainingState;
}

/** The head's parameters: the forward graph's stored tensors that the backbone does not have. */
export function headTensors(forward: Graph, backbone: Graph): Map<string, TensorData> {
  const own = weightsOf(backbone);
  return new Map([...weightsOf(forward)].filter(([name]) => !own.has(name)));
}

/** Writes atomically: a crash mid-save leaves the previous checkpoint as it was. */
export function saveTrainingCheckpoint(file: string, s: RunSnapshot): void {
  const tensors = new Map<string, TensorData>();
  for (const [name, t] of headTensors(s.forward, s.backbone)) tensors.set(`${HEAD_PREFIX}${name}`, t);
  for (const [key, data] of s.optimizer.buffers) tensors.set(`${OPTIMIZER_PREFIX}${key}`, { dtype: 'float32', dims: [data.length], data });
  saveCheckpoint(file, s.backbone, { model: s.model, input: s.input }, { step: s.state.step, epoch: s.state.position.epoch }, { state: JSON.stringify(s.state), tensors });
}

function parseState(text: string, file: string): TrainingState {
  let raw: Partial<TrainingState>;
  try {
    raw = JSON.parse(text) as Partial<TrainingState>;
  } catch (err) {
    throw new CheckpointError(`${file}: training state is not valid JSON (${(err as Error).message})`);
  }
  if (raw.version !== STATE_VERSION) throw new CheckpointError(`${file}: training state version ${raw.version} is not supported (expected ${STATE_VERSION})`);
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const ok =
    count(raw.step) &&
    count(raw.totalSteps) &&
    count(raw.position?.epoch) &&
    count(raw.position?.batch) &&
    OPTIMIZER_TYPES.includes(raw.optimizer?.type as OptimizerType) &&
    count(raw.optimizer?.step) &&
    Array.isArray(raw.classes) &&
    typeof raw.origin?.kind === 'string' &&
    typeof raw.config === 'object';
  if (!ok) throw new CheckpointError(`${file}: training state is incomplete (needs step, totalSteps, position, optimizer, classes, origin, config)`);
  return raw as TrainingState;
}

/** Reads a training checkpoint; a plain model checkpoint is refused with a pointer to train.init_from. */
export function loadTrainingCheckpoint(file: string): SavedRun {
  const ckpt = loadCheckpoint(file);
  if (!ckpt.training) {
    throw new CheckpointError(`${file}: a model checkpoint without training state; to fine-tune from it set train.init_from instead of resuming`);
  }
  const state = parseState(ckpt.training.state, file);
  const head = new Map<string, TensorData>();
  const buffers = new Map<string, Float32Array>();
  for (const [name, t] of ckpt.training.tensors) {
    if (name.startsWith(HEAD_PREFIX)) head.set(name.slice(HEAD_PREFIX.length), t);
    else if (name.startsWith(OPTIMIZER_PREFIX) && t.data instanceof Float32Array) buffers.set(name.slice(OPTIMIZER_PREFIX.length), t.data);
    else throw new CheckpointError(`${file}: unexpected training tensor ${name}`);
  }
  return {
    file,
    state,
    model: ckpt.config.model,
    input: ckpt.config.input,
    backbone: ckpt.tensors,
    head,
    optimizer: { type: state.optimizer.type, step: state.optimizer.step, buffers },
  };
}

/** Sections and keys whose change would make a resumed run differ from the one it continues. */
const TRAJECTORY: Partial<Record<keyof Config, readonly string[] | 'all'>> = {
  model: 'all',
  input: 'all',
  data: ['train_dir', 'list_file', 'batch_size', 'drop_last', 'shuffle', 'augment'],
  head: 'all',
  optimizer: 'all',
  schedule: 'all',
  train: ['init_from', 'freeze'],
};

function leaves(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leaves(v, `${prefix}.${k}`, out);
  } else out.set(prefix, JSON.stringify(value));
}

/**
 * The keys on which `now` differs from the config the checkpoint's run used (train.epochs and
 * train.max_steps may change: a run can be extended), one line each.
 */
export function resumeConflicts(saved: Config, now: Config): string[] {
  const problems: string[] = [];
  for (const [section, keys] of Object.entries(TRAJECTORY) as [keyof Config, readonly string[] | 'all'][]) {
    const pick = (c: Config) => {
      const s = (c[section] ?? {}) as Record<string, unknown>;
      return keys === 'all' ? s : Object.fromEntries(keys.map((k) => [k, s[k]]));
    };
    const a = new Map<string, string>();
    const b = new Map<string, string>();
    leaves(pick(saved), section, a);
    leaves(pick(now), section, b);
    for (const key of new Set([...a.keys(), ...b.keys()])) {
      if (a.get(key) !== b.get(key)) problems.push(`${key}: the run used ${a.get(key) ?? 'nothing'}, the config now says ${b.get(key) ?? 'nothing'}`);
    }
  }
  return problems;
}

/** Where a run's files go. */
export function runFiles(outputDir: string) {
  return {
    last: path.join(outputDir, LAST_CHECKPOINT),
    final: path.join(outputDir, FINAL_CHECKPOINT),
    metrics: path.join(outputDir, 'metrics.jsonl'),
    config: path.join(outputDir, 'config.json'),
    onnx: path.join(outputDir, 'model.onnx'),
  };
}

export function hasCheckpoint(outputDir: string): boolean {
  return fs.existsSync(runFiles(outputDir).last);
}
