import { attr } from '../../graph/types';
import { Emitter } from '../emitter';
import { ConvOperands, outputPositions } from './convOperands';

/**
 * A grouped conv's weight gradient as one Conv, with the batch folded into the channels: the
 * input as [1, N*C, ...in], each (sample, input channel) its own group, and dY as the kernels,
 * dW[n, m, j, tap] = sum_p dY[n, m, p] * X[n, c_j(m), p * stride + tap * dilation] for the
 * group's input channels c_j. The result [1, N*M*(C/group), ...kernel] is summed over samples.
 * Stride and dilation swap roles: the window over the input moves by the forward dilation (tap
 * to tap) and its elements are a forward stride apart.
 *
 * For a depthwise conv (one input channel per group) both reshapes are free; with C/group > 1,
 * each output channel's dY is repeated once per input channel of its group (an Expand to
 * C/group times dY). The group count N*C is an attribute, so the batch size must be static.
 */
export function foldedBatchConv(emit: Emitter, op: ConvOperands): string {
  const [m, cPerGroup, ...kernel] = op.weight;
  const [n, c] = op.xShape as number[];
  const group = op.group;
  const g = op.geometry;
  const span = g.outSize.map((o, i) => (o - 1) * g.strides[i] + 1);
  // Pad the end just enough for K taps; where the forward never read the last rows, read past them and trim.
  const padsEnd = kernel.map((k, i) => Math.max(0, (k - 1) * g.dilations[i] + span[i] - g.inSize[i] - g.padsBegin[i]));
  const reached = kernel.map((_, i) => Math.floor((g.inSize[i] + g.padsBegin[i] + padsEnd[i] - span[i]) / g.dilations[i]) + 1);
  const folded = emit.op('Reshape', [op.x, emit.ints([1, n * c, ...g.inSize])]);
  // Kernel (n, group, j, i): dY[n, group * M/group + i], for each of the group's input channels j.
  const perInput = cPerGroup === 1
    ? op.dY
    : emit.op('Expand', [
        emit.op('Reshape', [op.dY, emit.ints([n, group, 1, m / group, outputPositions(op)])]),
        emit.ints([n, group, cPerGroup, m / group, outputPositions(op)]),
      ]);
  const kernels = emit.op('Reshape', [perInput, emit.ints([n * c * (m / group), 1, ...g.outSize])]);
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
  // [N, group, j, i, ...kernel] summed over samples, then ordered as the weight [group, i, j, ...kernel].
  const perSample = emit.op('Reshape', [grad, emit.ints([n, group, cPerGroup, m / group, ...kernel])]);
  const summed = emit.op('ReduceSum', [perSample, emit.ints([0])], { keepdims: attr.int(0) });
  const ordered = cPerGroup === 1 ? summed : emit.op('Transpose', [summed], { perm: attr.ints([0, 2, 1, ...kernel.map((_, i) => i + 3)]) });
  return emit.op('Reshape', [ordered, emit.ints(op.weight)]);
}
