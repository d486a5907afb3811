import { attr, getAttr } from '../../graph/types';
import { range } from '../tensors';
import { GradientRule, outputGrad, staticDims } from '../types';
import { convInputGrad } from './convInputGrad';
import { ConvOperands } from './convOperands';
import { convWeightGrad } from './convWeightGrad';
import { windowGeometry } from './window';

/**
 * Conv (any stride, padding, dilation, groups). The input gradient is the convolution's adjoint
 * (convInputGrad), the weight gradient is chosen per layer shape (convWeightGrad), the bias
 * gradient sums dY over batch and positions. Each part is emitted under its own name scope
 * (dX, dW, dB), so profiles can tell them apart.
 */
const conv: GradientRule = {
  backward: (ctx) => {
    const { emit, node } = ctx;
    const dY = outputGrad(ctx);
    const [x, w] = node.inputs;
    const weight = staticDims(ctx, ctx.inputShapes[1], 'the weight');
    const op: ConvOperands = {
      x,
      w,
      dY,
      xShape: ctx.inputShapes[0],
      weight,
      group: getAttr(node, 'group', 'int') ?? 1,
      geometry: windowGeometry(ctx, getAttr(node, 'kernel_shape', 'ints') ?? weight.slice(2)),
    };
    const scope = (part: string) => emit.scoped(`${emit.prefix}/${part}`);
    const rank = ctx.inputShapes[0].length;
    return [
      ctx.needs[0] ? convInputGrad(scope('dX'), op) : undefined,
      ctx.needs[1] ? convWeightGrad(scope('dW'), op) : undefined,
      ctx.needs[2] ? scope('dB').op('ReduceSum', [dY, emit.ints([0, ...range(rank - 2, 2)])], { keepdims: attr.int(0) }) : undefined,
    ];
  },
};

export const CONV_RULES: Record<string, GradientRule> = { Conv: conv };
