import { attr, getAttr } from '../../graph/types';
import { Emitter } from '../emitter';
import { centeredAffine, elementCount, range } from '../tensors';
import { BackwardRule, GradientRule, NodeContext, TrainingForm, TrainingFormResult, outputGrad, staticDims } from '../types';

/**
 * BatchNormalization over channel axis 1 of [N, C, ...] (or [N, C]).
 *
 * Training form, composed from reductions: with batch statistics over every axis but 1,
 *   mean = E[x], var = max(E[x^2] - mean^2, 0) (biased), invstd = 1/sqrt(var + eps),
 *   a = scale * invstd, y = (x - mean) * a + bias,
 * where the two statistics are reductions of x itself (no centred copy of x is written) and y
 * is one per-channel affine pass with those statistics (tensors.ts centeredAffine). The batch
 * mean and the unbiased variance (var * n/(n-1), what PyTorch folds into running_var) are [C]
 * outputs for the trainer's momentum update. Its backward is the fused formula (n = elements
 * per channel, xc = x - mean, never materialised):
 *   dbias = sum dy, dscale = invstd * sum(dy * xc), sum(dy * xc) = sum(dy * x) - mean * sum(dy),
 *   dx = a * dy - a * sum(dy)/n - xc * a * invstd^2 * sum(dy * xc)/n.
 * E[x^2] - mean^2 loses digits only when |mean| is many times the spread, which BatchNorm
 * inputs (convolution outputs) are not; the clamp at 0 keeps rounding from going negative.
 * sum(dy * x) - mean * sum(dy) cancels where a channel's dscale is small (70-1000x seen in an
 * untrained net): such a dscale carries ~1e-4 relative rounding, far below SGD's own noise.
 *
 * Inference form (a frozen BatchNorm, running statistics as constants): y = x * a + const,
 * so dx = dy * a.
 */

/** The axes a BatchNorm's statistics reduce over: every axis but the channel axis 1. */
export function statAxes(rank: number): number[] {
  return [0, ...range(rank - 2, 2)];
}

/** A per-channel [C] vector reshaped to broadcast against [N, C, ...]. */
function perChannel(emit: Emitter, v: string, channels: number, rank: number): string {
  return emit.op('Reshape', [v, emit.ints([1, channels, ...new Array<number>(rank - 2).fill(1)])]);
}

function epsilonOf(ctx: NodeContext): number {
  return getAttr(ctx.node, 'epsilon', 'float') ?? 1e-5;
}

function trainingForward(ctx: NodeContext): TrainingFormResult {
  const { emit, node } = ctx;
  const [x, scale, bias, runningMean, runningVar] = node.inputs;
  const xShape = ctx.inputShapes[0];
  const axes = statAxes(xShape.length);
  const channels = staticDims(ctx, [xShape[1]], 'the channel axis')[0];
  const count = elementCount(emit, x, xShape, axes);
  const mean = emit.op('ReduceMean', [x], { axes: attr.ints(axes), keepdims: attr.int(0) }, emit.fresh(`${node.name}.batch_mean`)); // [C]
  const meanOfSquares = emit.op('Div', [emit.op('ReduceSumSquare', [x], { axes: attr.ints(axes), keepdims: attr.int(0) }), count]); // [C]
  const variance = emit.op('Max', [emit.op('Sub', [meanOfSquares, emit.op('Mul', [mean, mean])]), emit.scalar(0)]);
  const invstd = emit.op('Reciprocal', [emit.op('Sqrt', [emit.op('Add', [variance, emit.scalar(epsilonOf(ctx))])])]);
  const a = emit.op('Mul', [invstd, scale]);
  centeredAffine(emit, x, xShape, mean, a, bias, channels, node.outputs[0]);

  const batchVar = emit.op('Div', [emit.op('Mul', [variance, count]), emit.op('Sub', [count, emit.scalar(1)])], {}, emit.fresh(`${node.name}.batch_var`));
  return {
    saved: { x, mean, invstd, a, count },
    batchStats: {
      node: node.name,
      mean,
      var: batchVar,
      runningMean,
      runningVar,
      momentum: getAttr(node, 'momentum', 'float') ?? 0.9,
    },
  };
}

/**
 * The per-channel coefficients of the input gradient dx = a * dy + k1 * (x - mean) + k0, from
 * sum dy and sum dy * (x - mean) over the n values of each channel ([C] vectors throughout).
 */
export function inputGradCoefficients(emit: Emitter, v: { a: string; invstd: string; count: string; sumDy: string; sumDyXc: string }): { k1: string; k0: string } {
  const perCount = (t: string) => emit.op('Div', [t, v.count]);
  return {
    k1: emit.op('Neg', [perCount(emit.op('Mul', [emit.op('Mul', [v.a, emit.op('Mul', [v.invstd, v.invstd])]), v.sumDyXc]))]),
    k0: emit.op('Neg', [perCount(emit.op('Mul', [v.a, v.sumDy]))]),
  };
}

/**
 * Saved per-channel vectors are [C]; dx = dy * a + ((x - mean) * k1 + k0) with the bracket one
 * centeredAffine pass (on large maps a Conv, into which onnxruntime fuses the Add when the
 * shapes are static).
 */
const trainingBackward: BackwardRule = (ctx) => {
  const { emit } = ctx;
  const dY = outputGrad(ctx);
  const { x, mean, invstd, a, count } = ctx.saved;
  const rank = ctx.inputShapes[0].length;
  const channels = staticDims(ctx, [ctx.inputShapes[0][1]], 'the channel axis')[0];
  const perChannelSum = (t: string) => emit.op('ReduceSum', [t, emit.ints(statAxes(rank))], { keepdims: attr.int(0) });
  const sumDy = perChannelSum(dY);
  const sumDyXc = ctx.needs[0] || ctx.needs[1] ? emit.op('Sub', [perChannelSum(emit.op('Mul', [dY, x])), emit.op('Mul', [mean, sumDy])]) : '';
  let dX: string | undefined;
  if (ctx.needs[0]) {
    const { k1, k0 } = inputGradCoefficients(emit, { a, invstd, count, sumDy, sumDyXc });
    dX = emit.op('Add', [emit.op('Mul', [dY, perChannel(emit, a, channels, rank)]), centeredAffine(emit, x, ctx.inputShapes[0], mean, k1, k0, channels)]);
  }
  return [dX, ctx.needs[1] ? emit.op('Mul', [sumDyXc, invstd]) : undefined, ctx.needs[2] ? sumDy : undefined];
};

export const BATCH_NORM_TRAINING: TrainingForm = {
  differentiable: [0, 1, 2],
  // A BatchNorm whose scale and bias are both frozen is frozen as a whole (running statistics, no updates).
  applies: (node, isTrained) => isTrained(node.inputs[1]) || isTrained(node.inputs[2]),
  forward: trainingForward,
  backward: trainingBackward,
};

/** Inference semantics: only the input's gradient (a frozen BatchNorm's parameters get none). */
const batchNormInference: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { emit } = ctx;
    const [, scale, , , runningVar] = ctx.node.inputs;
    const rank = ctx.inputShapes[0].length;
    const channels = staticDims(ctx, [ctx.inputShapes[0][1]], 'the channel axis')[0];
    const invstd = emit.op('Reciprocal', [emit.op('Sqrt', [emit.op('Add', [runningVar, emit.scalar(epsilonOf(ctx))])])]);
    const a = perChannel(emit, emit.op('Mul', [scale, invstd]), channels, rank);
    return [emit.op('Mul', [outputGrad(ctx), a])];
  },
};

export const BATCH_NORM_RULES: Record<string, GradientRule> = { BatchNormalization: batchNormInference };
