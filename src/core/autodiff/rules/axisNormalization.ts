import { attr, getAttr } from '../../graph/types';
import { AutodiffError, GradientContext, GradientRule, outputGrad } from '../types';

/** Normalizations along one axis: Softmax, LogSoftmax (opset 13+, default axis -1), LpNormalization (p = 2). */

function axisSum(ctx: GradientContext, t: string, defaultAxis: number): string {
  const axis = getAttr(ctx.node, 'axis', 'int') ?? defaultAxis;
  return ctx.emit.op('ReduceSum', [t, ctx.emit.ints([axis])], { keepdims: attr.int(1) });
}

/** dx = y * (dy - sum(dy * y)). */
const softmax: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { emit } = ctx;
    const dY = outputGrad(ctx);
    const y = ctx.node.outputs[0];
    const centered = emit.op('Sub', [dY, axisSum(ctx, emit.op('Mul', [dY, y]), -1)]);
    return [emit.op('Mul', [y, centered])];
  },
};

/** dx = dy - exp(y) * sum(dy). */
const logSoftmax: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { emit } = ctx;
    const dY = outputGrad(ctx);
    const probabilities = emit.op('Exp', [ctx.node.outputs[0]]);
    return [emit.op('Sub', [dY, emit.op('Mul', [probabilities, axisSum(ctx, dY, -1)])])];
  },
};

/**
 * y = x / |x| (L2 along the axis, ONNX default axis -1): dx = (dy - y * sum(dy * y)) / |x|.
 * Like the op itself, undefined for an all-zero vector.
 */
const lpNormalization: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { emit, node } = ctx;
    const p = getAttr(node, 'p', 'int') ?? 2;
    if (p !== 2) throw new AutodiffError(`LpNormalization ${node.name}: only p = 2 has a gradient rule, got p = ${p}`);
    const dY = outputGrad(ctx);
    const [x] = node.inputs;
    const y = node.outputs[0];
    const norm = emit.op('ReduceL2', [x], { axes: attr.ints([getAttr(node, 'axis', 'int') ?? -1]), keepdims: attr.int(1) });
    const tangent = emit.op('Sub', [dY, emit.op('Mul', [y, axisSum(ctx, emit.op('Mul', [dY, y]), -1)])]);
    return [emit.op('Div', [tangent, norm])];
  },
};

export const AXIS_NORMALIZATION_RULES: Record<string, GradientRule> = {
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  LpNormalization: lpNormalization,
};
