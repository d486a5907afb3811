import { GRADIENT_RULES, TRAINING_FORMS } from '../../src/core/autodiff';
import { Emitter } from '../../src/core/autodiff/emitter';
import { GradientRule, TrainingForm, outputGrad } from '../../src/core/autodiff/types';
import { attr } from '../../src/core/graph/types';

/** Rules with known bugs, shared by the op-level and network-level gradient checks that must catch them. */

/** Conv's rule, but its input gradient uses a kernel transformed by `edit` (a bug in the adjoint). */
export function convWithKernel(edit: (emit: Emitter, w: string, dims: number[]) => string): GradientRule {
  const real = GRADIENT_RULES.Conv;
  return {
    backward: (ctx) => {
      const edited = edit(ctx.emit, ctx.node.inputs[1], ctx.inputShapes[1] as number[]);
      const node = { ...ctx.node, inputs: [ctx.node.inputs[0], edited, ...ctx.node.inputs.slice(2)] };
      const grads = real.backward({ ...ctx, node });
      // Keep the true weight gradient: only the input gradient is broken.
      const honest = real.backward({ ...ctx, needs: ctx.needs.map((n, i) => n && i > 0) });
      return [grads[0], ...honest.slice(1)];
    },
  };
}

export const transposedKernel = convWithKernel((emit, w) => emit.op('Transpose', [w], { perm: attr.ints([0, 1, 3, 2]) }));

/** BatchNorm's training backward with the batch statistics treated as constants (the eval-mode gradient). */
export const bnStatsAsConstants: TrainingForm = {
  ...TRAINING_FORMS.BatchNormalization,
  backward: (ctx) => {
    const grads = TRAINING_FORMS.BatchNormalization.backward(ctx);
    // dx = dy * scale * invstd, as if mean and variance did not depend on x.
    const shape = ctx.inputShapes[0].map((d, i) => (i === 1 ? d : 1)) as number[];
    const a = ctx.emit.op('Reshape', [ctx.saved.a, ctx.emit.ints(shape)]);
    return [ctx.needs[0] ? ctx.emit.op('Mul', [outputGrad(ctx), a]) : undefined, grads[1], grads[2]];
  },
};
