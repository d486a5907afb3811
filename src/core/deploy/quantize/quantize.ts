import { EngineOptions } from '../../engines/onnxruntime';
import { InputSpec } from '../../export/metadata';
import { optimizeForInference } from '../../export/optimize';
import { groupedConvsAsDepthwise } from '../../export/groupedAsDepthwise';
import { preluAsDepthwiseConvs } from '../../export/preluAsConvs';
import { cloneGraph } from '../../graph/edit';
import { Graph } from '../../graph/types';
import { RgbImage } from '../../image/image';
import { CalibrationBatch, CalibrationOptions, calibrateRanges, channelMaxima } from './calibrate';
import { DynamicQuantOptions, quantizeDynamic } from './dynamic';
import { equalizePairs, findEqualizationPairs } from './equalize';
import { inputTensor } from './faceImages';
import { convertToFloat16 } from './float16';
import { assertFloatModel, opCounts } from './inspect';
import { upgradeToQdqOpset } from './opset';
import { StaticQuantOptions, applyQdq, planQdq } from './qdq';

/**
 * quantize, on a graph: the float model prepared for inference (BatchNorm folded, no-ops
 * removed), then one of three rewrites. Input and output names, and all metadata, are kept;
 * a `quantization` metadata entry records what was done.
 */

export type QuantizeMode = 'static' | 'dynamic' | 'float16';
export const QUANTIZE_MODES: readonly QuantizeMode[] = ['static', 'dynamic', 'float16'];

export interface QuantizeOptions {
  mode: QuantizeMode;
  static: StaticQuantOptions;
  calibration: CalibrationOptions;
  dynamic: DynamicQuantOptions;
  /** Cross-layer equalization before static quantization. */
  equalize: boolean;
  engine: EngineOptions;
  /** Images per calibration batch. */
  batchSize: number;
}

export interface QuantizeStage {
  stage: 'equalize' | 'calibrate';
  done: number;
  total: number;
}

export interface QuantizeDetails {
  mode: QuantizeMode;
  /** Op types of the result, with counts. */
  ops: Record<string, number>;
  /** Ops left in float by static quantization, with why. */
  leftInFloat: { opType: string; count: number; reason: string }[];
  /** Nodes rewritten: static, the nodes given int8 inputs; dynamic, the MatMul/Gemm nodes. */
  quantizedNodes: number;
  /** float16: the tensors converted. */
  convertedTensors?: number;
  equalizedPairs?: number;
  /** PRelu nodes written as depthwise convolutions around a Relu, so that they run in int8. */
  preluRewritten?: number;
  /** Narrow grouped convolutions written as depthwise convolutions (export/groupedAsDepthwise.ts). */
  groupedRewritten?: number;
  calibratedTensors?: number;
  calibrationImages?: number;
  /** float16: values beyond float16's range, clamped. */
  clampedValues?: number;
}

export const QUANTIZATION_METADATA_KEY = 'quantization';

export function batchesOf(images: readonly RgbImage[], spec: InputSpec, batchSize: number): CalibrationBatch[] {
  const dims = spec.layout === 'NHWC' ? [spec.size, spec.size, 3] : [3, spec.size, spec.size];
  const batches: CalibrationBatch[] = [];
  for (let i = 0; i < images.length; i += batchSize) {
    const chunk = images.slice(i, i + batchSize);
    batches.push({ data: inputTensor(chunk, spec), dims: [chunk.length, ...dims] });
  }
  return batches;
}

/** The float graph every mode starts from: a checked copy, BatchNorm folded, opset >= 13. */
export function prepareFloatGraph(graph: Graph, source: string): Graph {
  assertFloatModel(graph, source);
  const prepared = cloneGraph(graph);
  optimizeForInference(prepared);
  return upgradeToQdqOpset(prepared, source);
}

/**
 * Static int8: optional equalization, calibration on `images`, QDQ rewrite. `prepared` comes
 * from prepareFloatGraph and is equalized in place (the float function does not change).
 */
export async function quantizeStatic(
  prepared: Graph,
  images: readonly RgbImage[],
  spec: InputSpec,
  opts: QuantizeOptions,
  onProgress?: (s: QuantizeStage) => void,
): Promise<{ graph: Graph; details: QuantizeDetails; ranges: Awaited<ReturnType<typeof calibrateRanges>> }> {
  if (images.length === 0) throw new Error('static quantization needs calibration images');
  const batches = batchesOf(images, spec, opts.batchSize);
  let equalizedPairs: number | undefined;
  if (opts.equalize) {
    const pairs = findEqualizationPairs(prepared);
    const tensors = [...new Set(pairs.flatMap((p) => p.tensors))];
    onProgress?.({ stage: 'equalize', done: 0, total: 1 });
    const maxima = tensors.length > 0 ? await channelMaxima(prepared, tensors, batches, opts.engine) : new Map();
    equalizedPairs = equalizePairs(prepared, pairs, maxima);
    onProgress?.({ stage: 'equalize', done: 1, total: 1 });
  }
  // After equalization, which needs PRelu whole (it is positively homogeneous, its parts are not).
  const preluRewritten = opts.static.rewritePrelu ? preluAsDepthwiseConvs(prepared) : 0;
  // onnxruntime's int8 grouped convolution is slow; its depthwise and dense ones are not.
  const groupedRewritten = groupedConvsAsDepthwise(prepared);
  const plan = planQdq(prepared, opts.static);
  const ranges = await calibrateRanges(prepared, plan.calibrate, batches, opts.calibration, opts.engine, (p) =>
    onProgress?.({ stage: 'calibrate', done: (p.pass - 1) * p.total + p.done, total: p.passes * p.total }),
  );
  const graph = applyQdq(prepared, plan, ranges, opts.static);
  return {
    graph,
    ranges,
    details: {
      mode: 'static',
      ops: Object.fromEntries(opCounts(graph)),
      leftInFloat: plan.leftInFloat,
      quantizedNodes: plan.quantized.size,
      equalizedPairs,
      preluRewritten,
      groupedRewritten,
      calibratedTensors: plan.calibrate.length,
      calibrationImages: images.length,
    },
  };
}

function describeSettings(opts: QuantizeOptions, details: QuantizeDetails): Record<string, unknown> {
  switch (opts.mode) {
    case 'static':
      return {
        mode: 'static int8 (QDQ)',
        activations: `${opts.static.activations.type} ${opts.static.activations.symmetric ? 'symmetric' : 'asymmetric'}`,
        weights: `int8 symmetric ${opts.static.perChannel ? 'per channel' : 'per tensor'}${opts.static.reduceRange ? ' (7-bit)' : ''}`,
        calibration: opts.calibration.method === 'percentile' ? `percentile ${opts.calibration.percentile}` : opts.calibration.method,
        calibration_images: details.calibrationImages,
        equalized_pairs: details.equalizedPairs ?? 0,
        prelu_as_int8_depthwise_convs: details.preluRewritten ?? 0,
        grouped_convs_as_int8_depthwise_convs: details.groupedRewritten ?? 0,
      };
    case 'dynamic':
      return { mode: `dynamic int8 (${opts.dynamic.form})`, weights: 'int8 symmetric per output column', ops: 'MatMul, Gemm' };
    case 'float16':
      return { mode: 'float16', interface: 'float32 inputs and outputs' };
  }
}

/** Quantizes `graph` (any float ONNX model) as `opts.mode` says. `images` are needed for static. */
export async function quantizeGraph(
  graph: Graph,
  source: string,
  images: readonly RgbImage[],
  spec: InputSpec,
  opts: QuantizeOptions,
  onProgress?: (s: QuantizeStage) => void,
): Promise<{ graph: Graph; details: QuantizeDetails }> {
  const prepared = prepareFloatGraph(graph, source);
  let result: { graph: Graph; details: QuantizeDetails };
  switch (opts.mode) {
    case 'static':
      result = await quantizeStatic(prepared, images, spec, opts, onProgress);
      break;
    case 'dynamic': {
      const { graph: g, quantizedNodes } = quantizeDynamic(prepared, opts.dynamic);
      result = { graph: g, details: { mode: 'dynamic', ops: Object.fromEntries(opCounts(g)), leftInFloat: [], quantizedNodes } };
      break;
    }
    case 'float16': {
      const { graph: g, convertedTensors, clampedValues } = convertToFloat16(prepared);
      result = { graph: g, details: { mode: 'float16', ops: Object.fromEntries(opCounts(g)), leftInFloat: [], quantizedNodes: 0, convertedTensors, clampedValues } };
      break;
    }
  }
  result.graph.metadata = { ...graph.metadata, [QUANTIZATION_METADATA_KEY]: JSON.stringify(describeSettings(opts, result.details)) };
  return result;
}
