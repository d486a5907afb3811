import { attr } from '../../graph/types';
import { Emitter } from '../emitter';
import { range } from '../tensors';
import { ConvOperands } from './convOperands';
import { kernelTaps, padForTaps, tapSlice } from './window';

/**
 * Conv's weight gradient one kernel tap at a time, dW[m, c, tap] = sum over samples and output
 * positions of dY[n, m, p] * Xpadded[n, c, p * stride + tap * dilation]: a strided Slice of the
 * padded input per tap, then one GEMM (dense) or a Mul + ReduceSum (depthwise).
 */

/** Channels first: [N, C, ...] -> [C, N, ...], so that a channel's values are one contiguous row. */
function channelsFirst(emit: Emitter, t: string, rank: number): string {
  return emit.op('Transpose', [t], { perm: attr.ints([1, 0, ...range(rank - 2, 2)]) });
}

/** Concatenates per-tap results (each shaped `pieceShape` with a trailing 1) along `axis`. */
function stackTaps(emit: Emitter, pieces: string[], pieceShape: number[], axis: number): string {
  if (pieces.length === 1) return emit.op('Reshape', [pieces[0], emit.ints(pieceShape)]);
  return emit.op(
    'Concat',
    pieces.map((p) => emit.op('Reshape', [p, emit.ints(pieceShape)])),
    { axis: attr.int(axis) },
  );
}

/** group = 1: per tap, dW[:, :, tap] = dY^T-as-[M, P] x Xtap-as-[C, P]^T, one Gemm over all samples. */
export function denseTaps(emit: Emitter, op: ConvOperands): string {
  const [m, c] = op.weight;
  const rank = op.xShape.length;
  const padded = padForTaps(emit, channelsFirst(emit, op.x, rank), rank, op.geometry);
  const dYRows = emit.op('Reshape', [channelsFirst(emit, op.dY, rank), emit.ints([m, -1])]);
  const pieces = kernelTaps(op.geometry.kernel).map((tap) => {
    const xRows = emit.op('Reshape', [tapSlice(emit, padded, op.geometry, tap), emit.ints([c, -1])]);
    return emit.op('Gemm', [dYRows, xRows], { transB: attr.int(1) });
  });
  const stacked = stackTaps(emit, pieces, [m, c, 1], 2);
  return emit.op('Reshape', [stacked, emit.ints(op.weight)]);
}

/** Depthwise (one input and one output channel per group): per tap, Mul + ReduceSum, no transposes. */
export function depthwiseTaps(emit: Emitter, op: ConvOperands): string {
  const channels = op.weight[0];
  const rank = op.xShape.length;
  const padded = padForTaps(emit, op.x, rank, op.geometry);
  const reduced = emit.ints([0, ...range(rank - 2, 2)]);
  const pieces = kernelTaps(op.geometry.kernel).map((tap) =>
    emit.op('ReduceSum', [emit.op('Mul', [op.dY, tapSlice(emit, padded, op.geometry, tap)]), reduced], { keepdims: attr.int(0) }),
  );
  const stacked = stackTaps(emit, pieces, [channels, 1], 1); // [C, K]
  return emit.op('Reshape', [stacked, emit.ints(op.weight)]);
}
