import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import ExportTflite from '../src/commands/export-tflite';
import { loadConfig } from '../src/core/config';
import { DEFAULT_CALIBRATION } from '../src/core/deploy/quantize/calibrate';
import { rowCosines } from '../src/core/deploy/quantize/compare';
import { inputTensor, loadFaceImages } from '../src/core/deploy/quantize/faceImages';
import { convertToTflite, TfliteExportError } from '../src/core/deploy/tflite/convert';
import { ARCFACE_METADATA_NAME, ExportTfliteReport, SIGNATURE_KEY, TfliteExportOptions, exportTflite } from '../src/core/deploy/tflite/export';
import { TO_NCHW, permuteData } from '../src/core/deploy/tflite/layout';
import { MOBILEFACENET_INPUT, importPretrainedTflite } from '../src/core/deploy/tflite/pretrained';
import { readTfliteModel } from '../src/core/deploy/tflite/schema';
import { METADATA_BUFFER_NAME, readModelMetadata } from '../src/core/deploy/tflite/modelMetadata';
import { compareImported, roundTripProblems } from '../src/core/deploy/tflite/verify';
import { DEFAULT_ENGINE } from '../src/core/engines/onnxruntime';
import { deployableGraph } from '../src/core/export/exportOnnx';
import { InputSpec } from '../src/core/export/metadata';
import { encodeOnnx } from '../src/core/graph/onnx';
import { Graph, numel } from '../src/core/graph/types';
import { createRgbImage, RgbImage } from '../src/core/image/image';
import { buildFromConfig, describeModel } from '../src/core/model/load';
import { Rng } from '../src/core/util/rng';
import { ARCFACE_TEMPLATE_112 } from '../src/core/detect/template';
import { GraphBuilder } from '../src/core/graph/builder';
import { resolveOutputs } from '../src/core/graph/shapes';
import { add, batchNorm, conv2d, convBn, flatten, globalAvgPool, linear, maxPool, relu } from '../src/core/nn/layers';
import { TfliteReference, loadTfliteReference } from './helpers/tfliteReference';

/**
 * export-tflite against runtimes the project did not write: TFLite's own interpreter (wasm),
 * Arm NN (when Debian's python3-pyarmnn is installed), and the project's reader and importer
 * (round trip). Float outputs must match onnxruntime within 1e-4 relative; int8 outputs must
 * keep cosine >= 0.99 against the float model.
 */

const FACES = path.resolve(__dirname, '../../shared/data/faces');
const HAVE_FACES = fs.existsSync(FACES);
if (!HAVE_FACES) process.stdout.write(`skipping real-face TFLite tests: ${FACES} is absent\n`);
const faceTest = HAVE_FACES ? test : test.skip;
const ENGINE = { ...DEFAULT_ENGINE, threads: 2 };
const SPEC: InputSpec = { size: 112, color: 'rgb', mean: 127.5, std: 127.5, layout: 'NCHW' };
const FLOAT_TOLERANCE = 1e-4;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-tflite-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let reference: TfliteReference;
beforeAll(async () => {
  reference = await loadTfliteReference();
});

/** A backbone as export-onnx writes it, BatchNorm statistics made non-trivial. */
function backbone(name: string, sets: string[] = [], l2 = false): Graph {
  const config = loadConfig(name, sets);
  const graph = buildFromConfig(config);
  const rng = new Rng(7, 'bn');
  for (const [key, init] of graph.initializers) {
    const d = init.tensor.data as Float32Array;
    if (key.endsWith('running_mean')) d.forEach((_, i) => (d[i] = rng.range(-0.2, 0.2)));
    if (key.endsWith('running_var')) d.forEach((_, i) => (d[i] = rng.range(0.5, 2)));
  }
  return deployableGraph(graph, describeModel(config), l2).graph;
}

/** The ops of the seed's ResNet50, small: conv-BN-ReLU stem, 3x3/2 max pool, one bottleneck with a projection shortcut, pooling, FC. */
function resnetStyle(): Graph {
  const b = new GraphBuilder('resnet-style', 3);
  let x = b.input('input', ['N', 3, 112, 112]);
  x = relu(b, batchNorm(b, 'bn1', conv2d(b, 'conv1', x, { inC: 3, outC: 8, k: 7, stride: 2, pad: 3 }), 8));
  x = maxPool(b, x, 3, 2, 1);
  let y = relu(b, batchNorm(b, 'bn2', conv2d(b, 'conv2', x, { inC: 8, outC: 8, k: 3, stride: 2, pad: 1 }), 8));
  y = batchNorm(b, 'bn3', conv2d(b, 'conv3', y, { inC: 8, outC: 16, k: 1 }), 16);
  const shortcut = convBn(b, 'down', x, { inC: 8, outC: 16, k: 1, stride: 2 });
  x = flatten(b, globalAvgPool(b, relu(b, add(b, y, shortcut))));
  b.output(linear(b, 'fc', x, 16, 32), 'embedding');
  resolveOutputs(b.graph);
  return deployableGraph(b.graph, { backbone: 'resnet-style', embeddingSize: 32, input: SPEC, alignmentTemplate: ARCFACE_TEMPLATE_112 }, false).graph;
}

function options(overrides: Partial<TfliteExportOptions> = {}): TfliteExportOptions {
  return { int8: false, batch: 2, decomposePrelu: false, calibration: { ...DEFAULT_CALIBRATION }, equalize: true, engine: ENGINE, batchSize: 8, ...overrides };
}

function randomNhwc(dims: number[], seed: number): Float32Array {
  const rng = new Rng(seed, 'tflite-export-test');
  return Float32Array.from({ length: numel(dims) }, () => rng.range(-1, 1));
}

/** The source graph's output on NHWC pixels (transposed to NCHW when the graph takes NCHW). */
async function onnxOutput(graph: Graph, nhwc: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeOnnx(graph), { intraOpNumThreads: 2, logSeverityLevel: 3 });
  const input = graph.inputs[0].shape[1] === 3 ? permuteData(nhwc, dims, TO_NCHW) : { data: nhwc, dims };
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input.data, input.dims) });
  return out[s.outputNames[0]].data as Float32Array;
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

/** Row cosines after subtracting the mean row of `reference` from both sets. */
function centeredCosines(reference: Float32Array[], other: Float32Array[]): number[] {
  const size = reference[0].length;
  const centre = new Float32Array(size);
  for (const row of reference) row.forEach((v, k) => (centre[k] += v / reference.length));
  return reference.map((row, r) => rowCosines(row.map((v, k) => v - centre[k]), other[r].map((v, k) => v - centre[k]), size)[0]);
}

function ops(bytes: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const op of readTfliteModel(bytes).subgraphs[0].operators) counts[op.op] = (counts[op.op] ?? 0) + 1;
  return counts;
}

const measured: string[] = [];
afterAll(() => {
  if (measured.length > 0) process.stdout.write(`${measured.join('\n')}\n`);
});

describe('float32 export', () => {
  test.each([
    ['tiny', [] as string[], false],
    ['mobilefacenet', ['model.embedding_size=128'], true],
  ])('%s: TFLite interpreter, our importer and onnxruntime agree within 1e-4', async (name, sets, l2) => {
    const graph = backbone(name, sets, l2);
    const result = await exportTflite(graph, name, SPEC, [], options());
    const dims = [2, 112, 112, 3];
    const x = randomNhwc(dims, 1);
    const [tfl] = reference.run(result.bytes, [x]);
    const want = await onnxOutput(result.reference, x, dims);
    expect(tfl.shape).toEqual([2, Number(graph.outputs[0].shape[1])]);
    const err = relativeError(tfl.data, want);
    measured.push(`${name} float32 TFLite vs onnxruntime: max relative error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(FLOAT_TOLERANCE);
    const imported = await compareImported(result.bytes, result.reference, ENGINE, 2, 3);
    expect(imported.maxRelativeError).toBeLessThan(FLOAT_TOLERANCE);
    expect(roundTripProblems(result.bytes, result.model)).toEqual([]);
    const used = ops(result.bytes);
    expect(used.CONV_2D).toBeGreaterThan(0);
    expect(used.DEPTHWISE_CONV_2D).toBeGreaterThan(0);
    expect(used.PRELU).toBeGreaterThan(0);
    expect(used.TRANSPOSE ?? 0).toBe(0);
    if (l2) expect(used.L2_NORMALIZATION).toBe(1);
  });

  test('ResNet blocks (ReLU fused into convs, padded max pool, residual adds) match', async () => {
    const graph = resnetStyle();
    const result = await exportTflite(graph, 'resnet-style', SPEC, [], options({ batch: 1 }));
    const used = ops(result.bytes);
    expect(used.RELU ?? 0).toBe(0);
    expect(used.MAX_POOL_2D).toBe(1);
    expect(used.PADV2 ?? 0).toBe(0);
    expect(used.ADD).toBe(1);
    const dims = [1, 112, 112, 3];
    const x = randomNhwc(dims, 2);
    const err = relativeError(reference.run(result.bytes, [x])[0].data, await onnxOutput(result.reference, x, dims));
    measured.push(`resnet-style float32 TFLite vs onnxruntime: max relative error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(FLOAT_TOLERANCE);
  });

  test('an NHWC model (the pretrained MobileFaceNet) is written without a single TRANSPOSE', async () => {
    const graph = importPretrainedTflite('MobileFaceNet');
    const result = await exportTflite(graph, 'pretrained', MOBILEFACENET_INPUT, [], options({ batch: 1 }));
    expect(ops(result.bytes).TRANSPOSE ?? 0).toBe(0);
    const dims = [1, 112, 112, 3];
    const x = randomNhwc(dims, 4);
    expect(relativeError(reference.run(result.bytes, [x])[0].data, await onnxOutput(graph, x, dims))).toBeLessThan(FLOAT_TOLERANCE);
  });

  test('signature and metadata tell a mobile developer how to feed the model', async () => {
    const result = await exportTflite(backbone('tiny'), 'tiny', SPEC, [], options({ batch: 1 }));
    const model = readTfliteModel(result.bytes);
    const sg = model.subgraphs[0];
    expect(model.signatures).toEqual([
      { key: SIGNATURE_KEY, subgraphIndex: 0, inputs: [{ name: 'input', tensorIndex: sg.inputs[0] }], outputs: [{ name: 'embedding', tensorIndex: sg.outputs[0] }] },
    ]);
    const input = sg.tensors[sg.inputs[0]];
    expect(input.shape).toEqual([1, 112, 112, 3]);
    expect(input.shapeSignature).toEqual([-1, 112, 112, 3]);
    const entry = model.metadata.find((m) => m.name === ARCFACE_METADATA_NAME);
    const meta = JSON.parse(Buffer.from(model.buffers[entry!.buffer]).toString('utf8'));
    expect(meta).toMatchObject({ input_layout: 'NHWC', input_size: '112', color_order: 'rgb', input_mean: '127.5', input_std: '127.5', embedding_size: '128', tflite_precision: 'float32' });
    expect(JSON.parse(meta.alignment_template)).toHaveLength(5);
    // TFLite's standard Model Metadata (what Android Studio and the Support library read).
    const standard = model.metadata.find((m) => m.name === METADATA_BUFFER_NAME);
    const md = readModelMetadata(model.buffers[standard!.buffer]);
    expect(md.inputs).toEqual([expect.objectContaining({ kind: 'image', name: 'input', colorSpace: 'RGB', width: 112, height: 112, mean: [127.5], std: [127.5], min: -1, max: 1 })]);
    expect(md.outputs).toEqual([expect.objectContaining({ kind: 'feature', name: 'embedding' })]);
    expect(md.outputs[0].description).toMatch(/^128-d face embedding, raw: L2-normalise before comparing/);
    expect(reference.inputs(result.bytes)).toEqual([{ name: 'input', shape: [1, 112, 112, 3], dataType: 'float32' }]);
  });
});

describe('int8 export', () => {
  /** Images that differ in brightness, contrast and colour, so a random-weight model's embeddings differ too. */
  function variedImages(count: number, seed: number): RgbImage[] {
    const rng = new Rng(seed, 'pixels');
    return Array.from({ length: count }, () => {
      const img = createRgbImage(112, 112);
      const look = [0, 1, 2].map(() => ({ contrast: rng.range(0.05, 1), offset: rng.range(-0.9, 0.9) }));
      img.data.forEach((_, i) => {
        const { contrast, offset } = look[i % 3];
        img.data[i] = Math.round(127.5 + 127.5 * (offset * (1 - contrast) + contrast * rng.range(-1, 1)));
      });
      return img;
    });
  }

  test('tiny: int8 weights and activations behind float32 I/O, close to float in the TFLite interpreter', async () => {
    const graph = backbone('tiny');
    const result = await exportTflite(graph, 'tiny', SPEC, variedImages(16, 3), options({ int8: true, batch: 1 }));
    const model = readTfliteModel(result.bytes);
    const sg = model.subgraphs[0];
    expect(sg.tensors[sg.inputs[0]].type).toBe('float32');
    expect(sg.tensors[sg.outputs[0]].type).toBe('float32');
    expect(ops(result.bytes)).toMatchObject({ QUANTIZE: 1, DEQUANTIZE: 1 });
    for (const op of sg.operators.filter((o) => o.op === 'CONV_2D' || o.op === 'DEPTHWISE_CONV_2D')) {
      const [x, w, b] = op.inputs.map((i) => sg.tensors[i]);
      expect([x.type, w.type, b.type]).toEqual(['int8', 'int8', 'int32']);
      expect(w.quantization?.scale.length).toBe(w.shape[op.op === 'CONV_2D' ? 0 : 3]);
    }
    expect(roundTripProblems(result.bytes, result.model)).toEqual([]);
    const dims = [1, 112, 112, 3];
    const images = variedImages(8, 9);
    const got: Float32Array[] = [];
    const want: Float32Array[] = [];
    for (const img of images) {
      const x = inputTensor([img], { ...SPEC, layout: 'NHWC' });
      got.push(reference.run(result.bytes, [x])[0].data);
      want.push(await onnxOutput(graph, x, dims));
    }
    // Centred: a random-weight model's embeddings share a large common part (see quantize.test.ts).
    const cos = centeredCosines(want, got);
    measured.push(`tiny int8 TFLite vs float onnxruntime: centred cosine mean ${(cos.reduce((a, b) => a + b) / cos.length).toFixed(4)}, min ${Math.min(...cos).toFixed(4)}`);
    expect(Math.min(...cos)).toBeGreaterThan(0.95);
  });

  faceTest('pretrained MobileFaceNet: int8 keeps cosine >= 0.99 on held-out real faces in the TFLite interpreter', async () => {
    const calibration = (await loadFaceImages(path.join(FACES, 'dlib_johns'), 112)).filter((_, i) => i % 2 === 0).slice(0, 20);
    const people = await Promise.all(['s2', 's9', 's16', 's23', 's30', 's36'].map((s) => loadFaceImages(path.join(FACES, 'orl', s), 112)));
    const heldOut = people.flatMap((images) => images.filter((_, i) => i % 5 === 0));
    const graph = importPretrainedTflite('MobileFaceNet');
    // The file's batch is the held-out set, so the interpreter runs them all at once.
    const result = await exportTflite(graph, 'pretrained', MOBILEFACENET_INPUT, calibration.map((f) => f.image), options({ int8: true, batch: heldOut.length }));
    const x = inputTensor(heldOut.map((f) => f.image), MOBILEFACENET_INPUT);
    const [tfl] = reference.run(result.bytes, [x]);
    const float = await ort.InferenceSession.create(encodeOnnx(graph), { intraOpNumThreads: 2, logSeverityLevel: 3 });
    const want = (await float.run({ input: new ort.Tensor('float32', x, [heldOut.length, 112, 112, 3]) })).embeddings.data as Float32Array;
    const cos = rowCosines(tfl.data, want, want.length / heldOut.length);
    const mean = cos.reduce((a, b) => a + b) / cos.length;
    measured.push(`pretrained MobileFaceNet int8 TFLite on ${cos.length} held-out ORL faces: cosine mean ${mean.toFixed(4)}, min ${Math.min(...cos).toFixed(4)}; ${result.bytes.length} bytes`);
    expect(mean).toBeGreaterThanOrEqual(0.99);
    expect(Math.min(...cos)).toBeGreaterThan(0.97);
  });
});

describe('Arm NN (Debian python3-pyarmnn)', () => {
  const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import pyarmnn'], { stdio: 'ignore' }).status === 0);
  if (!python) process.stdout.write('skipping Arm NN checks: pyarmnn is not importable (apt-get install -y python3-pyarmnn libarmnn-cpuref-backend22 libarmnntfliteparser22)\n');
  const armnnTest = python ? test : test.skip;

  armnnTest.each(['tiny', 'resnet-style'])('%s (PReLU decomposed) runs in Arm NN and matches onnxruntime', async (name) => {
    const graph = name === 'tiny' ? backbone(name) : resnetStyle();
    const result = await exportTflite(graph, name, SPEC, [], options({ batch: 1, decomposePrelu: true }));
    expect(ops(result.bytes).PRELU ?? 0).toBe(0);
    const dims = [1, 112, 112, 3];
    const x = randomNhwc(dims, 5);
    const files = ['model.tflite', 'in.f32', 'out.f32'].map((f) => path.join(tmp, `${name}-${f}`));
    fs.writeFileSync(files[0], result.bytes);
    fs.writeFileSync(files[1], Buffer.from(x.buffer));
    const run = spawnSync(python as string, [path.join(__dirname, 'helpers', 'armnn_run.py'), ...files], { encoding: 'utf8' });
    expect(run.stdout).toContain('"shape"');
    const got = new Float32Array(new Uint8Array(fs.readFileSync(files[2])).buffer);
    const err = relativeError(got, await onnxOutput(result.reference, x, dims));
    measured.push(`${name} float32 Arm NN CpuRef vs onnxruntime: max relative error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(FLOAT_TOLERANCE);
  });
});

describe('command and bad input', () => {
  test('export-tflite writes, reads back and verifies a float file', async () => {
    const out = path.join(tmp, 'tiny.tflite');
    const report = (await ExportTflite.run(['tiny', '-o', out, '--threads', '2', '--json'])) as ExportTfliteReport;
    expect(fs.statSync(out).size).toBe(report.fileBytes);
    expect(report.verification?.roundTripProblems).toEqual([]);
    expect(report.verification?.numeric?.maxRelativeError).toBeLessThan(FLOAT_TOLERANCE);
    expect(report.input).toEqual({ name: 'input', shape: [-1, 112, 112, 3] });
  });

  test('an op without a TFLite equivalent is named, with the supported list', () => {
    const graph = backbone('tiny');
    const prelu = graph.nodes.find((n) => n.opType === 'PRelu') as Graph['nodes'][number];
    prelu.opType = 'Softplus';
    prelu.inputs = prelu.inputs.slice(0, 1);
    expect(() => convertToTflite(graph, { batch: 1, description: '', metadata: [], signatureKey: 'x' })).toThrow(TfliteExportError);
    expect(() => convertToTflite(graph, { batch: 1, description: '', metadata: [], signatureKey: 'x' })).toThrow(/^no TFLite equivalent for op Softplus \(supported: Add, /);
  });

  test('--int8 without calibration images exits 2', async () => {
    await expect(
      ExportTflite.run(['tiny', '-o', path.join(tmp, 'x.tflite'), '--int8', '--json']).catch((e: { oclif?: { exit: number } }) => {
        throw new Error(`exit ${e.oclif?.exit}`);
      }),
    ).rejects.toThrow('exit 2');
  });
});
