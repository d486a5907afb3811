import { attr, getAttr } from '../../graph/types';
import { range } from '../tensors';
import { GradientRule, outputGrad, staticDims } from '../types';
import { convWeightGrad } from './convWeightGrad';
import { transposeAttrs, windowGeometry } from './window';

/**
 * Conv (any stride, padding, dilation, groups). The input gradient is ConvTranspose with the
 * same weight tensor, which is exactly Conv's adjoint (its weight layout [M, C/group, k...]
 * reads as ConvTranspose's [C_in, C_out/group, k...]); the weight gradient is per-tap GEMMs;
 * the bias gradient sums dY over batch and positions.
 */
const conv: GradientRule = {
  backward: (ctx) => {
    const { emit, node } = ctx;
    const dY = outputGrad(ctx);
    const [x, w] = node.inputs;
    const weight = staticDims(ctx, ctx.inputShapes[1], 'the weight');
    const group = getAttr(node, 'group', 'int') ?? 1;
    const geometry = windowGeometry(ctx, getAttr(node, 'kernel_shape', 'ints') ?? weight.slice(2));
    const rank = ctx.inputShapes[0].length;
    return [
      ctx.needs[0] ? emit.op('ConvTranspose', [dY, w], transposeAttrs(geometry, group)) : undefined,
      ctx.needs[1] ? convWeightGrad(emit, { x, dY, xShape: ctx.inputShapes[0], weight, group, geometry }) : undefined,
      ctx.needs[2] ? emit.op('ReduceSum', [dY, emit.ints([0, ...range(rank - 2, 2)])], { keepdims: attr.int(0) }) : undefined,
    ];
  },
};

export const CONV_RULES: Record<string, GradientRule> = { Conv: conv };
