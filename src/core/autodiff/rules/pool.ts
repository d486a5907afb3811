import { attr, float32Tensor, getAttr, numel } from '../../graph/types';
import { AutodiffError, NodeContext, TrainingForm, TrainingFormResult, outputGrad } from '../types';

/**
 * MaxPool while training: the forward pool also returns its argmax Indices (flat positions in
 * the input, batch and channel included), and the backward scatters each output's gradient to
 * its argmax with ScatterElements(reduction = add), so overlapping windows (3x3 stride 2) add up.
 * One pass over dY, where comparing every kernel tap's window with the maximum took K slices.
 *
 * Tie rule: when several elements of one window equal its maximum, the first in row-major
 * kernel order is the argmax and takes the whole gradient (PyTorch's CPU rule). Padding never
 * wins.
 */

function trainingForward(ctx: NodeContext): TrainingFormResult {
  const { emit, node } = ctx;
  if (!getAttr(node, 'kernel_shape', 'ints')) throw new AutodiffError(`MaxPool ${node.name}: kernel_shape is required`);
  if (node.outputs.length > 1 && node.outputs[1] !== '') {
    throw new AutodiffError(`MaxPool ${node.name}: the Indices output is not supported in training graphs`);
  }
  const [x] = node.inputs;
  const indices = emit.fresh(`${node.name}.argmax`);
  emit.opWithOutputs('MaxPool', [x], node.attrs, [node.outputs[0], indices]);
  // The input's shape and size, for the scatter target: read now, so the input need not stay alive.
  const xShape = ctx.inputShapes[0];
  const known = xShape.every((d): d is number => typeof d === 'number');
  const shape = known ? emit.ints(xShape as number[]) : emit.op('Shape', [x]);
  const size = known ? emit.ints([numel(xShape as number[])]) : emit.op('ReduceProd', [shape], { keepdims: attr.int(1) });
  return { saved: { indices, size, shape } };
}

export const MAX_POOL_TRAINING: TrainingForm = {
  differentiable: [0],
  applies: () => true,
  forward: trainingForward,
  backward: (ctx) => {
    const { emit } = ctx;
    const { indices, size, shape } = ctx.saved;
    const flat = (t: string) => emit.op('Reshape', [t, emit.ints([-1])]);
    const zeros = emit.op('ConstantOfShape', [size], { value: attr.tensor(float32Tensor([1], Float32Array.of(0))) });
    const scattered = emit.op('ScatterElements', [zeros, flat(indices), flat(outputGrad(ctx))], { axis: attr.int(0), reduction: attr.string('add') });
    return [emit.op('Reshape', [scattered, shape])];
  },
};
