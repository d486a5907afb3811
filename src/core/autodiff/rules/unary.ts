import { indicator } from '../tensors';
import { GradientContext, GradientRule, outputGrad } from '../types';

/**
 * Elementwise functions and activations: dx = dy * f'(x), with f' written from whichever of
 * x and y is cheaper. At a kink the one-sided choice follows PyTorch (relu'(0) = 0).
 */

/** A rule whose gradient is dy times a local derivative built from the node's input x and output y. */
function local(derivative: (ctx: GradientContext, x: string, y: string) => string): GradientRule {
  return {
    differentiable: [0],
    backward: (ctx) => [ctx.emit.op('Mul', [outputGrad(ctx), derivative(ctx, ctx.node.inputs[0], ctx.node.outputs[0])])],
  };
}

const identity: GradientRule = { differentiable: [0], backward: (ctx) => [outputGrad(ctx)] };

const exp = local((_ctx, _x, y) => y);
const log: GradientRule = { differentiable: [0], backward: (ctx) => [ctx.emit.op('Div', [outputGrad(ctx), ctx.node.inputs[0]])] };
/** d sqrt(x) = dy / (2 y). */
const sqrt: GradientRule = {
  differentiable: [0],
  backward: (ctx) => [ctx.emit.op('Div', [ctx.emit.op('Mul', [outputGrad(ctx), ctx.emit.scalar(0.5)]), ctx.node.outputs[0]])],
};
/** d (1/x) = -dy * y^2. */
const reciprocal = local(({ emit }, _x, y) => emit.op('Neg', [emit.op('Mul', [y, y])]));
const sin = local(({ emit }, x) => emit.op('Cos', [x]));
const cos = local(({ emit }, x) => emit.op('Neg', [emit.op('Sin', [x])]));
/** d acos(x) = -dy / sqrt(1 - x^2); finite only inside (-1, 1), which is why heads clamp cos first. */
const acos: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { emit } = ctx;
    const x = ctx.node.inputs[0];
    const root = emit.op('Sqrt', [emit.op('Sub', [emit.scalar(1), emit.op('Mul', [x, x])])]);
    return [emit.op('Neg', [emit.op('Div', [outputGrad(ctx), root])])];
  },
};
const abs = local(({ emit }, x) => emit.op('Sign', [x]));
const sigmoid = local(({ emit }, _x, y) => emit.op('Mul', [y, emit.op('Sub', [emit.scalar(1), y])]));
const tanh = local(({ emit }, _x, y) => emit.op('Sub', [emit.scalar(1), emit.op('Mul', [y, y])]));

/**
 * Reads the output (y > 0 exactly where x > 0), so the input need not stay alive for the
 * backward. dy times the mask as a float: onnxruntime's Where is several times slower.
 */
const relu = local(({ emit }, _x, y) => indicator(emit, y, 1));

/** Clip(x, min, max): the gradient passes where min <= x <= max (bounds included, as PyTorch's clamp). */
const clip: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { emit } = ctx;
    const [x, lo, hi] = ctx.node.inputs;
    const inside = [
      lo ? emit.op('GreaterOrEqual', [x, lo]) : undefined,
      hi ? emit.op('LessOrEqual', [x, hi]) : undefined,
    ].filter((c): c is string => c !== undefined);
    const dY = outputGrad(ctx);
    if (inside.length === 0) return [dY];
    const mask = inside.length === 1 ? inside[0] : emit.op('And', inside);
    return [emit.op('Where', [mask, dY, emit.scalar(0)])];
  },
};

export const UNARY_RULES: Record<string, GradientRule> = {
  Identity: identity,
  Exp: exp,
  Log: log,
  Sqrt: sqrt,
  Reciprocal: reciprocal,
  Sin: sin,
  Cos: cos,
  Acos: acos,
  Abs: abs,
  Sigmoid: sigmoid,
  Tanh: tanh,
  Relu: relu,
  Clip: clip,
};
