import { attr, float32Tensor } from '../../graph/types';
import { Emitter } from '../emitter';
import { ConvOperands, outputPositions, tapCount } from './convOperands';

/**
 * Conv's weight gradient as one batched MatMul over samples and groups, then a sum over samples:
 *   dW[g] = sum_n dY[n, g] (as [M/group, P]) x cols[n, g]^T (as [P, C/group * K]),
 * where cols holds every tap's view of the input at the output positions (im2col). For a 1x1
 * conv with unit stride and no padding the input is its own cols; otherwise a Conv with a
 * one-hot kernel writes them, taking stride, padding and dilation as the forward did. The
 * transpose of cols is fused into the MatMul by onnxruntime (FusedMatMul), so the only copies are
 * cols themselves and the per-sample products [N, M, C/group * K].
 */

/** Every tap's shifted (strided, padded) input: [N, C * K, ...out], channel c's K taps adjacent. */
function tapColumns(emit: Emitter, op: ConvOperands): string {
  const kernel = op.weight.slice(2);
  const channels = op.xShape[1] as number;
  const taps = tapCount(op);
  const g = op.geometry;
  const noop = taps === 1 && g.strides.every((s) => s === 1) && [...g.padsBegin, ...g.padsEnd].every((p) => p === 0);
  if (noop) return op.x;
  const oneHot = new Float32Array(channels * taps * taps);
  for (let c = 0; c < channels; c++) for (let t = 0; t < taps; t++) oneHot[(c * taps + t) * taps + t] = 1;
  return emit.op('Conv', [op.x, emit.constant(float32Tensor([channels * taps, 1, ...kernel], oneHot))], {
    kernel_shape: attr.ints(kernel),
    strides: attr.ints(g.strides),
    dilations: attr.ints(g.dilations),
    pads: attr.ints([...g.padsBegin, ...g.padsEnd]),
    group: attr.int(channels),
  });
}

/** Works with a symbolic batch size (the -1 in the reshapes). */
export function perSampleProducts(emit: Emitter, op: ConvOperands): string {
  const [m, cPerGroup] = op.weight;
  const group = op.group;
  const positions = outputPositions(op);
  const cols = emit.op('Reshape', [tapColumns(emit, op), emit.ints([-1, group, cPerGroup * tapCount(op), positions])]);
  const dYRows = emit.op('Reshape', [op.dY, emit.ints([-1, group, m / group, positions])]);
  const products = emit.op('MatMul', [dYRows, emit.op('Transpose', [cols], { perm: attr.ints([0, 1, 3, 2]) })]); // [N, g, M/g, C/g * K]
  const summed = emit.op('ReduceSum', [products, emit.ints([0])], { keepdims: attr.int(0) });
  return emit.op('Reshape', [summed, emit.ints(op.weight)]);
}
