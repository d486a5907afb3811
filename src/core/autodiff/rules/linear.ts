import { Shape, attr, getAttr } from '../../graph/types';
import { Emitter } from '../emitter';
import { range, sumToShape } from '../tensors';
import { AutodiffError, GradientRule, InputGradients, outputGrad } from '../types';

/** Matrix products. 2-D cases use Gemm's transpose flags, so no transposed copy is made. */

function swapLastTwo(emit: Emitter, t: string, rank: number): string {
  const perm = range(rank);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return emit.op('Transpose', [t], { perm: attr.ints(perm) });
}

/** MatMul with numpy batch broadcasting: dA = dY B^T, dB = A^T dY, each summed over broadcast batch axes. */
const matMul: GradientRule = {
  backward: (ctx) => {
    const { emit } = ctx;
    const dY = outputGrad(ctx);
    const [a, b] = ctx.node.inputs;
    const [aShape, bShape] = ctx.inputShapes as Shape[];
    if (aShape.length < 2 || bShape.length < 2) {
      throw new AutodiffError(`MatMul ${ctx.node.name}: 1-D operands are not supported (shapes [${aShape}] x [${bShape}])`);
    }
    if (aShape.length === 2 && bShape.length === 2) {
      return [
        ctx.needs[0] ? emit.op('Gemm', [dY, b], { transB: attr.int(1) }) : undefined,
        ctx.needs[1] ? emit.op('Gemm', [a, dY], { transA: attr.int(1) }) : undefined,
      ];
    }
    const yShape = ctx.outputShapes[0];
    const batch = yShape.slice(0, -2);
    const grads: InputGradients = [undefined, undefined];
    if (ctx.needs[0]) {
      const full = emit.op('MatMul', [dY, swapLastTwo(emit, b, bShape.length)]);
      grads[0] = sumToShape(emit, full, [...batch, ...aShape.slice(-2)], aShape);
    }
    if (ctx.needs[1]) {
      const full = emit.op('MatMul', [swapLastTwo(emit, a, aShape.length), dY]);
      grads[1] = sumToShape(emit, full, [...batch, ...bShape.slice(-2)], bShape);
    }
    return grads;
  },
};

/**
 * Gemm: Y = alpha op(A) op(B) + beta C. With op(X) = X or X^T:
 *   d op(A) = alpha dY op(B)^T,  d op(B) = alpha op(A)^T dY,  dC = beta dY summed to C's shape.
 * Each is one Gemm whose flags pick the transposes.
 */
const gemm: GradientRule = {
  backward: (ctx) => {
    const { emit, node } = ctx;
    const dY = outputGrad(ctx);
    const [a, b] = node.inputs;
    const transA = (getAttr(node, 'transA', 'int') ?? 0) === 1;
    const transB = (getAttr(node, 'transB', 'int') ?? 0) === 1;
    const alpha = getAttr(node, 'alpha', 'float') ?? 1;
    const beta = getAttr(node, 'beta', 'float') ?? 1;
    const product = (p: string, q: string, tp: boolean, tq: boolean) =>
      emit.op('Gemm', [p, q], { alpha: attr.float(alpha), transA: attr.int(tp ? 1 : 0), transB: attr.int(tq ? 1 : 0) });
    // A is [M,K]: dA = dY op(B)^T. A is [K,M]: dA = op(B) dY^T.
    const dA = transA ? () => product(b, dY, transB, true) : () => product(dY, b, false, !transB);
    // B is [K,N]: dB = op(A)^T dY. B is [N,K]: dB = dY^T op(A).
    const dB = transB ? () => product(dY, a, true, transA) : () => product(a, dY, !transA, false);
    let dC: string | undefined;
    if (ctx.needs[2]) {
      const summed = sumToShape(emit, dY, ctx.outputShapes[0], ctx.inputShapes[2]);
      dC = beta === 1 ? summed : emit.op('Mul', [summed, emit.scalar(beta)]);
    }
    return [ctx.needs[0] ? dA() : undefined, ctx.needs[1] ? dB() : undefined, dC];
  },
};

export const LINEAR_RULES: Record<string, GradientRule> = {
  MatMul: matMul,
  Gemm: gemm,
};
