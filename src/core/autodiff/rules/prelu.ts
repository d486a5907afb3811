import { channelCountOf } from '../../graph/shapes';
import { float32Tensor } from '../../graph/types';
import { centeredAffine, indicator, sumToShape } from '../tensors';
import { BackwardRule, NodeContext, TrainingForm, TrainingFormResult, outputGrad } from '../types';

/**
 * PRelu while training, composed from fast elementwise passes: onnxruntime's PRelu kernel (with a
 * per-channel slope) and Where are several times slower than a Mul, a Clip or a
 * BatchNormalization over the same tensor (BENCHMARKS.md). With n = min(x, 0):
 *   y = x + (slope - 1) * n                      (Clip, Mul, Add),
 *   dslope = sum(dy * n) over the broadcast axes,
 *   dx = dy * (1 + (slope - 1) * [n < 0])        (slope below zero, 1 elsewhere, as before).
 * The backward reads n only, so x need not stay alive. With one slope per channel (or a single
 * slope) the factor in dx is one per-channel affine pass over the mask (tensors.ts centeredAffine).
 */

function trainingForward(ctx: NodeContext): TrainingFormResult {
  const { emit, node } = ctx;
  const [x, slope] = node.inputs;
  // Clip with only an upper bound, not Min(x, 0): onnxruntime's Min broadcasts a scalar through a generic path ~7x slower.
  const negative = emit.op('Clip', [x, '', emit.scalar(0)]);
  const slopeMinusOne = emit.op('Sub', [slope, emit.scalar(1)]);
  emit.op('Add', [x, emit.op('Mul', [negative, slopeMinusOne])], {}, node.outputs[0]);
  return { saved: { negative, slopeMinusOne } };
}

/** 1 + (slope - 1) * below, at x's shape. */
function slopeFactor(ctx: NodeContext, below: string, slopeMinusOne: string): string {
  const { emit } = ctx;
  const channels = channelCountOf(ctx.inputShapes[0], ctx.inputShapes[1]);
  if (channels === undefined) return emit.op('Add', [emit.op('Mul', [below, slopeMinusOne]), emit.scalar(1)]);
  const scale = emit.op('Expand', [emit.op('Reshape', [slopeMinusOne, emit.ints([-1])]), emit.ints([channels])]);
  return centeredAffine(emit, below, ctx.inputShapes[0], undefined, scale, emit.constant(float32Tensor([channels], new Float32Array(channels).fill(1))), channels);
}

const trainingBackward: BackwardRule = (ctx) => {
  const { emit } = ctx;
  const dY = outputGrad(ctx);
  const { negative, slopeMinusOne } = ctx.saved;
  const below = () => indicator(emit, negative, -1);
  return [
    ctx.needs[0] ? emit.op('Mul', [dY, slopeFactor(ctx, below(), slopeMinusOne)]) : undefined,
    ctx.needs[1] ? sumToShape(emit, emit.op('Mul', [dY, negative]), ctx.outputShapes[0], ctx.inputShapes[1]) : undefined,
  ];
};

export const PRELU_TRAINING: TrainingForm = {
  differentiable: [0, 1],
  // Faster than the PRelu kernel whether or not anything upstream is trained.
  applies: () => true,
  forward: trainingForward,
  backward: trainingBackward,
};
