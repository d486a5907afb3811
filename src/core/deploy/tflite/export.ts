import { EngineOptions } from '../../engines/onnxruntime';
import { InputSpec, METADATA_KEYS } from '../../export/metadata';
import { Graph } from '../../graph/types';
import { RgbImage } from '../../image/image';
import { assertWritable, writeFileAtomic } from '../../util/atomic';
import { CalibrationOptions, calibrateRanges, channelMaxima } from '../quantize/calibrate';
import { equalizePairs, findEqualizationPairs } from '../quantize/equalize';
import { loadCheckedFaces, splitCalibration } from '../quantize/faceSets';
import { loadFloatModel } from '../quantize/floatModel';
import { QuantizeInputError } from '../quantize/inspect';
import { resolveInputSpec } from '../quantize/inputSpec';
import { Range } from '../quantize/params';
import { batchesOf, prepareFloatGraph } from '../quantize/quantize';
import { convertToTflite } from './convert';
import { ImageInputMetadata, METADATA_BUFFER_NAME, ModelMetadata, writeModelMetadata } from './modelMetadata';
import { TfliteVerification, verifyTfliteExport } from './verify';
import { ModelSpec, writeTfliteModel } from './writer';

/**
 * export-tflite, on a graph: the float model prepared for inference (BatchNorm folded, no-ops
 * removed), for int8 equalized and calibrated on face images (every activation tensor gets a
 * range), then converted to NHWC TFLite ops and serialised with a signature and metadata.
 */

export interface TfliteExportOptions {
  /** Full-integer int8 (else float32). */
  int8: boolean;
  /** Batch written into the file; the batch dimension stays resizable. */
  batch: number;
  /** Float only: PReLU as RELU/SUB/MUL/ADD, for runtimes without PRELU (Arm NN). */
  decomposePrelu: boolean;
  calibration: CalibrationOptions;
  equalize: boolean;
  engine: EngineOptions;
  batchSize: number;
}

/** Metadata name of the JSON block that tells a mobile developer how to feed and read the model. */
export const ARCFACE_METADATA_NAME = 'arcface_metadata';
export const SIGNATURE_KEY = 'serving_default';

export interface TfliteExportResult {
  bytes: Uint8Array;
  model: ModelSpec;
  /** The float graph the file was made from (equalized for int8): the verification reference. */
  reference: Graph;
  ranges?: Map<string, Range>;
  equalizedPairs?: number;
  /** Op counts of the written file. */
  ops: Record<string, number>;
  metadata: Record<string, string>;
}

/** Every float activation of `graph`: its inputs and each node's outputs. */
export function activationTensors(graph: Graph): string[] {
  return [...graph.inputs.filter((v) => v.dtype === 'float32').map((v) => v.name), ...graph.nodes.flatMap((n) => n.outputs.filter((t) => t !== ''))];
}

/** What the metadata block says: the model's own metadata plus the TFLite-side facts. */
function exportMetadata(graph: Graph, model: ModelSpec, spec: InputSpec, opts: TfliteExportOptions): Record<string, string> {
  const sg = model.subgraph;
  const input = sg.tensors[sg.inputs[0]];
  const output = sg.tensors[sg.outputs[0]];
  return {
    ...graph.metadata,
    input_layout: input.shape.length === 4 && input.shape[3] === 3 ? 'NHWC' : spec.layout,
    input_size: String(spec.size),
    color_order: spec.color,
    input_mean: String(spec.mean),
    input_std: String(spec.std),
    input_name: input.name,
    input_shape: JSON.stringify(input.shapeSignature ?? input.shape),
    output_name: output.name,
    output_shape: JSON.stringify(output.shapeSignature ?? output.shape),
    signature: SIGNATURE_KEY,
    tflite_precision: opts.int8 ? 'int8 (full integer, float32 input and output)' : 'float32',
  };
}

/** TFLite's standard Model Metadata: what Android Studio and the TFLite Support library show and use. */
function standardMetadata(model: ModelSpec, meta: Record<string, string>, spec: InputSpec): ModelMetadata {
  const sg = model.subgraph;
  const size = meta[METADATA_KEYS.embeddingSize] ?? String(sg.tensors[sg.outputs[0]].shape.at(-1));
  const normalized = meta[METADATA_KEYS.normalized] === 'true';
  const image: ImageInputMetadata = {
    kind: 'image',
    name: sg.tensors[sg.inputs[0]].name,
    description:
      `An aligned ${spec.size}x${spec.size} face, ${spec.color.toUpperCase()}, pixels fed as (x - ${spec.mean}) / ${spec.std}, NHWC. ` +
      'Align to the ArcFace 5-point template (alignment_template in arcface_metadata).',
    colorSpace: spec.color === 'rgb' ? 'RGB' : 'UNKNOWN',
    width: spec.size,
    height: spec.size,
    mean: [spec.mean],
    std: [spec.std],
    min: (0 - spec.mean) / spec.std,
    max: (255 - spec.mean) / spec.std,
  };
  return {
    name: meta[METADATA_KEYS.backbone] ?? 'face embedding',
    description: `Face embedding (${meta.tflite_precision}): compare two faces by the cosine of their embeddings.`,
    version: meta.quantization ? 'quantized' : '1',
    author: 'arcface toolkit',
    license: '',
    inputs: [image],
    outputs: [
      {
        kind: 'feature',
        name: sg.tensors[sg.outputs[0]].name,
        description: `${size}-d face embedding, ${normalized ? 'L2-normalised' : 'raw: L2-normalise before comparing'}.`,
      },
    ],
  };
}

export async function exportTflite(
  graph: Graph,
  source: string,
  spec: InputSpec,
  images: readonly RgbImage[],
  opts: TfliteExportOptions,
  onProgress?: (stage: string, done: number, total: number) => void,
): Promise<TfliteExportResult> {
  const prepared = prepareFloatGraph(graph, source);
  let ranges: Map<string, Range> | undefined;
  let equalizedPairs: number | undefined;
  if (opts.int8) {
    if (images.length === 0) throw new Error('an int8 export needs calibration images');
    const batches = batchesOf(images, spec, opts.batchSize);
    if (opts.equalize) {
      const pairs = findEqualizationPairs(prepared);
      onProgress?.('equalize', 0, 1);
      equalizedPairs = equalizePairs(prepared, pairs, await channelMaxima(prepared, [...new Set(pairs.flatMap((p) => p.tensors))], batches, opts.engine));
      onProgress?.('equalize', 1, 1);
    }
    ranges = await calibrateRanges(prepared, activationTensors(prepared), batches, opts.calibration, opts.engine, (p) =>
      onProgress?.('calibrate', (p.pass - 1) * p.total + p.done, p.passes * p.total),
    );
  }
  const convert = (metadata: ModelSpec['metadata']) =>
    convertToTflite(prepared, {
      batch: opts.batch,
      int8Ranges: ranges,
      description: `arcface export-tflite: ${graph.metadata.backbone ?? graph.name}, ${opts.int8 ? 'int8' : 'float32'}`,
      metadata,
      signatureKey: SIGNATURE_KEY,
      decomposePrelu: opts.decomposePrelu,
    });
  // The metadata describes tensors of the converted model, so convert once to learn them.
  const draft = convert([]);
  const metadata = exportMetadata(graph, draft, spec, opts);
  const model = convert([
    { name: METADATA_BUFFER_NAME, data: writeModelMetadata(standardMetadata(draft, metadata, spec)) },
    { name: ARCFACE_METADATA_NAME, data: new Uint8Array(Buffer.from(JSON.stringify(metadata), 'utf8')) },
  ]);
  const ops: Record<string, number> = {};
  for (const o of model.subgraph.operators) ops[o.op] = (ops[o.op] ?? 0) + 1;
  return { bytes: writeTfliteModel(model), model, reference: prepared, ranges, equalizedPairs, ops, metadata };
}

export interface ExportTfliteRequest {
  /** An .onnx file (any float model), a float .tflite, a pretrained name, a checkpoint, a config. */
  model: string;
  sets: readonly string[];
  output: string;
  options: TfliteExportOptions;
  input: Partial<InputSpec>;
  /** Aligned face crops for int8 calibration. */
  calibrationDir?: string;
  calibrationCount: number;
  seed: number;
  verify: boolean;
}

export interface ExportTfliteReport {
  path: string;
  fileBytes: number;
  precision: 'float32' | 'int8';
  ops: Record<string, number>;
  signature: string;
  input: { name: string; shape: number[] };
  output: { name: string; shape: number[] };
  metadata: Record<string, string>;
  calibrationImages?: number;
  equalizedPairs?: number;
  verification?: TfliteVerification;
  notes: string[];
}

/** The export-tflite command's work: load, (calibrate,) convert, write atomically, verify. */
export async function runExportTflite(req: ExportTfliteRequest, onProgress?: (stage: string, done: number, total: number) => void): Promise<ExportTfliteReport> {
  const opts = req.options;
  assertWritable(req.output);
  if (opts.int8 && !req.calibrationDir) throw new QuantizeInputError('an int8 export needs calibration images: give --calibration DIR (aligned face crops)');
  if (opts.int8 && opts.decomposePrelu) throw new QuantizeInputError('decomposing PReLU applies to float exports only (int8 keeps PRELU)');
  const model = loadFloatModel(req.model, req.sets);
  const { spec } = resolveInputSpec(model.graph, req.model, req.input);
  const notes: string[] = [];
  let images: RgbImage[] = [];
  if (opts.int8 && req.calibrationDir) {
    onProgress?.('faces', 0, 1);
    const faces = await loadCheckedFaces(req.calibrationDir, spec.size, opts.engine);
    if (faces.rejected.length > 0) notes.push(`left out ${faces.rejected.length} images that do not look like face crops`);
    images = splitCalibration(faces.images, req.calibrationCount, req.seed).calibration.map((f) => f.image);
    onProgress?.('faces', 1, 1);
  }
  const exported = await exportTflite(model.graph, req.model, spec, images, opts, onProgress);
  writeFileAtomic(req.output, exported.bytes);
  const sg = exported.model.subgraph;
  const describe = (i: number) => ({ name: sg.tensors[i].name, shape: sg.tensors[i].shapeSignature ?? sg.tensors[i].shape });
  const report: ExportTfliteReport = {
    path: req.output,
    fileBytes: exported.bytes.byteLength,
    precision: opts.int8 ? 'int8' : 'float32',
    ops: exported.ops,
    signature: SIGNATURE_KEY,
    input: describe(sg.inputs[0]),
    output: describe(sg.outputs[0]),
    metadata: exported.metadata,
    calibrationImages: opts.int8 ? images.length : undefined,
    equalizedPairs: exported.equalizedPairs,
    notes,
  };
  if (req.verify) {
    onProgress?.('verify', 0, 1);
    report.verification = await verifyTfliteExport(exported.bytes, exported.model, exported.reference, opts.int8, opts.engine, req.seed);
    onProgress?.('verify', 1, 1);
  }
  return report;
}
