import { Shape, getAttr } from '../../graph/types';
import { elementCount, expandLike, keptShape, normalizeAxis, range, restoreReducedAxes } from '../tensors';
import { GradientContext, GradientRule, constantInts, outputGrad } from '../types';

/**
 * Reductions: the output gradient is put back at the reduced axes (keepdims restored) and
 * broadcast over them; a mean also divides by the element count, which for the batch axis is
 * only known at run time.
 */

interface Reduction {
  axes: number[];
  keepdims: boolean;
  /** noop_with_empty_axes with no axes: the op is the identity. */
  identity: boolean;
}

/** Axes and keepdims of a Reduce* node; opset 17 gives ReduceSum its axes as an input, the others as an attribute. */
function reduction(ctx: GradientContext): Reduction {
  const { node } = ctx;
  const rank = ctx.inputShapes[0].length;
  const keepdims = (getAttr(node, 'keepdims', 'int') ?? 1) === 1;
  const listed = node.opType === 'ReduceSum' ? (node.inputs[1] ? constantInts(ctx, 1) : []) : (getAttr(node, 'axes', 'ints') ?? []);
  const noop = (getAttr(node, 'noop_with_empty_axes', 'int') ?? 0) === 1;
  const axes = listed.length > 0 ? listed.map((a) => normalizeAxis(a, rank)) : range(rank);
  return { axes, keepdims, identity: listed.length === 0 && noop };
}

/** dy restored to the reduced rank (size 1 at the reduced axes). */
function keptGrad(ctx: GradientContext, r: Reduction, scaled?: string): { grad: string; shape: Shape } {
  const grad = restoreReducedAxes(ctx.emit, scaled ?? outputGrad(ctx), r.axes, r.keepdims);
  return { grad, shape: keptShape(ctx.inputShapes[0], r.axes) };
}

function broadcastBack(ctx: GradientContext, kept: { grad: string; shape: Shape }): string {
  return expandLike(ctx.emit, kept.grad, kept.shape, ctx.node.inputs[0], ctx.inputShapes[0]);
}

const reduceSum: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const r = reduction(ctx);
    if (r.identity) return [outputGrad(ctx)];
    return [broadcastBack(ctx, keptGrad(ctx, r))];
  },
};

const reduceMean: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const r = reduction(ctx);
    if (r.identity) return [outputGrad(ctx)];
    const count = elementCount(ctx.emit, ctx.node.inputs[0], ctx.inputShapes[0], r.axes);
    // Divide on the small tensor, before broadcasting.
    return [broadcastBack(ctx, keptGrad(ctx, r, ctx.emit.op('Div', [outputGrad(ctx), count])))];
  },
};

/** y = sum x^2: dx = 2 x dy. */
const reduceSumSquare: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const r = reduction(ctx);
    const { emit } = ctx;
    const kept = keptGrad(ctx, r, emit.op('Mul', [outputGrad(ctx), emit.scalar(2)]));
    return [emit.op('Mul', [ctx.node.inputs[0], kept.grad])];
  },
};

/** y = sqrt(sum x^2): dx = x dy / y (undefined at y = 0, like the function's own derivative). */
const reduceL2: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const r = reduction(ctx);
    const { emit } = ctx;
    const ratio = emit.op('Div', [outputGrad(ctx), ctx.node.outputs[0]]);
    return [emit.op('Mul', [ctx.node.inputs[0], keptGrad(ctx, r, ratio).grad])];
  },
};

/** GlobalAveragePool: a mean over the spatial axes with keepdims. */
const globalAveragePool: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const x = ctx.node.inputs[0];
    const shape = ctx.inputShapes[0];
    const axes = range(shape.length - 2, 2);
    const scaled = ctx.emit.op('Div', [outputGrad(ctx), elementCount(ctx.emit, x, shape, axes)]);
    return [expandLike(ctx.emit, scaled, keptShape(shape, axes), x, shape)];
  },
};

export const REDUCE_RULES: Record<string, GradientRule> = {
  ReduceSum: reduceSum,
  ReduceMean: reduceMean,
  ReduceSumSquare: reduceSumSquare,
  ReduceL2: reduceL2,
  GlobalAveragePool: globalAveragePool,
};
