import { consumers, producers } from '../graph/edit';
import { Graph, Node, ValueInfo, attr } from '../graph/types';
import { emitBackwardPass } from './backwardPass';
import { Emitter } from './emitter';
import { ForwardPass, emitForwardPass } from './forwardPass';
import { pruneToOutputs } from './prune';
import { DEFAULT_RULES } from './registry';
import { AutodiffError, BatchNormStats, DropoutMaskInput, RuleSet } from './types';

/**
 * The training graph: one ONNX graph of standard opset-17 ops that, in a single session.run,
 * returns the loss, every trained parameter's gradient, each training-mode BatchNorm's batch
 * statistics and any extra outputs. Trained parameters are graph inputs (the trainer feeds the
 * current values every step); frozen ones stay initializers and get no gradient work.
 */

export interface TrainingSpec {
  /** The forward graph's scalar loss tensor. */
  loss: string;
  /** Forward tensors returned as well (e.g. logits for training accuracy). */
  extraOutputs?: string[];
  /**
   * Name prefixes of trainable initializers that are not trained. A BatchNorm whose scale and
   * bias are both frozen is frozen whole: it normalises with its running statistics.
   */
  freeze?: string[];
  /** Replacement rules or training forms, by op type (experiments and tests). */
  rules?: Partial<RuleSet>;
  /**
   * Values for symbolic dimensions of the forward graph's inputs, e.g. { N: 32 }: the training
   * graph is then built and declared with static shapes, which lets the builder use
   * formulations that need them (a depthwise conv's batch-folded weight gradient) and
   * onnxruntime plan its memory once. The graph then runs only at those sizes.
   */
  dims?: Record<string, number>;
  /**
   * Also return the sum of squares of every gradient (the global gradient norm, squared), for
   * clipping and the NaN/Inf check: onnxruntime reduces the gradients on all its threads
   * (9.5-10.5 ms per ResNet-50 step), where a JS pass over their 25 M values after the run took
   * 15 ms.
   */
  gradSumOfSquares?: boolean;
}

export interface TrainingForward {
  graph: Graph;
  /** Trained parameters, each a graph input named as the initializer it replaces. */
  params: string[];
  loss: string;
  extraOutputs: string[];
  batchNormStats: BatchNormStats[];
  /** Graph inputs to feed with sampleDropoutMask each step. */
  dropoutMasks: DropoutMaskInput[];
}

export interface TrainingGraph extends TrainingForward {
  /** Parameter name -> graph output holding its gradient. */
  gradOutputs: Map<string, string>;
  /** The scalar output holding the sum of every gradient's squares (TrainingSpec.gradSumOfSquares). */
  gradSumOfSquares?: string;
}

function resolveRules(spec: TrainingSpec): RuleSet {
  return {
    gradients: { ...DEFAULT_RULES.gradients, ...spec.rules?.gradients },
    trainingForms: { ...DEFAULT_RULES.trainingForms, ...spec.rules?.trainingForms },
  };
}

function forwardOutput(pass: ForwardPass, forward: Graph, name: string): ValueInfo {
  const info = pass.shapes.get(name);
  if (!info) throw new AutodiffError(`output ${name} is not a tensor of the forward graph`);
  const declared = forward.outputs.find((o) => o.name === name)?.dtype;
  return { name, dtype: declared ?? info.dtype, shape: info.shape.slice() };
}

/** Declares the outputs (loss, extras, batch statistics, then `more`) and drops everything they do not need. */
function finish(forward: Graph, pass: ForwardPass, spec: TrainingSpec, more: ValueInfo[]): TrainingForward {
  const extraOutputs = [...new Set(spec.extraOutputs ?? [])].filter((t) => t !== spec.loss);
  const stats = pass.batchNormStats.flatMap((s) => {
    const channels = pass.shapes.get(s.runningMean)?.shape ?? [];
    return [s.mean, s.var].map((name) => ({ name, dtype: 'float32' as const, shape: channels.slice() }));
  });
  const loss = { ...forwardOutput(pass, forward, spec.loss), dtype: 'float32' as const };
  pass.graph.outputs = [loss, ...extraOutputs.map((t) => forwardOutput(pass, forward, t)), ...stats, ...more];
  pruneToOutputs(pass.graph);
  return {
    graph: pass.graph,
    params: [...pass.params.keys()],
    loss: spec.loss,
    extraOutputs,
    batchNormStats: pass.batchNormStats,
    dropoutMasks: pass.dropoutMasks,
  };
}

function forwardPass(forward: Graph, spec: TrainingSpec): ForwardPass {
  return emitForwardPass(forward, { loss: spec.loss, freeze: spec.freeze ?? [], rules: resolveRules(spec), dims: spec.dims ?? {} });
}

/** The training-mode forward alone (same inputs and forward outputs as the training graph, no gradients). */
export function buildTrainingForward(forward: Graph, spec: TrainingSpec): TrainingForward {
  return finish(forward, forwardPass(forward, spec), spec, []);
}

/**
 * Lets the node computing each of `outputs` write it itself where an Identity only renames its
 * result (the backward pass names every gradient so). onnxruntime folds such an Identity too, but
 * only while nothing else reads the tensor: with the sum of squares reading the gradients it
 * copied all of them instead (20-27 ms per ResNet-50 step).
 */
function foldOutputIdentities(graph: Graph, outputs: readonly string[]): void {
  const readers = consumers(graph);
  const byOutput = producers(graph);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const folded = new Set<Node>();
  for (const name of outputs) {
    const identity = byOutput.get(name);
    if (identity?.opType !== 'Identity') continue;
    const source = identity.inputs[0];
    const producer = byOutput.get(source);
    if (!producer || readers.get(source)?.length !== 1 || graphOutputs.has(source)) continue;
    // Renamed in place: the gradients become graph outputs only later (finish), so removeNode's
    // rewiring of readers does not apply.
    producer.outputs[producer.outputs.indexOf(source)] = name;
    folded.add(identity);
  }
  graph.nodes = graph.nodes.filter((n) => !folded.has(n));
}

/** Sum over `grads` of ReduceSumSquare (float32 per tensor, as torch's clip_grad_norm_ takes each tensor's norm). */
function emitSumOfSquares(emit: Emitter, grads: string[]): string {
  const perTensor = grads.map((g) => emit.op('ReduceSumSquare', [g], { keepdims: attr.int(0) }));
  return emit.op('Sum', perTensor, {}, emit.fresh('grad_sum_of_squares'));
}

export function buildTrainingGraph(forward: Graph, spec: TrainingSpec): TrainingGraph {
  const pass = forwardPass(forward, spec);
  const gradOutputs = emitBackwardPass(pass, spec.loss);
  const gradients = [...pass.params].map(([p, dims]) => ({ name: gradOutputs.get(p) as string, dtype: 'float32' as const, shape: dims.slice() }));
  const names = gradients.map((g) => g.name);
  foldOutputIdentities(pass.graph, names);
  const sumOfSquares = spec.gradSumOfSquares && names.length > 0 ? emitSumOfSquares(pass.emit.scoped('grad'), names) : undefined;
  const more = sumOfSquares === undefined ? gradients : [...gradients, { name: sumOfSquares, dtype: 'float32' as const, shape: [] }];
  return { ...finish(forward, pass, spec, more), gradOutputs, ...(sumOfSquares === undefined ? {} : { gradSumOfSquares: sumOfSquares }) };
}
