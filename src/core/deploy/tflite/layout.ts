import { Dim } from '../../graph/types';

/**
 * NHWC (TFLite) <-> NCHW (ONNX) bookkeeping: permutations, axis remapping, TensorFlow's SAME
 * padding, and permuting constant data. Pure functions over plain arrays.
 */

/** Transpose perm that turns an NHWC tensor into NCHW. */
export const TO_NCHW = [0, 3, 1, 2];
/** Transpose perm that turns an NCHW tensor into NHWC. */
export const TO_NHWC = [0, 2, 3, 1];

/** Where NHWC axis `axis` (negative allowed) sits in NCHW. */
export function nchwAxis(axis: number): number {
  const a = axis < 0 ? axis + 4 : axis;
  if (a < 0 || a > 3) throw new RangeError(`axis ${axis} is out of range for a 4-D tensor`);
  return TO_NHWC[a];
}

/**
 * Explicit [begin, end] padding for TensorFlow's SAME: the output has ceil(size / stride)
 * positions and the odd pixel, if any, goes at the end (ONNX calls this SAME_UPPER).
 */
export function samePadding(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(size / stride);
  const span = (kernel - 1) * dilation + 1;
  const total = Math.max((out - 1) * stride + span - size, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/** SAME padding when the stride is 1 does not depend on the input size. */
export function sizeFreeSamePadding(kernel: number, dilation: number): [number, number] {
  const total = (kernel - 1) * dilation;
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/** Row-major strides of `dims`. */
function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** Transposes row-major `data` of shape `dims` by `perm` (output axis i is input axis perm[i]). */
export function permuteData(data: Float32Array, dims: readonly number[], perm: readonly number[]): { data: Float32Array; dims: number[] } {
  const outDims = perm.map((p) => dims[p]);
  const inStrides = strides(dims);
  const stepByOutAxis = perm.map((p) => inStrides[p]);
  const out = new Float32Array(data.length);
  const index = new Array<number>(outDims.length).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src];
    // Odometer increment over the output index, tracking the source offset.
    for (let axis = outDims.length - 1; axis >= 0; axis--) {
      index[axis]++;
      src += stepByOutAxis[axis];
      if (index[axis] < outDims[axis]) break;
      src -= stepByOutAxis[axis] * outDims[axis];
      index[axis] = 0;
    }
  }
  return { data: out, dims: outDims };
}

/** Prepends 1s up to `rank` (numpy broadcasting aligns trailing axes). */
export function padRank(dims: readonly number[], rank: number): number[] {
  if (dims.length > rank) throw new RangeError(`[${dims}] has more than ${rank} dimensions`);
  return [...new Array<number>(rank - dims.length).fill(1), ...dims];
}

/**
 * True when an NHWC tensor of this shape has the same element order as its NCHW transpose,
 * so a Reshape/flatten may read the NCHW value directly: channels are 1, or the image is 1x1.
 */
export function sameMemoryOrder(nhwc: readonly Dim[]): boolean {
  return nhwc.length === 4 && (nhwc[3] === 1 || (nhwc[1] === 1 && nhwc[2] === 1));
}
