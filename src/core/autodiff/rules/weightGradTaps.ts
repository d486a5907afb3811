import { attr } from '../../graph/types';
import { Emitter } from '../emitter';
import { range } from '../tensors';
import { ConvOperands, outputPositions } from './convOperands';
import { kernelTaps, padForTaps, tapSlice } from './window';

/**
 * Conv's weight gradient one kernel tap at a time, dW[m, c, tap] = sum over samples and output
 * positions of dY[n, m, p] * Xpadded[n, c, p * stride + tap * dilation]: a strided Slice of the
 * padded input per tap, then one GEMM (dense) or a Mul + ReduceSum (depthwise).
 *
 * Dense convs take the taps from one of two layouts of the input. Channels first [C, N, ...],
 * a tap's rows are already the GEMM's [C, P] operand, but each Slice copies runs of one output
 * row (4-28 floats in ResNet-50), element by element when strided. Channels last [N, ..., C],
 * a Slice copies runs of a whole output row of channel vectors, and the tap is the GEMM's
 * [P, C] operand as it stands. Channels last costs a slower transpose, which pays on spatial
 * kernels with many channels (ResNet-50's 3x3 weight gradients 1.1-1.8x faster, BENCHMARKS.md
 * "train") and loses where there are few (3-channel stems 2.5-5x slower).
 */

/** Channels first: [N, C, ...] -> [C, N, ...], so that a channel's values are one contiguous row. */
function channelsFirst(emit: Emitter, t: string, rank: number): string {
  return emit.op('Transpose', [t], { perm: attr.ints([1, 0, ...range(rank - 2, 2)]) });
}

/** Channels last: [N, C, ...] -> [N, ..., C], so that a tap's Slice copies whole rows of channel vectors. */
function channelsLast(emit: Emitter, t: string, rank: number): string {
  return emit.op('Transpose', [t], { perm: attr.ints([0, ...range(rank - 2, 2), 1]) });
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

/** Where a dense conv's taps are sliced from: channels first [C, N, ...] or channels last [N, ..., C]. */
type TapLayout = 'channelsFirst' | 'channelsLast';

/**
 * Sample chunks over which a channels-last tap GEMM is split: a deep, narrow GEMM (N * P >=
 * M * C / 4) runs as a batched MatMul over chunks of samples and a sum of the chunks' [M, C]
 * products. On ResNet-50's layer1-2 3x3 convs (depth 6272-25088, output 64x64-128x128) the
 * weight gradients took 16-26% less time so (medians of five and six interleaved runs); on
 * layer3-4 (depth 1568 and 512) they took longer (BENCHMARKS.md "train"). Needs a static batch
 * size that the chunks divide.
 */
export function sampleChunks(op: ConvOperands): number {
  const n = op.xShape[0];
  const [m, c] = op.weight;
  if (typeof n !== 'number' || 4 * n * outputPositions(op) < m * c) return 1;
  return [8, 4, 2].find((b) => n % b === 0) ?? 1;
}

/**
 * group = 1: per tap, dW[:, :, tap] = dY-as-[M, P] x the tap's [P, C] values over all samples:
 * channels first, the tap's rows [C, P] with transB; channels last, its [P, C] as is, in one
 * Gemm or, split by sampleChunks, one batched MatMul whose chunk products are summed.
 */
function tapGemms(emit: Emitter, op: ConvOperands, layout: TapLayout): string {
  const [m, c] = op.weight;
  const rank = op.xShape.length;
  const first = layout === 'channelsFirst';
  const firstSpatial = first ? 2 : 1;
  const padded = padForTaps(emit, (first ? channelsFirst : channelsLast)(emit, op.x, rank), rank, op.geometry, firstSpatial);
  const chunks = first ? 1 : sampleChunks(op);
  const tapValues = (tap: number[], shape: number[]) => emit.op('Reshape', [tapSlice(emit, padded, op.geometry, tap, firstSpatial), emit.ints(shape)]);
  let product: (tap: number[]) => string;
  if (chunks > 1) {
    // [N, M, P] -> [B, N/B, M, P] -> [B, M, N/B * P]: each chunk's samples side by side.
    const n = op.xShape[0] as number;
    const bySample = emit.op('Reshape', [op.dY, emit.ints([chunks, n / chunks, m, -1])]);
    const dYChunks = emit.op('Reshape', [emit.op('Transpose', [bySample], { perm: attr.ints([0, 2, 1, 3]) }), emit.ints([chunks, m, -1])]);
    product = (tap) => emit.op('ReduceSum', [emit.op('MatMul', [dYChunks, tapValues(tap, [chunks, -1, c])]), emit.ints([0])], { keepdims: attr.int(0) });
  } else {
    const dYRows = emit.op('Reshape', [channelsFirst(emit, op.dY, rank), emit.ints([m, -1])]);
    product = (tap) => emit.op('Gemm', [dYRows, tapValues(tap, first ? [c, -1] : [-1, c])], first ? { transB: attr.int(1) } : {});
  }
  const stacked = stackTaps(emit, kernelTaps(op.geometry.kernel).map(product), [m, c, 1], 2);
  return emit.op('Reshape', [stacked, emit.ints(op.weight)]);
}

export const denseTaps = (emit: Emitter, op: ConvOperands): string => tapGemms(emit, op, 'channelsFirst');
export const channelsLastTaps = (emit: Emitter, op: ConvOperands): string => tapGemms(emit, op, 'channelsLast');

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
