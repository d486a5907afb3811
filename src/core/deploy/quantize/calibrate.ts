import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { EngineOptions, createSession } from '../../engines/onnxruntime';
import { graphToModelProto } from '../../graph/onnx';
import { Graph } from '../../graph/types';
import { Range } from './params';

/**
 * Activation ranges from calibration images: the float model runs on the images with every
 * tensor to be quantized made a graph output, and each tensor's values go to a collector.
 *
 * - minmax: the observed [min, max] (onnxruntime's MinMax and TFLite's converter default).
 * - percentile: clips the tails; asymmetric takes the (100-p)th and pth percentiles of the values,
 *   symmetric the pth percentile of |v| (onnxruntime's Percentile calibrator).
 * - entropy: the |v| threshold whose 128-level quantization of the histogram loses the least
 *   information (KL divergence, TensorRT's calibrator, as onnxruntime's Entropy does it).
 *
 * Percentile and entropy need a histogram over a known range, so they take a second pass
 * over the images (the first finds min and max); both passes see the same batches.
 */

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** Clip ranges symmetrically around zero (percentile of |v|); affects percentile only. */
  symmetric: boolean;
  /** For percentile: the kept share, e.g. 99.99. */
  percentile: number;
  /** Histogram bins for percentile and entropy. */
  bins: number;
}

export const DEFAULT_CALIBRATION: CalibrationOptions = { method: 'minmax', symmetric: false, percentile: 99.99, bins: 2048 };

/** Per-tensor statistics; `signed` spans [min, max], `magnitude` spans [0, max|v|] (zeros left out). */
export interface TensorHistogram {
  min: number;
  max: number;
  signed: Float64Array;
  magnitude: Float64Array;
}

/*
 * The loops below run over every activation value, so they avoid Math.* calls: plain
 * comparisons are as fast everywhere, while Math builtins are not inlined in some embeddings
 * (Jest's VM realm makes them ~20x slower).
 */

/** Bin of `v` among `bins` bins of `width` from `lo`, clamped to the ends. */
function histogramBin(v: number, lo: number, width: number, bins: number): number {
  const x = (v - lo) / width;
  if (!(x >= 0)) return 0;
  return x >= bins ? bins - 1 : x | 0;
}

/** First pass: min and max of each tensor. */
export function updateMinMax(stats: Map<string, Range>, name: string, values: Float32Array): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    if (values.length === 0) return;
    throw new Error(`tensor ${name} holds non-finite values during calibration`);
  }
  const s = stats.get(name);
  stats.set(name, s ? { min: Math.min(s.min, lo), max: Math.max(s.max, hi) } : { min: lo, max: hi });
}

export function emptyHistogram(range: Range, bins: number): TensorHistogram {
  return { min: range.min, max: range.max, signed: new Float64Array(bins), magnitude: new Float64Array(bins) };
}

/** Second pass: counts each value in both histograms. */
export function updateHistogram(h: TensorHistogram, values: Float32Array): void {
  const bins = h.signed.length;
  const signedWidth = (h.max - h.min) / bins || 1;
  const absMax = Math.max(-h.min, h.max);
  const magnitudeWidth = absMax / bins || 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    h.signed[histogramBin(v, h.min, signedWidth, bins)]++;
    // Exact zeros are exact in any asymmetric quantization; counted in the magnitude histogram
    // they would dominate tensors that are mostly zero (after ReLU, min(x, 0)) and pull the
    // entropy threshold down to a sliver of the real values.
    if (v !== 0) h.magnitude[histogramBin(v < 0 ? -v : v, 0, magnitudeWidth, bins)]++;
  }
}

/** The value below which `share` (0..1) of the histogram's mass lies, interpolated within a bin. */
export function histogramQuantile(counts: Float64Array, lo: number, hi: number, share: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return lo;
  const target = share * total;
  const width = (hi - lo) / counts.length;
  let seen = 0;
  for (let b = 0; b < counts.length; b++) {
    if (seen + counts[b] >= target) {
      const within = counts[b] > 0 ? (target - seen) / counts[b] : 0;
      return lo + (b + within) * width;
    }
    seen += counts[b];
  }
  return hi;
}

export function percentileRange(h: TensorHistogram, percentile: number, symmetric: boolean): Range {
  const keep = percentile / 100;
  const absMax = Math.max(-h.min, h.max);
  if (symmetric) {
    const t = histogramQuantile(h.magnitude, 0, absMax, keep);
    return { min: Math.max(h.min, -t), max: Math.min(h.max, t) };
  }
  return { min: histogramQuantile(h.signed, h.min, h.max, 1 - keep), max: histogramQuantile(h.signed, h.min, h.max, keep) };
}

function klDivergence(p: Float64Array, q: Float64Array): number {
  let pSum = 0;
  let qSum = 0;
  for (let i = 0; i < p.length; i++) {
    pSum += p[i];
    qSum += q[i];
  }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    // q is zero only where p is (bins merged from empty source bins keep no mass); guard anyway.
    const qi = q[i] / qSum;
    kl += (p[i] / pSum) * Math.log(p[i] / pSum / (qi > 0 ? qi : 1e-12));
  }
  return kl;
}

/**
 * The entropy threshold over a |v| histogram (TensorRT / onnxruntime): for each candidate
 * cut i >= levels, P is the histogram up to i with the tail folded into bin i-1, Q is the
 * histogram up to i merged into `levels` groups and spread back over P's non-empty bins; the cut with the smallest
 * KL(P || Q) wins. Returns the threshold in value units.
 */
export function entropyThreshold(magnitude: Float64Array, absMax: number, levels = 128): number {
  const bins = magnitude.length;
  if (bins <= levels) return absMax;
  const width = absMax / bins;
  let best = bins;
  let bestKl = Infinity;
  const step = Math.max(1, Math.floor((bins - levels) / 512));
  for (let i = levels; i <= bins; i += step) {
    const p = magnitude.slice(0, i);
    let tail = 0;
    for (let k = i; k < bins; k++) tail += magnitude[k];
    p[i - 1] += tail;
    const q = new Float64Array(i);
    const perLevel = i / levels;
    for (let level = 0; level < levels; level++) {
      const start = Math.floor(level * perLevel);
      const end = level === levels - 1 ? i : Math.floor((level + 1) * perLevel);
      let sum = 0;
      let nonEmpty = 0;
      for (let k = start; k < end; k++) {
        sum += magnitude[k];
        if (p[k] > 0) nonEmpty++;
      }
      if (nonEmpty === 0) continue;
      for (let k = start; k < end; k++) if (p[k] > 0) q[k] = sum / nonEmpty;
    }
    const kl = klDivergence(p, q);
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return best * width;
}

export function entropyRange(h: TensorHistogram, symmetric: boolean): Range {
  const absMax = Math.max(-h.min, h.max);
  const t = entropyThreshold(h.magnitude, absMax);
  return symmetric ? { min: -t, max: t } : { min: Math.max(h.min, -t), max: Math.min(h.max, t) };
}

export interface CalibrationProgress {
  pass: number;
  passes: number;
  done: number;
  total: number;
}

/** A model whose outputs are the tensors to observe (types only: their shapes may be unknown to us). */
export function observationModel(graph: Graph, tensors: readonly string[]): Uint8Array {
  const proto = graphToModelProto(graph);
  const declared = new Set((proto.graph?.output ?? []).map((o) => o.name));
  for (const name of tensors) {
    if (declared.has(name)) continue;
    proto.graph?.output?.push({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } });
  }
  return onnx.ModelProto.encode(proto).finish();
}

export interface CalibrationBatch {
  data: Float32Array;
  dims: number[];
}

/**
 * Runs `graph` once over `batches`, handing every value of each tensor in `tensors` to `visit`
 * (one call per tensor per batch). The graph must have one float input.
 */
export async function observeTensors(
  graph: Graph,
  tensors: readonly string[],
  batches: readonly CalibrationBatch[],
  engine: EngineOptions,
  visit: (name: string, values: Float32Array, dims: readonly number[]) => void,
  onBatch?: (done: number, total: number) => void,
): Promise<void> {
  if (batches.length === 0) throw new Error('calibration needs at least one batch of images');
  const session = await createSession(observationModel(graph, tensors), engine, 'calibration model');
  const inputName = graph.inputs[0].name;
  const fetch = [...new Set(tensors)];
  try {
    for (const [k, b] of batches.entries()) {
      const out = await session.run({ [inputName]: new ort.Tensor('float32', b.data, b.dims) }, fetch);
      for (const name of fetch) visit(name, out[name].data as Float32Array, out[name].dims);
      onBatch?.(k + 1, batches.length);
    }
  } finally {
    await session.release();
  }
}

/** Runs `graph` over `batches` and returns the calibrated range of each tensor in `tensors`. */
export async function calibrateRanges(
  graph: Graph,
  tensors: readonly string[],
  batches: readonly CalibrationBatch[],
  opts: CalibrationOptions,
  engine: EngineOptions,
  onProgress?: (p: CalibrationProgress) => void,
): Promise<Map<string, Range>> {
  const passes = opts.method === 'minmax' ? 1 : 2;
  const progress = (pass: number) => (done: number, total: number) => onProgress?.({ pass, passes, done, total });
  const minMax = new Map<string, Range>();
  await observeTensors(graph, tensors, batches, engine, (name, values) => updateMinMax(minMax, name, values), progress(1));
  if (opts.method === 'minmax') return minMax;
  const histograms = new Map<string, TensorHistogram>();
  for (const [name, range] of minMax) histograms.set(name, emptyHistogram(range, opts.bins));
  await observeTensors(graph, tensors, batches, engine, (name, values) => updateHistogram(histograms.get(name) as TensorHistogram, values), progress(2));
  const ranges = new Map<string, Range>();
  for (const [name, h] of histograms) ranges.set(name, opts.method === 'percentile' ? percentileRange(h, opts.percentile, opts.symmetric) : entropyRange(h, opts.symmetric));
  return ranges;
}

/** Largest |v| of each channel (axis 1) of `values` shaped `dims`, merged into `into`. */
export function updateChannelMax(into: Float32Array, values: Float32Array, dims: readonly number[]): void {
  const channels = dims[1];
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  const outer = dims[0];
  for (let n = 0; n < outer; n++) {
    for (let c = 0; c < channels; c++) {
      let m = into[c];
      const base = (n * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const v = values[base + i];
        if (v > m) m = v;
        else if (-v > m) m = -v;
      }
      into[c] = m;
    }
  }
}

/** Per-channel (axis 1) largest |v| of each tensor over the batches. */
export async function channelMaxima(graph: Graph, tensors: readonly string[], batches: readonly CalibrationBatch[], engine: EngineOptions): Promise<Map<string, Float32Array>> {
  const maxima = new Map<string, Float32Array>();
  await observeTensors(graph, tensors, batches, engine, (name, values, dims) => {
    const into = maxima.get(name) ?? new Float32Array(dims[1]);
    updateChannelMax(into, values, dims);
    maxima.set(name, into);
  });
  return maxima;
}
