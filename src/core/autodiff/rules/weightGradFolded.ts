import { attr } from '../../graph/types';
import { Emitter } from '../emitter';
import { ConvOperands } from './convOperands';

/**
 * A depthwise conv's weight gradient (one input channel per group, any channel multiplier) as one
 * Conv, with the batch folded into the channels: the input as [1, N*C, ...in] and dY as the
 * kernel [N*M, 1, ...out], grouped by (sample, channel), give [1, N*M, ...kernel], summed over
 * samples. The roles of stride and dilation swap: the window over the input moves by the forward
 * dilation (tap to tap) and its elements are a forward stride apart. Both reshapes are free. The
 * group count N*C is an attribute, so the batch size must be static.
 */
export function foldedBatchConv(emit: Emitter, op: ConvOperands): string {
  const [m, , ...kernel] = op.weight;
  const [n, c] = op.xShape as number[];
  const g = op.geometry;
  const span = g.outSize.map((o, i) => (o - 1) * g.strides[i] + 1);
  // Pad the end just enough for K taps; where the forward never read the last rows, read past them and trim.
  const padsEnd = kernel.map((k, i) => Math.max(0, (k - 1) * g.dilations[i] + span[i] - g.inSize[i] - g.padsBegin[i]));
  const reached = kernel.map((_, i) => Math.floor((g.inSize[i] + g.padsBegin[i] + padsEnd[i] - span[i]) / g.dilations[i]) + 1);
  const folded = emit.op('Reshape', [op.x, emit.ints([1, n * c, ...g.inSize])]);
  const kernels = emit.op('Reshape', [op.dY, emit.ints([n * m, 1, ...g.outSize])]);
  let grad = emit.op('Conv', [folded, kernels], {
    kernel_shape: attr.ints(g.outSize),
    strides: attr.ints(g.dilations),
    dilations: attr.ints(g.strides),
    pads: attr.ints([...g.padsBegin, ...padsEnd]),
    group: attr.int(n * c),
  });
  if (reached.some((r, i) => r !== kernel[i])) {
    grad = emit.op('Slice', [grad, emit.ints(kernel.map(() => 0)), emit.ints(kernel), emit.ints(kernel.map((_, i) => i + 2))]);
  }
  const perSample = emit.op('Reshape', [grad, emit.ints([n, m, ...kernel])]);
  return emit.op('Reshape', [emit.op('ReduceSum', [perSample, emit.ints([0])], { keepdims: attr.int(0) }), emit.ints(op.weight)]);
}
