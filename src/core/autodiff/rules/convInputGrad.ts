import { attr, float32Tensor } from '../../graph/types';
import { Emitter } from '../emitter';
import { range } from '../tensors';
import { ConvOperands, isGlobal, outputPositions, tapCount, unitStride } from './convOperands';
import { transposeAttrs, transposeOutputPadding } from './window';

/**
 * Conv's input gradient, the adjoint of the convolution. ConvTranspose with the same weight is
 * that adjoint for any geometry. With unit strides the adjoint is also a plain Conv of dY: the
 * kernel flipped in space, input and output channels swapped within each group, and padded by
 * (k - 1) * dilation - pad on each side. onnxruntime ran that Conv (its GEMM and depthwise
 * kernels) 1.5-4x faster than ConvTranspose (GEMM then col2im) on MobileFaceNet's layers and on
 * 1x1 layers, and about as fast on ResNet-50's 3x3 ones (per-layer times from
 * bench/train-step.js --profile), so it is used wherever it applies: unit strides, pads no larger than the dilated kernel, and a window that does not
 * cover the whole input (a global conv's adjoint would slide its large kernel over padding,
 * where ConvTranspose is 5x faster).
 *
 * ConvTranspose works image by image: one GEMM of the weight with each image's dY, whose
 * columns are that image's output positions. On small maps (ResNet-50's last stage, 4x4) those
 * GEMMs are too thin to run fast, so a strided conv with at most FOLD_MAX_POSITIONS output
 * positions runs one ConvTranspose over the whole batch laid side by side along the last axis
 * (foldedConvTranspose): 1.5-1.7x faster on those layers, slower from 7x7 up
 * (scratch measurements in BENCHMARKS.md "train").
 */

export const INPUT_GRAD_FORMULATIONS = ['adjointConv', 'convTranspose', 'foldedConvTranspose'] as const;
export type InputGradFormulation = (typeof INPUT_GRAD_FORMULATIONS)[number];

/** Output positions per image up to which a strided conv's adjoint folds the batch into one image. */
export const FOLD_MAX_POSITIONS = 16;

/** Which formulation the input gradient of `op` uses (the rule above). */
export function inputGradFormulation(op: ConvOperands): InputGradFormulation {
  const g = op.geometry;
  const reach = g.kernel.map((k, i) => (k - 1) * g.dilations[i]);
  const padsFit = [...g.padsBegin, ...g.padsEnd].every((p, i) => p <= reach[i % reach.length]);
  if (unitStride(op) && padsFit && !isGlobal(op)) return 'adjointConv';
  return !unitStride(op) && outputPositions(op) <= FOLD_MAX_POSITIONS && batchFold(op) !== undefined ? 'foldedConvTranspose' : 'convTranspose';
}

/**
 * How the batch is laid side by side along the last spatial axis (width) for one ConvTranspose:
 * each image's dY is widened to `block` columns with zeros, so that its output lands in its own
 * `block * stride` output columns, the first `width` of which are its input gradient and the
 * rest (what the forward's padding dropped) reach no other image's. The folded ConvTranspose
 * keeps the width's begin pad and takes `padEnd` / `outputPadding` so that its output is exactly
 * N * block * stride wide. Undefined where that would need an output padding of a stride or more.
 */
function batchFold(op: ConvOperands): { block: number; padEnd: number; outputPadding: number } | undefined {
  const g = op.geometry;
  const a = g.kernel.length - 1;
  const [s, d, k, padBegin, width, outWidth] = [g.strides[a], g.dilations[a], g.kernel[a], g.padsBegin[a], g.inSize[a], g.outSize[a]];
  const reach = (outWidth - 1) * s + (k - 1) * d;
  const block = Math.max(outWidth, Math.ceil((width + padBegin) / s), Math.floor((reach - padBegin) / s) + 1);
  const excess = (k - 1) * d + 1 - s - padBegin;
  const fold = { block, padEnd: Math.max(0, excess), outputPadding: Math.max(0, -excess) };
  return fold.outputPadding < s ? fold : undefined;
}

/** foldedConvTranspose: [N, M, ...o, wo] -> one image [1, M, ...o, N * block] -> ConvTranspose -> back to [N, C, ...in, w]. */
function foldedConvTranspose(emit: Emitter, op: ConvOperands): string {
  const g = op.geometry;
  const fold = batchFold(op) as NonNullable<ReturnType<typeof batchFold>>;
  const a = g.kernel.length - 1;
  const rank = g.kernel.length + 2;
  const [m] = op.weight;
  const channels = op.xShape[1] as number;
  const s = g.strides[a];
  const widened = fold.block > g.outSize[a] ? emit.op('Pad', [op.dY, emit.ints([...new Array<number>(2 * rank - 1).fill(0), fold.block - g.outSize[a]]), emit.scalar(0)], { mode: attr.string('constant') }) : op.dY;
  // [N, M, ...o, block] -> [M, ...o, N, block] -> [1, M, ...o, N * block]
  const sideBySide = emit.op('Transpose', [widened], { perm: attr.ints([1, ...range(a, 2), 0, rank - 1]) });
  const folded = emit.op('Reshape', [sideBySide, emit.ints([1, m, ...g.outSize.slice(0, a), -1])]);
  const transposed = emit.op('ConvTranspose', [folded, op.w], {
    ...transposeAttrs(g, op.group),
    pads: attr.ints([...g.padsBegin, ...g.padsEnd.slice(0, a), fold.padEnd]),
    output_padding: attr.ints([...transposeOutputPadding(g).slice(0, a), fold.outputPadding]),
  }); // [1, C, ...in, N * block * s]
  const blocks = emit.op('Reshape', [transposed, emit.ints([channels, ...g.inSize.slice(0, a), -1, fold.block * s])]);
  const images = emit.op('Slice', [blocks, emit.ints([0]), emit.ints([g.inSize[a]]), emit.ints([rank - 1])]);
  // [C, ...in, N, w] -> [N, C, ...in, w]
  return emit.op('Transpose', [images], { perm: attr.ints([a + 1, 0, ...range(a, 1), rank - 1]) });
}

/**
 * The kernel of the adjoint Conv: [C, M/group, ...kernel], spatially flipped, channels swapped
 * per group. Flipping every spatial axis reverses the row-major order of the taps, which is one
 * MatMul with a K x K anti-diagonal matrix: onnxruntime's Slice with negative steps copies
 * element by element, several times slower over ResNet-50's weights.
 */
function adjointKernel(emit: Emitter, op: ConvOperands): string {
  const [m, cPerGroup, ...kernel] = op.weight;
  const group = op.group;
  const taps = tapCount(op);
  let flipped = op.w;
  if (taps > 1) {
    const reversal = new Float32Array(taps * taps);
    for (let t = 0; t < taps; t++) reversal[t * taps + (taps - 1 - t)] = 1;
    flipped = emit.op('MatMul', [emit.op('Reshape', [op.w, emit.ints([m * cPerGroup, taps])]), emit.constant(float32Tensor([taps, taps], reversal))]);
  }
  const perGroup = emit.op('Reshape', [flipped, emit.ints([group, m / group, cPerGroup, ...kernel])]);
  const swapped = emit.op('Transpose', [perGroup], { perm: attr.ints([0, 2, 1, ...range(kernel.length, 3)]) });
  return emit.op('Reshape', [swapped, emit.ints([group * cPerGroup, m / group, ...kernel])]);
}

function adjointConv(emit: Emitter, op: ConvOperands): string {
  const g = op.geometry;
  const reach = g.kernel.map((k, i) => (k - 1) * g.dilations[i]);
  return emit.op('Conv', [op.dY, adjointKernel(emit, op)], {
    kernel_shape: attr.ints(g.kernel),
    dilations: attr.ints(g.dilations),
    pads: attr.ints([...g.padsBegin.map((p, i) => reach[i] - p), ...g.padsEnd.map((p, i) => reach[i] - p)]),
    group: attr.int(op.group),
  });
}

/** Emits the input gradient under a scope named after the formulation (profiles and tests read it). */
export function convInputGrad(emit: Emitter, op: ConvOperands): string {
  const formulation = inputGradFormulation(op);
  const scoped = emit.scoped(`${emit.prefix}/${formulation}`);
  if (formulation === 'adjointConv') return adjointConv(scoped, op);
  if (formulation === 'foldedConvTranspose') return foldedConvTranspose(scoped, op);
  return scoped.op('ConvTranspose', [op.dY, op.w], transposeAttrs(op.geometry, op.group));
}
