import { Dim, Shape, attr, float32Tensor, numel } from '../graph/types';
import { Emitter, ONNX_FLOAT } from './emitter';

/**
 * Shape-aware emission helpers the gradient rules share. Static shapes come from inference;
 * a symbolic dimension (the batch) is resolved at run time only where it must be.
 */

const isStatic = (d: Dim): d is number => typeof d === 'number';

export function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/**
 * Sums a gradient of the broadcast shape `from` back to an operand of shape `to`: numpy
 * broadcasting in reverse (leading axes summed away, size-1 axes summed with keepdims).
 */
export function sumToShape(emit: Emitter, grad: string, from: Shape, to: Shape): string {
  const lead = from.length - to.length;
  const leading = range(lead);
  const kept = to.flatMap((d, i) => (d === 1 && from[i + lead] !== 1 ? [i + lead] : []));
  if (lead === 0 && kept.length === 0) return grad;
  if (kept.length === 0) return emit.op('ReduceSum', [grad, emit.ints(leading)], { keepdims: attr.int(0) });
  const summed = emit.op('ReduceSum', [grad, emit.ints([...leading, ...kept])], { keepdims: attr.int(1) });
  return lead === 0 ? summed : emit.op('Squeeze', [summed, emit.ints(leading)]);
}

/** A Reshape target for `shape`: constant when at most one dimension is symbolic (it becomes -1). */
export function reshapeTarget(emit: Emitter, like: string, shape: Shape): string {
  const symbolic = shape.filter((d) => !isStatic(d)).length;
  if (symbolic === 0) return emit.ints(shape as number[]);
  if (symbolic === 1) return emit.ints(shape.map((d) => (isStatic(d) ? d : -1)));
  return emit.op('Shape', [like]);
}

/** Reshapes `t` to the shape of `like`. */
export function reshapeLike(emit: Emitter, t: string, like: string, shape: Shape): string {
  return emit.op('Reshape', [t, reshapeTarget(emit, like, shape)]);
}

/**
 * Broadcasts `t` (shape `from`, same rank, size 1 where it was reduced) to the shape of `like`.
 * Symbolic dimensions `t` already has become 1 in a constant target; a symbolic reduced one
 * needs `like`'s run-time shape.
 */
export function expandLike(emit: Emitter, t: string, from: Shape, like: string, shape: Shape): string {
  const needsRuntime = shape.some((d, i) => !isStatic(d) && from[i] !== d);
  const target = needsRuntime ? emit.op('Shape', [like]) : emit.ints(shape.map((d) => (isStatic(d) ? d : 1)));
  return emit.op('Expand', [t, target]);
}

/** How many elements of `like` (shape `shape`) the `axes` span, as a float scalar. */
export function elementCount(emit: Emitter, like: string, shape: Shape, axes: readonly number[]): string {
  const dims = axes.map((a) => shape[a]);
  if (dims.every(isStatic)) return emit.scalar(dims.reduce((p, q) => p * q, 1));
  const sizes = emit.op('Gather', [emit.op('Shape', [like]), emit.ints(axes)]);
  return emit.op('ReduceProd', [emit.op('Cast', [sizes], { to: attr.int(ONNX_FLOAT) })], { keepdims: attr.int(0) });
}

/** Inserts the size-1 axes a keepdims=0 reduction removed. */
export function restoreReducedAxes(emit: Emitter, t: string, axes: readonly number[], keepdims: boolean): string {
  return keepdims ? t : emit.op('Unsqueeze', [t, emit.ints([...axes].sort((a, b) => a - b))]);
}

/** The shape a reduction over `axes` with keepdims=1 leaves. */
export function keptShape(shape: Shape, axes: readonly number[]): Shape {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/**
 * Spatial positions per image and channel from which the per-channel affine is a depthwise Conv:
 * from 14x14 up it ran 1.1-3.4x faster than BatchNormalization + Relu (1.0-1.35x with a residual
 * Add), at 7x7 it tied or lost and at 4x4 it was 2.5x slower: onnxruntime runs a 1x1 group conv
 * as one small GEMM per image and channel (measurements in BENCHMARKS.md "train").
 */
export const AFFINE_CONV_MIN_POSITIONS = 196;

function affineAsConv(shape: Shape): boolean {
  const spatial = shape.slice(2);
  return spatial.length > 0 && spatial.every(isStatic) && numel(spatial) >= AFFINE_CONV_MIN_POSITIONS;
}

/**
 * (x - center) * scale + shift per channel (axis 1 of x, shaped `shape`; [C] vectors, no centring
 * without a center) in one pass, where Mul + Add would write a full-size temporary.
 * On large maps a depthwise 1x1 Conv: weight = scale, bias = shift - center * scale.
 * onnxruntime runs it on every intra-op thread where its BatchNormalization kernel runs on one,
 * and fuses into it a Relu that follows, or a residual Add and a Relu (its Conv+Activation and
 * Conv+Add+Activation fusions, which need the bias input this form has). Otherwise
 * BatchNormalization with mean = center, variance 1 and epsilon 0, which is exactly the affine map.
 */
export function centeredAffine(emit: Emitter, x: string, shape: Shape, center: string | undefined, scale: string, shift: string, channels: number, output?: string): string {
  if (!affineAsConv(shape)) {
    const ones = emit.constant(float32Tensor([channels], new Float32Array(channels).fill(1)));
    const mean = center ?? emit.constant(float32Tensor([channels], new Float32Array(channels)));
    return emit.op('BatchNormalization', [x, scale, shift, mean, ones], { epsilon: attr.float(0) }, output);
  }
  const unit = new Array<number>(shape.length - 2).fill(1);
  const weight = emit.op('Reshape', [scale, emit.ints([channels, 1, ...unit])]);
  const bias = center === undefined ? shift : emit.op('Sub', [shift, emit.op('Mul', [center, scale])]);
  return emit.op('Conv', [x, weight, bias], { kernel_shape: attr.ints(unit), group: attr.int(channels) }, output);
}

/** A float tensor of zeros with static `dims`. */
export function zeros(emit: Emitter, dims: readonly number[]): string {
  return emit.op('ConstantOfShape', [emit.ints(dims)], { value: attr.tensor(float32Tensor([1], Float32Array.of(0))) });
}

/** The largest float32: HardSigmoid(alpha = it) is 1 for every positive normal float. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * 1 where sign * t > 0 and 0 elsewhere, as a float tensor in one pass: HardSigmoid(t) =
 * clamp(sign * FLT_MAX * t, 0, 1). onnxruntime runs it about as fast as a Mul, where a
 * comparison plus a Cast to float is two passes (Relu's mask 22 -> 14 ms per 51 MB with its Mul,
 * bench/elementwise-ops.js). It differs from the comparison only for |t| below 2^-128, subnormal
 * values, where it is a fraction (t * FLT_MAX) instead of 1: a gradient scaled down at inputs
 * within 3e-39 of a kink.
 */
export function indicator(emit: Emitter, t: string, sign: 1 | -1): string {
  return emit.op('HardSigmoid', [t], { alpha: attr.float(sign * FLOAT32_MAX), beta: attr.float(0) });
}

/** Casts a boolean tensor to the graph's float type. */
export function toFloat(emit: Emitter, t: string): string {
  return emit.op('Cast', [t], { to: attr.int(ONNX_FLOAT) });
}
