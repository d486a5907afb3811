import { Shape } from '../../graph/types';
import { sumToShape, toFloat } from '../tensors';
import { GradientContext, GradientRule, InputGradients, outputGrad } from '../types';

/**
 * Broadcasting arithmetic. Every operand's gradient is computed at the broadcast output shape,
 * then summed back to the operand's own shape.
 */

/** The gradient reaching input `i` through `grad` (at the output shape), reduced to the input's shape. */
function toInput(ctx: GradientContext, i: number, grad: string): string {
  return sumToShape(ctx.emit, grad, ctx.outputShapes[0], ctx.inputShapes[i] as Shape);
}

const add: GradientRule = {
  backward: (ctx) => {
    const dY = outputGrad(ctx);
    return ctx.needs.map((need, i) => (need ? toInput(ctx, i, dY) : undefined));
  },
};

const sub: GradientRule = {
  backward: (ctx) => {
    const dY = outputGrad(ctx);
    return [
      ctx.needs[0] ? toInput(ctx, 0, dY) : undefined,
      // Negate after the reduction: the reduced tensor is the smaller one.
      ctx.needs[1] ? ctx.emit.op('Neg', [toInput(ctx, 1, dY)]) : undefined,
    ];
  },
};

const mul: GradientRule = {
  backward: (ctx) => {
    const dY = outputGrad(ctx);
    const [a, b] = ctx.node.inputs;
    return [
      ctx.needs[0] ? toInput(ctx, 0, ctx.emit.op('Mul', [dY, b])) : undefined,
      ctx.needs[1] ? toInput(ctx, 1, ctx.emit.op('Mul', [dY, a])) : undefined,
    ];
  },
};

/** y = a / b: da = dy / b, db = -dy * y / b. */
const div: GradientRule = {
  backward: (ctx) => {
    const { emit } = ctx;
    const dY = outputGrad(ctx);
    const [, b] = ctx.node.inputs;
    const y = ctx.node.outputs[0];
    // dy / b serves both: da = dy / b, db = -(dy / b) * y.
    const dyOverB = emit.op('Div', [dY, b]);
    return [
      ctx.needs[0] ? toInput(ctx, 0, dyOverB) : undefined,
      ctx.needs[1] ? emit.op('Neg', [toInput(ctx, 1, emit.op('Mul', [dyOverB, y]))]) : undefined,
    ];
  },
};

const neg: GradientRule = { backward: (ctx) => [ctx.emit.op('Neg', [outputGrad(ctx)])] };

/** Sum(x1..xn): each input receives the output gradient, reduced to its shape. */
const sum: GradientRule = add;

/** y = a^b: da = dy * b * a^(b-1), db = dy * y * ln(a). */
const pow: GradientRule = {
  backward: (ctx) => {
    const { emit } = ctx;
    const dY = outputGrad(ctx);
    const [a, b] = ctx.node.inputs;
    const grads: InputGradients = [undefined, undefined];
    if (ctx.needs[0]) {
      const exponent = ctx.constant(1);
      // A constant exponent (the usual case) folds b - 1 into a new constant.
      const bMinus1 =
        exponent && exponent.dtype === 'float32'
          ? emit.constant({ ...exponent, data: (exponent.data as Float32Array).map((v) => v - 1) })
          : emit.op('Sub', [b, emit.scalar(1)]);
      const local = emit.op('Mul', [b, emit.op('Pow', [a, bMinus1])]);
      grads[0] = toInput(ctx, 0, emit.op('Mul', [dY, local]));
    }
    if (ctx.needs[1]) {
      const y = ctx.node.outputs[0];
      grads[1] = toInput(ctx, 1, emit.op('Mul', [emit.op('Mul', [dY, y]), emit.op('Log', [a])]));
    }
    return grads;
  },
};

/**
 * Elementwise Max/Min over n inputs. Where several inputs attain the result, the gradient is
 * split evenly among them (PyTorch's rule for maximum/minimum).
 */
const extremum: GradientRule = {
  backward: (ctx) => {
    const { emit } = ctx;
    const dY = outputGrad(ctx);
    const y = ctx.node.outputs[0];
    const inputs = ctx.node.inputs;
    if (inputs.length === 1) return [dY];
    const hits = inputs.map((x) => toFloat(emit, emit.op('Equal', [x, y])));
    const share = emit.op('Div', [dY, emit.op('Sum', hits)]);
    return inputs.map((_, i) => (ctx.needs[i] ? toInput(ctx, i, emit.op('Mul', [share, hits[i]])) : undefined));
  },
};

/** Where(cond, a, b): a gets the gradient where cond holds, b elsewhere. */
const where: GradientRule = {
  differentiable: [1, 2],
  backward: (ctx) => {
    const { emit } = ctx;
    const dY = outputGrad(ctx);
    const cond = ctx.node.inputs[0];
    const zero = emit.scalar(0);
    return [
      undefined,
      ctx.needs[1] ? toInput(ctx, 1, emit.op('Where', [cond, dY, zero])) : undefined,
      ctx.needs[2] ? toInput(ctx, 2, emit.op('Where', [cond, zero, dY])) : undefined,
    ];
  },
};

export const ARITHMETIC_RULES: Record<string, GradientRule> = {
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Neg: neg,
  Sum: sum,
  Pow: pow,
  Max: extremum,
  Min: extremum,
  Where: where,
};
