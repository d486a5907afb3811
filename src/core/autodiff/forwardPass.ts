import { inferShapes } from '../graph/shapes';
import { Dim, Graph, Node, OPSET_VERSION, Shape, TensorData, ValueInfo, emptyGraph } from '../graph/types';
import { differentiableSlots, isFrozen, tensorsNeedingGradient, topologicalOrder } from './analysis';
import { Emitter } from './emitter';
import { CONV_BATCH_NORM, fuseConvBatchNorms } from './rules/convBatchNorm';
import { AutodiffError, BatchNormStats, DropoutMaskInput, GradientRule, NodeContext, RuleSet } from './types';

/**
 * Emits the training-mode forward computation: the forward graph's nodes with trained
 * parameters turned into graph inputs and BatchNorm/Dropout in their training forms, recording
 * for each node the rule that will differentiate it (the tape).
 */

export interface TapeEntry {
  node: Node;
  /** The rule (or training form) that differentiates this node; undefined when the op has none. */
  rule: GradientRule | undefined;
  slots: number[];
  saved: Record<string, string>;
}

export interface ForwardPass {
  graph: Graph;
  emit: Emitter;
  tape: TapeEntry[];
  shapes: Map<string, ValueInfo>;
  /** Trained parameters (graph inputs now) and their dims. */
  params: Map<string, number[]>;
  needing: Set<string>;
  batchNormStats: BatchNormStats[];
  dropoutMasks: DropoutMaskInput[];
}

/** Opset 13 moved Softmax's axis, ReduceSum's axes and Squeeze's axes to today's semantics; 17 is ours. */
const OLDEST_OPSET = 13;

export interface ForwardPassOptions {
  loss: string;
  freeze: readonly string[];
  rules: RuleSet;
  /** Values for symbolic dimensions of the forward graph's inputs. */
  dims: Readonly<Record<string, number>>;
}

function shapeOf(shapes: Map<string, ValueInfo>, tensor: string): Shape {
  if (tensor === '') return [];
  const info = shapes.get(tensor);
  if (!info) throw new AutodiffError(`no shape for tensor ${tensor}`);
  return info.shape;
}

export function nodeContext(node: Node, emit: Emitter, shapes: Map<string, ValueInfo>, constants: Map<string, TensorData>): NodeContext {
  return {
    node,
    emit,
    inputShapes: node.inputs.map((t) => shapeOf(shapes, t)),
    outputShapes: node.outputs.map((t) => shapeOf(shapes, t)),
    constant: (i) => constants.get(node.inputs[i]),
  };
}

function checkLoss(shapes: Map<string, ValueInfo>, loss: string): void {
  const info = shapes.get(loss);
  if (!info) throw new AutodiffError(`loss tensor ${loss} is not in the forward graph`);
  if (!info.shape.every((d) => d === 1)) throw new AutodiffError(`loss ${loss} must be a scalar, its shape is [${info.shape}]`);
}

/** Trainable initializers outside the frozen prefixes, with their dims. */
function trainedParams(forward: Graph, freeze: readonly string[]): Map<string, number[]> {
  const params = new Map<string, number[]>();
  for (const init of forward.initializers.values()) {
    if (init.role === 'trainable' && !isFrozen(init.name, freeze)) params.set(init.name, init.tensor.dims.slice());
  }
  return params;
}

/**
 * The training graph before any node: the forward inputs, then one input per trained parameter;
 * every other initializer is kept (shared with the forward graph, not copied).
 */
function graphWithParamInputs(forward: Graph, params: Map<string, number[]>): Graph {
  const graph = emptyGraph(`${forward.name}.train`);
  graph.producer = forward.producer;
  graph.inputs = [
    ...forward.inputs.map((v) => ({ ...v, shape: v.shape.slice() })),
    ...[...params].map(([name, dims]) => ({ name, dtype: 'float32' as const, shape: dims.slice() })),
  ];
  for (const init of forward.initializers.values()) if (!params.has(init.name)) graph.initializers.set(init.name, init);
  return graph;
}

/** `forward` with the named symbolic input dimensions made static (a shallow copy; the caller's graph is untouched). */
function withStaticDims(forward: Graph, dims: Readonly<Record<string, number>>): Graph {
  if (Object.keys(dims).length === 0) return forward;
  const resolve = (d: Dim): Dim => (typeof d === 'string' && d in dims ? dims[d] : d);
  return { ...forward, inputs: forward.inputs.map((v) => ({ ...v, shape: v.shape.map(resolve) })) };
}

export function emitForwardPass(original: Graph, opts: ForwardPassOptions): ForwardPass {
  const forward = withStaticDims(original, opts.dims);
  if (forward.opsetVersion < OLDEST_OPSET || forward.opsetVersion > OPSET_VERSION) {
    throw new AutodiffError(`training graphs need opset ${OLDEST_OPSET}..${OPSET_VERSION}, the model has opset ${forward.opsetVersion}`);
  }
  const shapes = inferShapes(forward);
  checkLoss(shapes, opts.loss);
  const params = trainedParams(forward, opts.freeze);
  const isTrained = (t: string) => params.has(t);
  const formOf = (node: Node) => {
    const form = opts.rules.trainingForms[node.opType];
    return form && form.applies(node, isTrained) ? form : undefined;
  };
  const fused = opts.rules.trainingForms[CONV_BATCH_NORM] ? fuseConvBatchNorms(forward, shapes, (bn) => formOf(bn) !== undefined) : forward;
  const nodes = topologicalOrder(fused);
  const slotsOf = (node: Node) => differentiableSlots(node, opts.rules, formOf(node) !== undefined);
  const needing = tensorsNeedingGradient(nodes, new Set(params.keys()), slotsOf);

  const graph = graphWithParamInputs(forward, params);
  const constants = new Map([...graph.initializers].map(([name, init]) => [name, init.tensor]));
  const emit = Emitter.into(graph, 'train');
  emit.reserve(nodes.flatMap((n) => [n.name, ...n.outputs]));

  const pass: ForwardPass = { graph, emit, tape: [], shapes, params, needing, batchNormStats: [], dropoutMasks: [] };
  for (const node of nodes) {
    const form = formOf(node);
    if (!form) {
      emit.append(node);
      pass.tape.push({ node, rule: opts.rules.gradients[node.opType], slots: slotsOf(node), saved: {} });
      continue;
    }
    const result = form.forward(nodeContext(node, emit.scoped(`${node.name}/train`), shapes, constants));
    pass.tape.push({ node, rule: form, slots: slotsOf(node), saved: result.saved });
    if (result.batchStats) pass.batchNormStats.push(result.batchStats);
    for (const mask of result.maskInputs ?? []) {
      pass.dropoutMasks.push(mask);
      graph.inputs.push({ name: mask.input, dtype: 'float32', shape: mask.shape.slice() });
    }
  }
  return pass;
}
