import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import Quantize from '../src/commands/quantize';
import { loadConfig } from '../src/core/config';
import { CalibrationBatch, DEFAULT_CALIBRATION, channelMaxima, entropyThreshold, emptyHistogram, percentileRange, updateHistogram } from '../src/core/deploy/quantize/calibrate';
import { rowCosines } from '../src/core/deploy/quantize/compare';
import { DEFAULT_DYNAMIC, quantizeDynamic } from '../src/core/deploy/quantize/dynamic';
import { equalizePairs, findEqualizationPairs } from '../src/core/deploy/quantize/equalize';
import { inputTensor, loadFaceImages } from '../src/core/deploy/quantize/faceImages';
import { loadCheckedFaces } from '../src/core/deploy/quantize/faceSets';
import { convertToFloat16, float16Bits, float16Value } from '../src/core/deploy/quantize/float16';
import { QuantizeInputError, assertFloatModel } from '../src/core/deploy/quantize/inspect';
import { activationParams, dequantizeValue, quantizePerChannel, quantizeValue, roundHalfEven } from '../src/core/deploy/quantize/params';
import { QuantizeReport, runQuantize } from '../src/core/deploy/quantize/pipeline';
import { DEFAULT_STATIC, StaticQuantOptions, planQdq } from '../src/core/deploy/quantize/qdq';
import { preluAsDepthwiseConvs } from '../src/core/export/preluAsConvs';
import { QUANTIZATION_METADATA_KEY, QuantizeOptions, prepareFloatGraph, quantizeGraph } from '../src/core/deploy/quantize/quantize';
import { MOBILEFACENET_INPUT, importPretrainedTflite } from '../src/core/deploy/tflite/pretrained';
import { DEFAULT_ENGINE } from '../src/core/engines/onnxruntime';
import { InputError } from '../src/core/errors';
import { InputSpec } from '../src/core/export/metadata';
import { decodeOnnx, encodeOnnx } from '../src/core/graph/onnx';
import { Graph, numel } from '../src/core/graph/types';
import { createRgbImage, encodeImage } from '../src/core/image/image';
import { buildFromConfig, describeModel } from '../src/core/model/load';
import { deployableGraph } from '../src/core/export/exportOnnx';
import { Rng } from '../src/core/util/rng';

/**
 * quantize: the arithmetic, the three calibrators, equalization, static QDQ (and that
 * onnxruntime really fuses it into int8 kernels), dynamic and float16, bad input, and the
 * pretrained MobileFaceNet on real faces. Models are small (tiny, random init) except the last.
 */

const FACES = path.resolve(__dirname, '../../shared/data/faces');
const HAVE_FACES = fs.existsSync(FACES);
if (!HAVE_FACES) process.stdout.write(`skipping real-face quantization tests: ${FACES} is absent\n`);
const faceTest = HAVE_FACES ? test : test.skip;
const ENGINE = { ...DEFAULT_ENGINE, threads: 2 };
const SPEC: InputSpec = { size: 112, color: 'rgb', mean: 127.5, std: 127.5, layout: 'NCHW' };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-quantize-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Our tiny backbone as export-onnx writes it, with non-trivial BatchNorm statistics. */
function tinyModel(): Graph {
  const config = loadConfig('tiny');
  const backbone = buildFromConfig(config);
  const rng = new Rng(5, 'bn');
  for (const [name, init] of backbone.initializers) {
    const d = init.tensor.data as Float32Array;
    if (name.endsWith('running_mean')) d.forEach((_, i) => (d[i] = rng.range(-0.2, 0.2)));
    if (name.endsWith('running_var')) d.forEach((_, i) => (d[i] = rng.range(0.5, 2)));
  }
  return deployableGraph(backbone, describeModel(config), false).graph;
}

/**
 * Inputs whose images differ in brightness, contrast and colour as well as in detail, so that a
 * random-weight model's embeddings differ between images as much as in content.
 */
function randomBatch(n: number, seed: number): CalibrationBatch {
  const rng = new Rng(seed, 'quantize-test');
  const dims = [n, 3, 112, 112];
  const plane = 112 * 112;
  const data = new Float32Array(numel(dims));
  for (let i = 0; i < n * 3; i++) {
    const contrast = rng.range(0.05, 1);
    const offset = rng.range(-0.9, 0.9) * (1 - contrast);
    for (let k = 0; k < plane; k++) data[i * plane + k] = offset + contrast * rng.range(-1, 1);
  }
  return { data, dims };
}

async function runModel(model: Uint8Array, b: CalibrationBatch, opts: ort.InferenceSession.SessionOptions = {}): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, logSeverityLevel: 3, ...opts });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', b.data, b.dims) });
  return out[s.outputNames[0]].data as Float32Array;
}

function meanCosine(a: Float32Array, b: Float32Array, rows: number): { mean: number; min: number } {
  const cos = rowCosines(a, b, a.length / rows);
  return { mean: cos.reduce((s, v) => s + v, 0) / cos.length, min: Math.min(...cos) };
}

/**
 * Cosine of what depends on the image: a random-weight model's embeddings share a large common
 * part, which would make any plain cosine look perfect, so the float outputs' mean row is
 * subtracted from both before comparing.
 */
function centeredCosine(a: Float32Array, b: Float32Array, rows: number): { mean: number; min: number } {
  const size = a.length / rows;
  const centre = new Float32Array(size);
  for (let r = 0; r < rows; r++) for (let k = 0; k < size; k++) centre[k] += a[r * size + k] / rows;
  const minus = (x: Float32Array) => x.map((v, i) => v - centre[i % size]);
  return meanCosine(minus(a), minus(b), rows);
}

function options(overrides: Partial<QuantizeOptions> = {}, statics: Partial<StaticQuantOptions> = {}): QuantizeOptions {
  return {
    mode: 'static',
    static: { ...DEFAULT_STATIC, ...statics },
    calibration: { ...DEFAULT_CALIBRATION },
    dynamic: DEFAULT_DYNAMIC,
    equalize: true,
    engine: ENGINE,
    batchSize: 8,
    ...overrides,
  };
}

/** Calibration images drawn like randomBatch's inputs (pixels 0..255). */
function randomImages(count: number, seed: number) {
  const batch = randomBatch(count, seed);
  const plane = 112 * 112;
  return Array.from({ length: count }, (_, n) => {
    const img = createRgbImage(112, 112);
    for (let k = 0; k < plane; k++) for (let c = 0; c < 3; c++) img.data[k * 3 + c] = Math.round(batch.data[(n * 3 + c) * plane + k] * 127.5 + 127.5);
    return img;
  });
}

function countOps(g: Graph): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of g.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  return counts;
}

describe('quantization arithmetic', () => {
  test('asymmetric uint8 represents 0 exactly; symmetric int8 is centred at 0', () => {
    const p = activationParams({ min: -1, max: 3 }, { type: 'uint8', symmetric: false });
    expect(p.scale).toBeCloseTo(4 / 255, 7);
    expect(dequantizeValue(quantizeValue(0, p), p)).toBe(0);
    expect(quantizeValue(3, p)).toBe(255);
    expect(quantizeValue(-1, p)).toBe(0);
    const s = activationParams({ min: -1, max: 3 }, { type: 'int8', symmetric: true });
    expect(s.zeroPoint).toBe(0);
    expect(quantizeValue(3, s)).toBe(127);
    expect(quantizeValue(-3, s)).toBe(-127);
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1.2, -1.7].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, -2, 1, -2]);
    // A ReLU output ([0, max]) gets the type's minimum as zero point: Q clamps negatives like ReLU.
    expect(activationParams({ min: 0, max: 6 }, { type: 'int8', symmetric: false }).zeroPoint).toBe(-128);
  });

  test('per-channel weights: each channel spans +-127 (63 with reduce range)', () => {
    const w = Float32Array.of(0.5, -0.25, 2, 1, -4, 0); // [3 channels, 2]
    const q = quantizePerChannel(w, [3, 2], 0);
    expect(Array.from(q.data)).toEqual([127, -64, 127, 64, -127, 0]);
    expect(Array.from(q.scales)).toEqual([0.5 / 127, 2 / 127, 4 / 127].map(Math.fround));
    expect(Math.max(...Array.from(quantizePerChannel(w, [3, 2], 0, 63).data))).toBe(63);
  });

  test('float16 bits round to nearest even and cover subnormals and overflow', () => {
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(65504)).toBe(0x7bff);
    expect(float16Bits(1e6)).toBe(0x7c00);
    expect(float16Value(float16Bits(2 ** -24))).toBe(2 ** -24);
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to even
    const rng = new Rng(1, 'f16');
    for (let i = 0; i < 1000; i++) {
      const v = rng.range(-100, 100);
      expect(Math.abs(float16Value(float16Bits(v)) - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 1e-7);
    }
  });
});

describe('calibration ranges', () => {
  /** Gaussian values with a few far outliers, as activations often look. */
  function gaussianWithOutliers(): Float32Array {
    const rng = new Rng(2, 'calib');
    const v = Float32Array.from({ length: 200000 }, () => rng.normal());
    for (let i = 0; i < 10; i++) v[i * 1000] = 40 + i;
    return v;
  }

  test('percentile and entropy clip outliers that min-max keeps', () => {
    const v = gaussianWithOutliers();
    const h = emptyHistogram({ min: v.reduce((a, b) => Math.min(a, b)), max: v.reduce((a, b) => Math.max(a, b)) }, 2048);
    updateHistogram(h, v);
    expect(h.max).toBeGreaterThan(45);
    const p = percentileRange(h, 99.99, false);
    expect(p.max).toBeGreaterThan(3);
    expect(p.max).toBeLessThan(6);
    expect(p.min).toBeLessThan(-3);
    const sym = percentileRange(h, 99.99, true);
    expect(sym.max).toBeCloseTo(-sym.min, 5);
    const t = entropyThreshold(h.magnitude, Math.max(-h.min, h.max));
    expect(t).toBeGreaterThan(2);
    expect(t).toBeLessThan(20);
  });
});

describe('static int8 (QDQ)', () => {
  const calibration = randomImages(16, 3);
  const heldOut = randomBatch(8, 9);

  test('keeps names and metadata, quantizes every conv, and onnxruntime fuses them into int8 kernels', async () => {
    const model = tinyModel();
    const { graph, details } = await quantizeGraph(model, 'tiny', calibration, SPEC, options());
    expect(graph.inputs.map((i) => i.name)).toEqual(model.inputs.map((i) => i.name));
    expect(graph.outputs.map((o) => o.name)).toEqual(model.outputs.map((o) => o.name));
    for (const [k, v] of Object.entries(model.metadata)) expect(graph.metadata[k]).toBe(v);
    expect(JSON.parse(graph.metadata[QUANTIZATION_METADATA_KEY]).mode).toBe('static int8 (QDQ)');
    // PReLU is written as depthwise convolutions around a Relu so that it runs in int8; nothing is left in float.
    expect(details.preluRewritten).toBe(4);
    expect(details.leftInFloat).toEqual([]);
    // Every conv reads dequantized int8 weights, with one scale per output channel.
    const producers = new Map(graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
    for (const conv of graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm')) {
      const wdq = producers.get(conv.inputs[1]);
      expect(wdq?.opType).toBe('DequantizeLinear');
      const weight = graph.initializers.get(wdq!.inputs[0])?.tensor;
      expect(weight?.dtype).toBe('int8');
      expect(producers.get(conv.inputs[0])?.opType).toBe('DequantizeLinear');
      // Uniform weights need one scale, not one per channel: an untrained PReLU's conv (every weight 0.25 - 1).
      const scaleDims = graph.initializers.get(wdq!.inputs[1])?.tensor.dims;
      expect(scaleDims).toEqual(conv.name.endsWith('/slope_minus_one') ? [] : [weight!.dims[0]]);
    }
    // onnxruntime's optimiser must turn every DQ -> Conv -> Q into QLinearConv.
    const optimized = path.join(tmp, 'tiny.int8.optimized.onnx');
    const bytes = encodeOnnx(graph);
    await runModel(bytes, heldOut, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
    const ops = countOps(decodeOnnx(fs.readFileSync(optimized)));
    // ... each PReLU's depthwise convolution included, with no float op left between the convolutions.
    expect(ops.QLinearConv).toBe(countOps(model).Conv + 4);
    expect(ops.Conv ?? 0).toBe(0);
    expect([ops.PRelu, ops.Relu, ops.Add].every((n) => n === undefined)).toBe(true);
    const cos = centeredCosine(await runModel(encodeOnnx(model), heldOut), await runModel(bytes, heldOut), 8);
    process.stdout.write(`tiny static int8 (defaults): centred cosine mean ${cos.mean.toFixed(4)}, min ${cos.min.toFixed(4)}\n`);
    // Centred, on a random-weight model: a much harsher measure than the real-face cosine below.
    expect(cos.mean).toBeGreaterThan(0.98);
  });

  test.each([
    ['minmax', false, 'int8'],
    ['percentile', true, 'int8'],
    ['entropy', false, 'uint8'],
  ] as const)('calibration %s, symmetric %s, %s activations: runs and stays close to float', async (method, symmetric, type) => {
    const model = tinyModel();
    const opts = options({ equalize: false, calibration: { ...DEFAULT_CALIBRATION, method, symmetric, bins: 512 } }, { activations: { type, symmetric } });
    const { graph } = await quantizeGraph(model, 'tiny', calibration.slice(0, 8), SPEC, opts);
    const cos = centeredCosine(await runModel(encodeOnnx(model), heldOut), await runModel(encodeOnnx(graph), heldOut), 8);
    process.stdout.write(`tiny static int8 ${method} ${symmetric ? 'symmetric' : 'asymmetric'} ${type}: centred cosine mean ${cos.mean.toFixed(4)}\n`);
    expect(cos.mean).toBeGreaterThan(0.95);
  });

  test('equalization changes no output and evens out the channel ranges it rescales', async () => {
    const prepared = prepareFloatGraph(tinyModel(), 'tiny');
    const before = encodeOnnx(prepared);
    const pairs = findEqualizationPairs(prepared);
    expect(pairs.length).toBeGreaterThan(0);
    const batches = [randomBatch(8, 4)];
    const tensors = [...new Set(pairs.flatMap((p) => p.tensors))];
    const spread = (m: Map<string, Float32Array>, t: string) => {
      const v = Array.from(m.get(t) ?? []).filter((x) => x > 0);
      return Math.max(...v) / Math.min(...v);
    };
    const maxima = await channelMaxima(prepared, tensors, batches, ENGINE);
    expect(equalizePairs(prepared, pairs, maxima)).toBe(pairs.length);
    const after = await channelMaxima(prepared, tensors, batches, ENGINE);
    // Before a depthwise conv (whose weights are per channel anyway) every channel gets the same range.
    const depthwise = pairs.filter((p) => prepared.initializers.get(p.consumer.inputs[1])?.tensor.dims[1] === 1);
    expect(depthwise.length).toBeGreaterThan(0);
    // Each channel's range is the larger of its range before and after the activation.
    const combined = (m: Map<string, Float32Array>, p: (typeof pairs)[number]) => {
      const name = p.tensors.join('+');
      const values = (m.get(p.tensors[0]) as Float32Array).map((_, c) => Math.max(...p.tensors.map((t) => (m.get(t) as Float32Array)[c])));
      return spread(new Map([[name, values]]), name);
    };
    for (const p of depthwise) {
      expect(combined(maxima, p)).toBeGreaterThan(1.5);
      expect(combined(after, p)).toBeLessThan(1.001);
    }
    const a = await runModel(before, heldOut);
    const b = await runModel(encodeOnnx(prepared), heldOut);
    const scale = Math.max(...Array.from(a, Math.abs));
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-4 * scale);
  });

  test('graph outputs stay float unless asked; asked, the output name moves to the DequantizeLinear', async () => {
    const prepared = prepareFloatGraph(tinyModel(), 'tiny');
    expect(planQdq(prepared, DEFAULT_STATIC).rangeOf.has('embedding')).toBe(false);
    const { graph } = await quantizeGraph(tinyModel(), 'tiny', calibration, SPEC, options({}, { quantizeOutputs: true }));
    expect(graph.nodes.find((n) => n.outputs.includes('embedding'))?.opType).toBe('DequantizeLinear');
    await runModel(encodeOnnx(graph), heldOut);
  });

  test('a grouped conv with few channels per group that is not rewritten stays float, and so does the PReLU after it', () => {
    // MobileFaceNet's stem_dw (64 groups of 2 channels) planned as it is: onnxruntime's QLinearConv runs it ~6x slower than float.
    const prepared = prepareFloatGraph(buildFromConfig(loadConfig('mobilefacenet')), 'mobilefacenet');
    preluAsDepthwiseConvs(prepared);
    const plan = planQdq(prepared, DEFAULT_STATIC);
    const grouped = prepared.nodes.find((n) => n.name.includes('stem_dw') && n.opType === 'Conv') as Graph['nodes'][number];
    expect([...plan.quantized]).not.toContain(grouped);
    expect(plan.rangeOf.has(grouped.outputs[0])).toBe(false);
    // Its PReLU's first depthwise conv reads it directly (a QuantizeLinear there would fuse it into QLinearConv), then the Relu and the Add.
    expect(plan.leftInFloat.map((f) => [f.opType, f.count, f.reason.split(':')[0]])).toEqual([
      ['Conv', 1, 'grouped convolution with few channels per group'],
      ['Conv', 1, 'reads a grouped convolution kept in float'],
      ['Relu', 1, 'reads a tensor kept in float'],
      ['Add', 1, 'reads a tensor kept in float'],
    ]);
    expect(plan.quantized.size).toBeGreaterThan(100);
  });

  test('MobileFaceNet: its grouped conv is written as depthwise convs, so every conv runs as an int8 kernel', async () => {
    const model = deployableGraph(buildFromConfig(loadConfig('mobilefacenet')), describeModel(loadConfig('mobilefacenet')), false).graph;
    const { graph, details } = await quantizeGraph(model, 'mobilefacenet', calibration.slice(0, 4), SPEC, options({ batchSize: 4 }));
    expect(details.groupedRewritten).toBe(1);
    expect(details.leftInFloat).toEqual([]);
    const optimized = path.join(tmp, 'mobilefacenet.int8.optimized.onnx');
    await runModel(encodeOnnx(graph), randomBatch(2, 10), { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
    const ops = countOps(decodeOnnx(fs.readFileSync(optimized)));
    expect(ops.QLinearConv).toBe(countOps(graph).Conv);
    // Only the final Linear (its output is the embedding, kept float) may run as a float op.
    expect(ops.Conv ?? 0).toBe(0);
    expect([ops.PRelu, ops.Relu, ops.Add].every((n) => n === undefined)).toBe(true);
  });

  test('an op the quantizer does not handle is left in float and listed', async () => {
    const model = tinyModel();
    // Put an Exp after the first conv block: no int8 kernel, so it runs in float between DQ and Q.
    const first = model.nodes.find((n) => n.opType === 'PRelu') as Graph['nodes'][number];
    const original = first.outputs[0];
    first.outputs[0] = `${original}.pre_exp`;
    model.nodes.splice(model.nodes.indexOf(first) + 1, 0, { name: 'exp', opType: 'Exp', domain: '', inputs: [first.outputs[0]], outputs: [original], attrs: {} });
    const { details, graph } = await quantizeGraph(model, 'tiny', calibration, SPEC, options());
    expect(details.leftInFloat.map((f) => f.opType)).toEqual(['Exp']);
    expect(details.leftInFloat.find((f) => f.opType === 'Exp')?.reason).toMatch(/no int8 kernel/);
    await runModel(encodeOnnx(graph), heldOut);
  });
});

describe('dynamic int8 and float16', () => {
  const x = randomBatch(4, 12);

  test.each(['integer', 'qdq'] as const)('dynamic (%s form) quantizes the Gemm weights and matches float', async (form) => {
    const prepared = prepareFloatGraph(tinyModel(), 'tiny');
    const { graph, quantizedNodes } = quantizeDynamic(prepared, { form, reduceRange: false });
    expect(quantizedNodes).toBe(1);
    const ops = countOps(graph);
    expect(ops.DynamicQuantizeLinear).toBe(1);
    expect(form === 'integer' ? ops.MatMulInteger : ops.DequantizeLinear).toBeGreaterThan(0);
    expect(ops.Gemm ?? 0).toBe(0);
    const cos = centeredCosine(await runModel(encodeOnnx(prepared), x), await runModel(encodeOnnx(graph), x), 4);
    expect(cos.min).toBeGreaterThan(0.99);
  });

  test('float16 halves the weights and keeps a float32 interface with the same names', async () => {
    const model = tinyModel();
    const { graph } = await quantizeGraph(model, 'tiny', [], SPEC, options({ mode: 'float16' }));
    const weights = [...graph.initializers.values()].filter((i) => i.tensor.dims.length > 0 && i.tensor.dtype !== 'int64');
    expect(weights.every((i) => i.tensor.dtype === 'float16')).toBe(true);
    expect(graph.inputs).toEqual(model.inputs);
    expect(graph.outputs.map((o) => [o.name, o.dtype])).toEqual([['embedding', 'float32']]);
    const a = await runModel(encodeOnnx(model), x);
    const b = await runModel(encodeOnnx(graph), x);
    const scale = Math.max(...Array.from(a, Math.abs));
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-2 * scale);
    expect(convertToFloat16(prepareFloatGraph(model, 'tiny')).clampedValues).toBe(0);
  });
});

describe('bad input', () => {
  test('an already quantized model, and a float16 one, are refused with the reason', async () => {
    const { graph } = await quantizeGraph(tinyModel(), 'tiny', randomImages(8, 1), SPEC, options());
    expect(() => assertFloatModel(graph, 'tiny.int8.onnx')).toThrow(QuantizeInputError);
    expect(() => assertFloatModel(graph, 'tiny.int8.onnx')).toThrow(/^tiny\.int8\.onnx is already quantized \(\d+ QuantizeLinear, \d+ DequantizeLinear\); quantize the float32 model it came from$/);
    const half = convertToFloat16(prepareFloatGraph(tinyModel(), 'tiny')).graph;
    expect(() => assertFloatModel(half, 'tiny.fp16.onnx')).toThrow(/tiny\.fp16\.onnx already holds low-precision weights \(\d+ float16 tensors\)/);
  });

  test('an empty calibration folder and a folder of non-faces are input errors', async () => {
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    await expect(loadFaceImages(empty, 112)).rejects.toThrow(InputError);
    await expect(loadFaceImages(empty, 112)).rejects.toThrow(`${empty}: no image files found (expected aligned face crops`);
    const noise = fs.mkdtempSync(path.join(tmp, 'noise-'));
    const rng = new Rng(8, 'noise');
    for (let i = 0; i < 4; i++) {
      const img = createRgbImage(112, 112);
      // Noise, flat grey, stripes, a gradient: nothing like a face.
      img.data.forEach((_, k) => (img.data[k] = i === 0 ? Math.floor(rng.uniform() * 256) : i === 1 ? 128 : i === 2 ? ((k / 3) % 112 < 56 ? 0 : 255) : Math.floor(k / 3 / 112)));
      fs.writeFileSync(path.join(noise, `pattern${i}.png`), await encodeImage(img, 'png'));
    }
    await expect(loadCheckedFaces(noise, 112, ENGINE)).rejects.toThrow(/4 of 4 images do not look like face crops \(face score below 0\.7: pattern0\.png 0\.\d\d/);
  });

  test('an output folder that does not exist fails before any work', async () => {
    const output = path.join(tmp, 'missing-folder', 'x.onnx');
    const progress: string[] = [];
    const req = { model: 'tiny', sets: [], output, options: options(), input: {}, calibrationCount: 8, seed: 1 };
    await expect(runQuantize(req, (p) => progress.push(p.stage))).rejects.toThrow(`cannot write ${output}: directory ${path.dirname(output)} does not exist`);
    expect(progress).toEqual([]);
  });

  test('static quantization without calibration images says what to give', async () => {
    await expect(
      Quantize.run(['tiny', '-o', path.join(tmp, 'x.onnx'), '--no-bench', '--json']).catch((e: { oclif?: { exit: number } }) => {
        throw new Error(`exit ${e.oclif?.exit}`);
      }),
    ).rejects.toThrow('exit 2');
  });
});

describe('real faces', () => {
  faceTest('pretrained MobileFaceNet: static int8 keeps cosine >= 0.99 on held-out real faces', async () => {
    // Calibration: colour dlib chips and ORL people; held out: other ORL people (disjoint identities).
    const load = (people: string[]) => Promise.all(people.map((s) => loadFaceImages(path.join(FACES, 'orl', s), 112)));
    const dlib = (await loadFaceImages(path.join(FACES, 'dlib_johns'), 112)).filter((_, i) => i % 3 === 0);
    const calibration = [...dlib, ...(await load(['s4', 's10', 's16', 's22', 's28', 's34'])).flatMap((images) => images.filter((_, i) => i % 3 === 0))];
    const heldOut = (await load(['s1', 's7', 's13', 's19', 's25', 's31', 's37'])).flatMap((images) => images.filter((_, i) => i % 3 === 0));
    const model = importPretrainedTflite('MobileFaceNet');
    const { graph } = await quantizeGraph(model, 'pretrained:mobilefacenet', calibration.map((f) => f.image), MOBILEFACENET_INPUT, options());
    const x: CalibrationBatch = { data: inputTensor(heldOut.map((f) => f.image), MOBILEFACENET_INPUT), dims: [heldOut.length, 112, 112, 3] };
    const cos = meanCosine(await runModel(encodeOnnx(model), x), await runModel(encodeOnnx(graph), x), heldOut.length);
    process.stdout.write(`pretrained MobileFaceNet static int8 on ${heldOut.length} held-out ORL faces: cosine mean ${cos.mean.toFixed(4)}, min ${cos.min.toFixed(4)}\n`);
    expect(cos.mean).toBeGreaterThanOrEqual(0.99);
    expect(cos.min).toBeGreaterThan(0.97);
  });

  faceTest('the command writes the model and reports size, cosine and accuracy before and after', async () => {
    const out = path.join(tmp, 'tiny.int8.onnx');
    const report = (await Quantize.run([
      'tiny',
      '-o',
      out,
      '--calibration',
      path.join(FACES, 'dlib_johns'),
      '--calibration-count',
      '20',
      '--eval',
      path.join(FACES, 'dlib_johns'),
      '--method',
      'minmax',
      '--no-bench',
      '--threads',
      '2',
      '--json',
    ])) as QuantizeReport;
    expect(fs.existsSync(out)).toBe(true);
    expect(report.sizeBytes.after).toBe(fs.statSync(out).size);
    expect(report.calibration?.images).toBe(20);
    expect(report.cosine?.images).toBe(35);
    expect(report.cosine?.mean).toBeGreaterThan(0.95);
    expect(report.verification?.pairs).toBeGreaterThan(100);
    expect(Number.isFinite(report.verification?.dropPoints)).toBe(true);
    expect(report.settings.prelu_as_int8_depthwise_convs).toBe(4);
    expect(decodeOnnx(fs.readFileSync(out)).metadata[QUANTIZATION_METADATA_KEY]).toContain('minmax');
  });
});

