import { Graph, Node, ValueInfo, attr, getAttr, numel } from '../../graph/types';
import { Emitter } from '../emitter';
import { BackwardRule, NodeContext, TrainingForm, TrainingFormResult, outputGrad, staticDims } from '../types';
import { inputGradCoefficients, statAxes } from './batchNorm';

/**
 * A 1x1 convolution (stride 1, no padding, one group, no bias) whose only consumer is a
 * training-mode BatchNormalization, trained as one unit without its output x = W h ever being
 * written. For a 1x1 conv the batch statistics follow from the conv input's mean h' and the
 * covariance S = sum over samples and positions of (h - h')(h - h')^T ([C, C]):
 *   mean = W h',  sum (x - mean)^2 = diag(W S W^T)  (per output channel),
 * and the BatchNorm folds into the conv: y = Conv(h, a * W, bias - a * mean), a = scale * invstd.
 * Backward, with Q = sum dy (h - h')^T ([M, C], one batched GEMM) and k1, k0 BatchNorm's
 * per-channel coefficients of its input gradient dx = a dy + k1 (x - mean) + k0 (batchNorm.ts):
 *   sum dy (x - mean) = rowwise sum of W * Q,   dW = a * Q + k1 * (W S)
 *   (dx sums to zero per channel, so h' drops out of dW), and
 *   dh = W^T (a dy) + (W^T k1 W) (h - h') + W^T k0:  two 1x1 convs, the second C -> C.
 * This replaces BatchNorm's passes over x (two for its statistics, its affine, six ops in its
 * backward) with GEMMs of C x C per position and passes over h, which has C <= M / 2 channels.
 */

/** The fused node's op type: a training-graph-only unit, never in a model (it has no inference form). */
export const CONV_BATCH_NORM = 'ConvBatchNormalization';

/**
 * When fusing pays: the conv widens (M >= 2C, so x is at least twice h) and there are many
 * positions per input channel (N * P >= 16 C, so the C x C GEMMs are small next to the conv).
 * At batch 32 that is ResNet-50's eight unstrided expansions in layer1 and layer2 and two of
 * MobileFaceNet's 1x1 convs. Measured (BENCHMARKS.md "train"): at layer3 (C 256 on 7x7) the
 * fused forward alone was slower, at layer4 2.5x slower (W S costs M C^2, as much as the conv);
 * fusing M = C convs as well (MobileFaceNet's) gave no consistent gain in speed.
 */
export function fusionPays(c: number, m: number, positions: number): boolean {
  return m >= 2 * c && positions >= 16 * c;
}

const allEqual = (values: readonly number[] | undefined, v: number) => (values ?? []).every((x) => x === v);

/** Whether `conv` is a plain 1x1 conv with static shapes: no bias, unit strides, no padding, one group. */
function plainPointwise(conv: Node, shapes: Map<string, ValueInfo>): boolean {
  if (conv.opType !== 'Conv' || (conv.inputs.length > 2 && conv.inputs[2] !== '')) return false;
  const autoPad = getAttr(conv, 'auto_pad', 'string') ?? 'NOTSET';
  if (!['NOTSET', 'VALID'].includes(autoPad) || (getAttr(conv, 'group', 'int') ?? 1) !== 1) return false;
  if (!allEqual(getAttr(conv, 'strides', 'ints'), 1) || !allEqual(getAttr(conv, 'pads', 'ints'), 0)) return false;
  const h = shapes.get(conv.inputs[0])?.shape ?? [];
  const w = shapes.get(conv.inputs[1])?.shape ?? [];
  return h.length >= 3 && [...h, ...w].every((d) => typeof d === 'number') && w.slice(2).every((k) => k === 1);
}

/**
 * The forward graph with each qualifying Conv -> BatchNormalization pair replaced by one
 * CONV_BATCH_NORM node (named as the BatchNorm, with its attributes): inputs [h, W, scale, bias,
 * running mean, running var], output the BatchNorm's. `trainingBatchNorm` says whether a BatchNorm
 * takes its training form. The caller's graph is not modified.
 */
export function fuseConvBatchNorms(forward: Graph, shapes: Map<string, ValueInfo>, trainingBatchNorm: (node: Node) => boolean): Graph {
  const producer = new Map(forward.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const uses = new Map<string, number>();
  for (const t of [...forward.nodes.flatMap((n) => n.inputs), ...forward.outputs.map((o) => o.name)]) uses.set(t, (uses.get(t) ?? 0) + 1);
  const fused = new Map<Node, Node>();
  const dropped = new Set<Node>();
  for (const bn of forward.nodes) {
    if (bn.opType !== 'BatchNormalization' || bn.outputs.length !== 1 || !trainingBatchNorm(bn)) continue;
    const conv = producer.get(bn.inputs[0]);
    if (!conv || uses.get(bn.inputs[0]) !== 1 || !plainPointwise(conv, shapes)) continue;
    const [n, c, ...spatial] = shapes.get(conv.inputs[0])?.shape as number[];
    const m = (shapes.get(conv.inputs[1])?.shape as number[])[0];
    if (!fusionPays(c, m, n * numel(spatial))) continue;
    fused.set(bn, { ...bn, opType: CONV_BATCH_NORM, inputs: [conv.inputs[0], conv.inputs[1], ...bn.inputs.slice(1)] });
    dropped.add(conv);
  }
  if (fused.size === 0) return forward;
  return { ...forward, nodes: forward.nodes.filter((n) => !dropped.has(n)).map((n) => fused.get(n) ?? n) };
}

/** Per-output-channel [M] vector as a column [M, 1], to scale the rows of an [M, C] matrix. */
const column = (emit: Emitter, v: string) => emit.op('Unsqueeze', [v, emit.ints([1])]);

function trainingForward(ctx: NodeContext): TrainingFormResult {
  const { emit, node } = ctx;
  const [h, w, scale, bias, runningMean, runningVar] = node.inputs;
  const [n, c, ...spatial] = staticDims(ctx, ctx.inputShapes[0], 'the conv input');
  const wDims = staticDims(ctx, ctx.inputShapes[1], 'the conv weight');
  const m = wDims[0];
  const positions = numel(spatial);
  const count = emit.scalar(n * positions);
  const epsilon = getAttr(node, 'epsilon', 'float') ?? 1e-5;

  const hMean = emit.op('ReduceMean', [h], { axes: attr.ints(statAxes(spatial.length + 2)), keepdims: attr.int(1) }); // [1, C, 1...]
  const centred = emit.op('Reshape', [emit.op('Sub', [h, hMean]), emit.ints([n, c, positions])]); // [N, C, P]
  const perSample = emit.op('MatMul', [centred, emit.op('Transpose', [centred], { perm: attr.ints([0, 2, 1]) })]);
  const covariance = emit.op('ReduceSum', [perSample, emit.ints([0])], { keepdims: attr.int(0) }); // [C, C]
  const rows = emit.op('Reshape', [w, emit.ints([m, c])]);
  const rowsCov = emit.op('MatMul', [rows, covariance]); // W S, [M, C]
  const mean = emit.op('Reshape', [emit.op('MatMul', [rows, emit.op('Reshape', [hMean, emit.ints([c, 1])])]), emit.ints([m])], {}, emit.fresh(`${node.name}.batch_mean`));
  const squares = emit.op('ReduceSum', [emit.op('Mul', [rowsCov, rows]), emit.ints([1])], { keepdims: attr.int(0) });
  const variance = emit.op('Max', [emit.op('Div', [squares, count]), emit.scalar(0)]);
  const invstd = emit.op('Reciprocal', [emit.op('Sqrt', [emit.op('Add', [variance, emit.scalar(epsilon)])])]);
  const a = emit.op('Mul', [invstd, scale]);
  const scaledRows = emit.op('Mul', [rows, column(emit, a)]); // a * W, [M, C]
  const shift = emit.op('Sub', [bias, emit.op('Mul', [a, mean])]);
  const kernel = wDims.slice(2);
  emit.op('Conv', [h, emit.op('Reshape', [scaledRows, emit.ints(wDims)]), shift], { kernel_shape: attr.ints(kernel) }, node.outputs[0]);

  const batchVar = emit.op('Div', [emit.op('Mul', [variance, count]), emit.scalar(n * positions - 1)], {}, emit.fresh(`${node.name}.batch_var`));
  return {
    saved: { centred, rows, rowsCov, scaledRows, a, invstd, count },
    batchStats: { node: node.name, mean, var: batchVar, runningMean, runningVar, momentum: getAttr(node, 'momentum', 'float') ?? 0.9 },
  };
}

const trainingBackward: BackwardRule = (ctx) => {
  const { emit } = ctx;
  const dY = outputGrad(ctx);
  const { centred, rows, rowsCov, scaledRows, a, invstd, count } = ctx.saved;
  const [n, c, ...spatial] = ctx.inputShapes[0] as number[];
  const m = (ctx.inputShapes[1] as number[])[0];
  const positions = numel(spatial);
  const kernel = (ctx.inputShapes[1] as number[]).slice(2);
  const pointwise = (x: string, weight: string, out: number, bias?: string) =>
    emit.op('Conv', [x, emit.op('Reshape', [weight, emit.ints([out, -1, ...kernel])]), ...(bias ? [bias] : [])], { kernel_shape: attr.ints(kernel) });

  const sumDy = emit.op('ReduceSum', [dY, emit.ints(statAxes(spatial.length + 2))], { keepdims: attr.int(0) }); // [M]
  const dYRows = emit.op('Reshape', [dY, emit.ints([n, m, positions])]);
  const q = emit.op('ReduceSum', [emit.op('MatMul', [dYRows, emit.op('Transpose', [centred], { perm: attr.ints([0, 2, 1]) })]), emit.ints([0])], { keepdims: attr.int(0) }); // [M, C]
  const sumDyXc = emit.op('ReduceSum', [emit.op('Mul', [rows, q]), emit.ints([1])], { keepdims: attr.int(0) }); // [M]
  const { k1, k0 } = inputGradCoefficients(emit, { a, invstd, count, sumDy, sumDyXc });

  let dH: string | undefined;
  if (ctx.needs[0]) {
    const transposed = (t: string) => emit.op('Transpose', [t], { perm: attr.ints([1, 0]) });
    const rowsT = transposed(rows);
    const fromDy = pointwise(dY, transposed(scaledRows), c); // W^T (a dy)
    const mixing = emit.op('MatMul', [rowsT, emit.op('Mul', [rows, column(emit, k1)])]); // W^T k1 W, [C, C]
    const offset = emit.op('Reshape', [emit.op('MatMul', [rowsT, column(emit, k0)]), emit.ints([c])]); // W^T k0
    const fromCentred = pointwise(emit.op('Reshape', [centred, emit.ints(ctx.inputShapes[0] as number[])]), mixing, c, offset);
    dH = emit.op('Add', [fromDy, fromCentred]);
  }
  const dW = ctx.needs[1]
    ? emit.op('Reshape', [emit.op('Add', [emit.op('Mul', [q, column(emit, a)]), emit.op('Mul', [rowsCov, column(emit, k1)])]), emit.ints(ctx.inputShapes[1] as number[])])
    : undefined;
  return [dH, dW, ctx.needs[2] ? emit.op('Mul', [sumDyXc, invstd]) : undefined, ctx.needs[3] ? sumDy : undefined];
};

export const CONV_BATCH_NORM_TRAINING: TrainingForm = {
  differentiable: [0, 1, 2, 3],
  // Built only by fuseConvBatchNorms, for BatchNorms that take their training form.
  applies: () => true,
  forward: trainingForward,
  backward: trainingBackward,
};
