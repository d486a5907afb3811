import { BenchResult, BenchSettings, benchModel } from '../../bench/bench';
import { EngineOptions } from '../../engines/onnxruntime';
import { InputSpec } from '../../export/metadata';
import { rewriteForOnnxRuntime } from '../../export/onnxRuntimeForm';
import { cloneGraph } from '../../graph/edit';
import { encodeOnnx } from '../../graph/onnx';
import { Graph } from '../../graph/types';
import { assertWritable, writeFileAtomic } from '../../util/atomic';
import { EmbeddingComparison, VerificationComparison, compareEmbeddings, compareVerification } from './compare';
import { FaceImage } from './faceImages';
import { FloatModel, loadFloatModel } from './floatModel';
import { Rejected, loadCheckedFaces, loadVerificationSet, splitCalibration } from './faceSets';
import { QuantizeInputError } from './inspect';
import { resolveInputSpec } from './inputSpec';
import { QUANTIZATION_METADATA_KEY, QuantizeDetails, QuantizeOptions, QuantizeStage, quantizeGraph } from './quantize';

/**
 * The quantize command's work, start to end: read the model, load and check the face images,
 * quantize, write the file atomically, then measure what changed (size, embeddings' cosine on
 * held-out faces, verification accuracy, speed in the same run).
 */

export interface QuantizeRequest {
  /** An .onnx file (any float model), a checkpoint, a config file or a shipped config name. */
  model: string;
  sets: readonly string[];
  output: string;
  options: QuantizeOptions;
  /** What the user says about the input, over the model's metadata. */
  input: Partial<InputSpec>;
  /** Aligned face crops: calibration (static) and, by default, held-out images for the cosine check. */
  calibrationDir?: string;
  calibrationCount: number;
  /** Held-out faces for the cosine check, when not the rest of the calibration folder. */
  heldOutDir?: string;
  /** ImageFolder of identities or an insightface .bin, for verification accuracy before and after. */
  evalSet?: string;
  seed: number;
  /** Speed before and after; undefined skips it. */
  bench?: BenchSettings;
}

export interface SpeedComparison {
  before: BenchResult;
  after: BenchResult;
  /** after / before images per second, per batch size. */
  speedup: { batch: number; ratio: number }[];
}

export interface QuantizeReport {
  model: string;
  output: string;
  mode: QuantizeOptions['mode'];
  settings: Record<string, unknown>;
  input: { spec: InputSpec; assumed: string[] };
  sizeBytes: { before: number; after: number; ratio: number };
  details: QuantizeDetails;
  calibration?: { dir: string; images: number; rejected: Rejected[] };
  cosine?: EmbeddingComparison & { source: string };
  verification?: VerificationComparison;
  speed?: SpeedComparison;
  notes: string[];
}

export interface PipelineProgress {
  stage: 'faces' | QuantizeStage['stage'] | 'cosine' | 'verification' | 'speed';
  done: number;
  total: number;
  detail?: string;
}

interface ImageSets {
  calibration: FaceImage[];
  heldOut: FaceImage[];
  heldOutSource: string;
  rejected: Rejected[];
}

async function loadImageSets(req: QuantizeRequest, size: number, engine: EngineOptions): Promise<ImageSets> {
  const needsCalibration = req.options.mode === 'static';
  if (needsCalibration && !req.calibrationDir) {
    throw new QuantizeInputError('static quantization needs calibration images: give --calibration DIR (aligned face crops)');
  }
  const pool = req.calibrationDir ? await loadCheckedFaces(req.calibrationDir, size, engine) : { images: [], rejected: [] };
  const held = req.heldOutDir ? await loadCheckedFaces(req.heldOutDir, size, engine) : undefined;
  if (!needsCalibration) {
    const heldOut = held?.images ?? pool.images;
    return { calibration: [], heldOut, heldOutSource: req.heldOutDir ?? req.calibrationDir ?? '', rejected: [...pool.rejected, ...(held?.rejected ?? [])] };
  }
  if (held) {
    const { calibration } = splitCalibration(pool.images, req.calibrationCount, req.seed);
    return { calibration, heldOut: held.images, heldOutSource: req.heldOutDir ?? '', rejected: [...pool.rejected, ...held.rejected] };
  }
  const { calibration, heldOut } = splitCalibration(pool.images, req.calibrationCount, req.seed);
  return { calibration, heldOut, heldOutSource: `${req.calibrationDir} (images not used for calibration)`, rejected: pool.rejected };
}

/**
 * The float model's fastest form in onnxruntime (rewriteForOnnxRuntime, as export-onnx writes
 * it). Static int8 writes PReLU and narrow grouped convolutions in its own int8 form, so it is
 * compared with the best float has to offer, not with onnxruntime's slow PRelu and grouped
 * kernels; dynamic int8 and float16 keep the model's float ops as they are and are compared with
 * it as given.
 */
function fastestFloat(model: FloatModel): Uint8Array {
  const graph = cloneGraph(model.graph);
  const { preluAsConvs, groupedAsDepthwise } = rewriteForOnnxRuntime(graph);
  return preluAsConvs + groupedAsDepthwise > 0 ? encodeOnnx(graph) : model.bytes;
}

async function compareSpeed(before: FloatModel, after: Uint8Array, afterGraph: Graph, settings: BenchSettings, label: string, fastestBefore: boolean): Promise<SpeedComparison> {
  const baseline = fastestBefore ? fastestFloat(before) : before.bytes;
  const b = await benchModel({ label: before.label, model: baseline, graph: before.graph, fileBytes: before.bytes.byteLength }, settings);
  const a = await benchModel({ label, model: after, graph: afterGraph, fileBytes: after.byteLength }, settings);
  const speedup = b.throughput.map((t) => ({ batch: t.batch, ratio: (a.throughput.find((x) => x.batch === t.batch)?.imagesPerSecond ?? NaN) / t.imagesPerSecond }));
  return { before: b, after: a, speedup };
}

export async function runQuantize(req: QuantizeRequest, onProgress?: (p: PipelineProgress) => void): Promise<QuantizeReport> {
  assertWritable(req.output);
  const engine = req.options.engine;
  const model = loadFloatModel(req.model, req.sets);
  const { spec, assumed } = resolveInputSpec(model.graph, req.model, req.input);
  const notes: string[] = [];
  if (assumed.some((k) => k === 'color' || k === 'mean' || k === 'std')) {
    notes.push(`input ${assumed.join(', ')} not in the model's metadata: assumed ${spec.color}, (x - ${spec.mean}) / ${spec.std}, ${spec.layout}, ${spec.size}x${spec.size}`);
  }
  onProgress?.({ stage: 'faces', done: 0, total: 1 });
  const sets = await loadImageSets(req, spec.size, engine);
  onProgress?.({ stage: 'faces', done: 1, total: 1 });
  if (sets.rejected.length > 0) {
    const listed = sets.rejected.slice(0, 5).map((r) => `${r.path} (${r.score.toFixed(2)})`).join(', ');
    notes.push(`left out ${sets.rejected.length} images that do not look like face crops: ${listed}${sets.rejected.length > 5 ? ', ...' : ''}`);
  }
  const { graph, details } = await quantizeGraph(model.graph, req.model, sets.calibration.map((f) => f.image), spec, req.options, (s) => onProgress?.(s));
  if (details.mode === 'dynamic' && details.quantizedNodes === 0) notes.push('the model has no MatMul/Gemm with constant weights: dynamic quantization left it unchanged (use --mode static for convolutions)');
  const bytes = encodeOnnx(graph);
  writeFileAtomic(req.output, bytes);
  const report: QuantizeReport = {
    model: req.model,
    output: req.output,
    mode: req.options.mode,
    settings: JSON.parse(graph.metadata[QUANTIZATION_METADATA_KEY]) as Record<string, unknown>,
    input: { spec, assumed },
    sizeBytes: { before: model.bytes.byteLength, after: bytes.byteLength, ratio: bytes.byteLength / model.bytes.byteLength },
    details,
    notes,
  };
  if (req.calibrationDir && req.options.mode === 'static') report.calibration = { dir: req.calibrationDir, images: sets.calibration.length, rejected: sets.rejected };
  if (sets.heldOut.length > 0) {
    onProgress?.({ stage: 'cosine', done: 0, total: 1 });
    const cos = await compareEmbeddings(model.bytes, bytes, sets.heldOut.map((f) => f.image), spec, engine, req.options.batchSize);
    report.cosine = { ...cos, source: sets.heldOutSource };
    onProgress?.({ stage: 'cosine', done: 1, total: 1 });
  } else {
    notes.push('no held-out face images: embedding cosine not measured (give --held-out DIR, or more images than --calibration-count)');
  }
  if (req.evalSet) {
    onProgress?.({ stage: 'verification', done: 0, total: 1 });
    const set = await loadVerificationSet(req.evalSet, spec.size, req.seed, engine);
    report.verification = await compareVerification(model.bytes, bytes, set, spec, engine, req.options.batchSize);
    onProgress?.({ stage: 'verification', done: 1, total: 1 });
  }
  if (req.bench) {
    onProgress?.({ stage: 'speed', done: 0, total: 1 });
    report.speed = await compareSpeed(model, bytes, graph, req.bench, `${model.label} (${req.options.mode})`, req.options.mode === 'static');
    onProgress?.({ stage: 'speed', done: 1, total: 1 });
  }
  return report;
}
