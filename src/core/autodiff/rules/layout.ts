import { attr, getAttr } from '../../graph/types';
import { normalizeAxis, reshapeLike } from '../tensors';
import { AutodiffError, GradientRule, outputGrad } from '../types';

/** Ops that only move or regroup elements: the gradient is moved back the same way. */

/** Reshape, Flatten, Squeeze, Unsqueeze: the gradient takes the input's shape again. */
const regroup: GradientRule = {
  differentiable: [0],
  backward: (ctx) => [reshapeLike(ctx.emit, outputGrad(ctx), ctx.node.inputs[0], ctx.inputShapes[0])],
};

const transpose: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const rank = ctx.inputShapes[0].length;
    const perm = getAttr(ctx.node, 'perm', 'ints') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => (inverse[p] = i));
    return [ctx.emit.op('Transpose', [outputGrad(ctx)], { perm: attr.ints(inverse) })];
  },
};

/** Concat: the gradient is split back into the pieces' sizes along the axis. */
const concat: GradientRule = {
  backward: (ctx) => {
    const axis = normalizeAxis(getAttr(ctx.node, 'axis', 'int') ?? 0, ctx.inputShapes[0].length);
    const sizes = ctx.inputShapes.map((s) => s[axis]);
    if (!sizes.every((d): d is number => typeof d === 'number')) {
      throw new AutodiffError(`Concat ${ctx.node.name}: the concatenated axis must be static, got [${sizes}]`);
    }
    if (sizes.length === 1) return [outputGrad(ctx)];
    const pieces = ctx.emit.ops('Split', [outputGrad(ctx), ctx.emit.ints(sizes)], { axis: attr.int(axis) }, sizes.length);
    return pieces.map((p, i) => (ctx.needs[i] ? p : undefined));
  },
};

export const LAYOUT_RULES: Record<string, GradientRule> = {
  Reshape: regroup,
  Flatten: regroup,
  Squeeze: regroup,
  Unsqueeze: regroup,
  Transpose: transpose,
  Concat: concat,
};
