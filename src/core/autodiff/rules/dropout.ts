import { AutodiffError, NodeContext, TrainingForm, TrainingFormResult, outputGrad } from '../types';

/**
 * Dropout in training: y = x * mask, where the mask is a graph input the trainer draws each
 * step from the seeded Rng (sampleDropoutMask), already scaled: 1/(1 - ratio) where kept, 0
 * where dropped. Onnxruntime's own random Dropout would not be reproducible from our seed.
 */

const DEFAULT_RATIO = 0.5;

function ratioOf(ctx: NodeContext): number {
  if (!ctx.node.inputs[1]) return DEFAULT_RATIO;
  const t = ctx.constant(1);
  if (!t) throw new AutodiffError(`Dropout ${ctx.node.name}: the ratio must be a constant initializer`);
  return Number((t.data as ArrayLike<number>)[0]);
}

function trainingForward(ctx: NodeContext): TrainingFormResult {
  const { emit, node } = ctx;
  if (node.outputs.length > 1 && node.outputs[1] !== '') {
    throw new AutodiffError(`Dropout ${node.name}: the mask output is not supported in training graphs`);
  }
  const ratio = ratioOf(ctx);
  if (!(ratio >= 0 && ratio < 1)) throw new AutodiffError(`Dropout ${node.name}: ratio ${ratio} must be in [0, 1)`);
  if (ratio === 0) {
    emit.op('Identity', [node.inputs[0]], {}, node.outputs[0]);
    return { saved: {} };
  }
  const mask = emit.fresh(`${node.name}.mask`);
  emit.op('Mul', [node.inputs[0], mask], {}, node.outputs[0]);
  return { saved: { mask }, maskInputs: [{ input: mask, shape: ctx.inputShapes[0].slice(), ratio }] };
}

export const DROPOUT_TRAINING: TrainingForm = {
  differentiable: [0],
  applies: () => true,
  forward: trainingForward,
  backward: (ctx) => {
    const dY = outputGrad(ctx);
    return [ctx.saved.mask ? ctx.emit.op('Mul', [dY, ctx.saved.mask]) : dY];
  },
};
