/**
 * Linear quantization arithmetic, shared by the ONNX quantizer and the TFLite exporter:
 * real = scale * (q - zeroPoint). Pure functions over plain arrays.
 */

export type QuantType = 'int8' | 'uint8';

export interface QuantParams {
  scale: number;
  zeroPoint: number;
  type: QuantType;
}

/** A closed range of real values that must be representable (0 is always included). */
export interface Range {
  min: number;
  max: number;
}

export interface ActivationScheme {
  type: QuantType;
  /** Symmetric: zero maps to the middle of the type (int8 0, uint8 128); the range is +-max|v|. */
  symmetric: boolean;
}

export function typeBounds(type: QuantType): { qmin: number; qmax: number } {
  return type === 'int8' ? { qmin: -128, qmax: 127 } : { qmin: 0, qmax: 255 };
}

/** The smallest scale we write: a constant-zero tensor still needs a positive, finite scale. */
const MIN_SCALE = 1e-8;

/** Round half to even, as onnxruntime and TFLite round when quantizing. */
export function roundHalfEven(x: number): number {
  // No Math.* here: this runs once per weight (see calibrate.ts on builtins in hot loops).
  const floor = x >= 0 ? x - (x % 1) : x - (x % 1) - (x % 1 === 0 ? 0 : 1);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Scale and zero point for an activation range. Asymmetric spans [min(min,0), max(max,0)]
 * over the whole type; symmetric spans +-max|v| over [-127, 127] around the type's middle,
 * so that int8 and uint8 symmetric differ only by the 128 offset.
 */
export function activationParams(range: Range, scheme: ActivationScheme): QuantParams {
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error(`range [${range.min}, ${range.max}] is not finite`);
  const { qmin, qmax } = typeBounds(scheme.type);
  if (scheme.symmetric) {
    const absMax = Math.max(-lo, hi);
    const scale = Math.max(absMax / 127, MIN_SCALE);
    return { scale: Math.fround(scale), zeroPoint: scheme.type === 'int8' ? 0 : 128, type: scheme.type };
  }
  const scale = Math.fround(Math.max((hi - lo) / (qmax - qmin), MIN_SCALE));
  const zeroPoint = Math.min(qmax, Math.max(qmin, roundHalfEven(qmin - lo / scale)));
  return { scale, zeroPoint, type: scheme.type };
}

export function quantizeValue(v: number, p: QuantParams): number {
  const { qmin, qmax } = typeBounds(p.type);
  return Math.min(qmax, Math.max(qmin, roundHalfEven(v / p.scale) + p.zeroPoint));
}

export function dequantizeValue(q: number, p: QuantParams): number {
  return p.scale * (q - p.zeroPoint);
}

/** Per-channel symmetric int8 weights: one scale per slice along `axis`, zero points 0. */
export interface ChannelQuantized {
  data: Int8Array;
  scales: Float32Array;
}

/** Layout of `dims` around `axis`: how many blocks, channels and inner elements. */
function around(dims: readonly number[], axis: number): { outer: number; channels: number; inner: number } {
  const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
  return { outer: prod(dims.slice(0, axis)), channels: dims[axis], inner: prod(dims.slice(axis + 1)) };
}

/**
 * Symmetric int8 quantization with one scale per slice along `axis` (per output channel),
 * over [-qmax, qmax]: 127 by default, 63 for onnxruntime's reduce_range (7-bit weights, which
 * avoid int16 overflow in the AVX2 u8s8 kernel's pairwise sums).
 */
export function quantizePerChannel(values: Float32Array, dims: readonly number[], axis: number, qmax = 127): ChannelQuantized {
  const { outer, channels, inner } = around(dims, axis);
  const absMax = new Float32Array(channels);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      let m = absMax[c];
      for (let i = 0; i < inner; i++) {
        const v = values[base + i];
        if (v > m) m = v;
        else if (-v > m) m = -v;
      }
      absMax[c] = m;
    }
  }
  const scales = absMax.map((m) => Math.max(m / qmax, MIN_SCALE));
  const data = new Int8Array(values.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const q = roundHalfEven(values[base + i] / scales[c]);
        data[base + i] = q > qmax ? qmax : q < -qmax ? -qmax : q;
      }
    }
  }
  return { data, scales };
}

/** One symmetric int8 scale for the whole tensor (per-tensor weights). */
export function quantizePerTensor(values: Float32Array, qmax = 127): { data: Int8Array; scale: number } {
  const q = quantizePerChannel(values, [1, values.length], 0, qmax);
  return { data: q.data, scale: q.scales[0] };
}

/** int32 bias with scale inputScale * weightScale[c] and zero point 0, as QLinearConv and TFLite take it. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { data: Int32Array; scales: Float32Array } {
  const scales = new Float32Array(bias.length);
  const data = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    scales[c] = inputScale * weightScales[weightScales.length === 1 ? 0 : c];
    const q = roundHalfEven(bias[c] / scales[c]);
    data[c] = Math.max(-2147483647, Math.min(2147483647, q));
  }
  return { data, scales };
}
