import * as ort from 'onnxruntime-node';
import { buildTrainingForward, buildTrainingGraph } from '../src/core/autodiff';
import { RuleSet } from '../src/core/autodiff/types';
import { GraphBuilder, Init } from '../src/core/graph/builder';
import { Graph, InitializerRole, Node, attr, getAttr, int64Tensor } from '../src/core/graph/types';
import { filled } from '../src/core/nn/init';
import { convBnPrelu, flatten, globalAvgPool, linear } from '../src/core/nn/layers';
import { BACKBONES, BackboneName } from '../src/core/nn/registry';
import { tiny } from '../src/core/nn/tiny';
import { Rng } from '../src/core/util/rng';
import { bnStatsAsConstants, transposedKernel } from './helpers/brokenRules';
import { session, tensor } from './helpers/gradcheck';

/**
 * A whole network: the tiny backbone, a linear classifier and softmax cross-entropy on one-hot
 * labels, trained through the generated graph (float32, onnxruntime).
 *
 * Float32 finite differences through a deep PReLU/BatchNorm network are noisy: the step must be
 * small to stay off the PReLU kinks and the BatchNorm curvature, and then float32 rounding of
 * the whole forward pass dominates (measured 4e-3 to 1.2e-2 absolute error across seeds). The
 * finite differences here therefore run an independent float64 interpreter of the forward graph
 * (BatchNorm in training mode), written from the ONNX operator definitions, with a 1e-5 step.
 * The interpreter is itself held to onnxruntime's loss on the same inputs.
 */

// ---------------------------------------------------------------- a float64 reference forward

interface T {
  dims: number[];
  data: Float64Array;
}

const size = (dims: readonly number[]) => dims.reduce((p, q) => p * q, 1);

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** Numpy broadcasting of an elementwise function (an odometer over the output index). */
function elementwise(a: T, b: T, f: (x: number, y: number) => number): T {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]) => [...new Array<number>(rank - d.length).fill(1), ...d];
  const [da, db] = [pad(a.dims), pad(b.dims)];
  const dims = da.map((d, i) => Math.max(d, db[i]));
  // Per-axis steps into a and b; 0 along an axis that operand broadcasts.
  const stepA = stridesOf(da).map((s, k) => (da[k] === 1 ? 0 : s));
  const stepB = stridesOf(db).map((s, k) => (db[k] === 1 ? 0 : s));
  const data = new Float64Array(size(dims));
  const index = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < data.length; i++) {
    data[i] = f(a.data[ia], b.data[ib]);
    for (let k = rank - 1; k >= 0; k--) {
      index[k]++;
      ia += stepA[k];
      ib += stepB[k];
      if (index[k] < dims[k]) break;
      ia -= stepA[k] * dims[k];
      ib -= stepB[k] * dims[k];
      index[k] = 0;
    }
  }
  return { dims, data };
}

/** Conv over a zero-padded copy of the input (ONNX Conv, 2-D). */
function conv(node: Node, x: T, w: T, bias?: T): T {
  const [n, c, h, wd] = x.dims;
  const [m, cg, kh, kw] = w.dims;
  const group = getAttr(node, 'group', 'int') ?? 1;
  const [sh, sw] = getAttr(node, 'strides', 'ints') ?? [1, 1];
  const [dh, dw] = getAttr(node, 'dilations', 'ints') ?? [1, 1];
  const [pt, pl, pb, pr] = getAttr(node, 'pads', 'ints') ?? [0, 0, 0, 0];
  const [hp, wp] = [h + pt + pb, wd + pl + pr];
  const padded = new Float64Array(n * c * hp * wp);
  for (let r = 0; r < n * c; r++)
    for (let y = 0; y < h; y++) padded.set(x.data.subarray((r * h + y) * wd, (r * h + y + 1) * wd), (r * hp + y + pt) * wp + pl);
  const oh = Math.floor((hp - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wp - dw * (kw - 1) - 1) / sw) + 1;
  const out = new Float64Array(n * m * oh * ow);
  const perGroup = m / group;
  for (let b = 0; b < n; b++)
    for (let o = 0; o < m; o++) {
      const g = Math.floor(o / perGroup);
      const plane = out.subarray(((b * m + o) * oh) * ow, ((b * m + o + 1) * oh) * ow);
      plane.fill(bias ? bias.data[o] : 0);
      for (let ci = 0; ci < cg; ci++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const weight = w.data[((o * cg + ci) * kh + i) * kw + j];
            const base = (b * c + g * cg + ci) * hp * wp + i * dh * wp + j * dw;
            for (let y = 0; y < oh; y++) {
              const row = base + y * sh * wp;
              for (let z = 0; z < ow; z++) plane[y * ow + z] += weight * padded[row + z * sw];
            }
          }
    }
  return { dims: [n, m, oh, ow], data: out };
}

/** BatchNormalization in training mode: batch mean and biased variance over every axis but 1. */
function batchNormTraining(node: Node, x: T, scale: T, bias: T): T {
  const eps = getAttr(node, 'epsilon', 'float') ?? 1e-5;
  const [n, c] = x.dims;
  const inner = size(x.dims.slice(2));
  const out = new Float64Array(x.data.length);
  for (let ch = 0; ch < c; ch++) {
    const at = (b: number, k: number) => (b * c + ch) * inner + k;
    let mean = 0;
    for (let b = 0; b < n; b++) for (let k = 0; k < inner; k++) mean += x.data[at(b, k)];
    mean /= n * inner;
    let variance = 0;
    for (let b = 0; b < n; b++) for (let k = 0; k < inner; k++) variance += (x.data[at(b, k)] - mean) ** 2;
    variance /= n * inner;
    const a = scale.data[ch] / Math.sqrt(variance + eps);
    for (let b = 0; b < n; b++) for (let k = 0; k < inner; k++) out[at(b, k)] = (x.data[at(b, k)] - mean) * a + bias.data[ch];
  }
  return { dims: x.dims, data: out };
}

function gemm(node: Node, a: T, b: T, c?: T): T {
  const transA = getAttr(node, 'transA', 'int') === 1;
  const transB = getAttr(node, 'transB', 'int') === 1;
  const alpha = getAttr(node, 'alpha', 'float') ?? 1;
  const [m, k] = transA ? [a.dims[1], a.dims[0]] : a.dims;
  const n = transB ? b.dims[0] : b.dims[1];
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let q = 0; q < k; q++) acc += a.data[transA ? q * m + i : i * k + q] * b.data[transB ? j * k + q : q * n + j];
      out[i * n + j] = alpha * acc;
    }
  const product = { dims: [m, n], data: out };
  const beta = getAttr(node, 'beta', 'float') ?? 1;
  return c ? elementwise(product, c, (p, q) => p + beta * q) : product;
}

/** Sum over `axes` (all when empty). */
function reduceSum(x: T, axes: number[], keepdims: boolean): T {
  const rank = x.dims.length;
  const reduced = new Set((axes.length ? axes : x.dims.map((_, i) => i)).map((a) => (a < 0 ? a + rank : a)));
  const keptDims = x.dims.map((d, i) => (reduced.has(i) ? 1 : d));
  const s = stridesOf(x.dims);
  const ks = stridesOf(keptDims);
  const out = new Float64Array(size(keptDims));
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    for (let k = 0; k < rank; k++) if (!reduced.has(k)) o += (Math.floor(i / s[k]) % x.dims[k]) * ks[k];
    out[o] += x.data[i];
  }
  return { dims: keepdims ? keptDims : x.dims.filter((_, i) => !reduced.has(i)), data: out };
}

function logSoftmaxRows(x: T): T {
  const [rows, cols] = x.dims;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    const row = x.data.subarray(r * cols, (r + 1) * cols);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((acc, v) => acc + Math.exp(v - max), 0));
    for (let j = 0; j < cols; j++) out[r * cols + j] = row[j] - lse;
  }
  return { dims: x.dims, data: out };
}

/** Runs the forward graph in float64, BatchNorm in training mode; returns every tensor. */
function referenceForward(graph: Graph, values: Map<string, T>): Map<string, T> {
  const env = new Map(values);
  for (const init of graph.initializers.values()) {
    if (!env.has(init.name)) env.set(init.name, { dims: init.tensor.dims, data: Float64Array.from(init.tensor.data as ArrayLike<number | bigint>, Number) });
  }
  const get = (t: string) => env.get(t) as T;
  for (const node of graph.nodes) {
    const [x, y, z] = node.inputs.map((t) => (t === '' ? undefined : get(t)));
    const a = x as T;
    let out: T;
    switch (node.opType) {
      case 'Conv':
        out = conv(node, a, y as T, z);
        break;
      case 'BatchNormalization':
        out = batchNormTraining(node, a, y as T, z as T);
        break;
      case 'PRelu':
        out = elementwise(a, y as T, (v, s) => (v < 0 ? s * v : v));
        break;
      case 'GlobalAveragePool': {
        const inner = size(a.dims.slice(2));
        const r = reduceSum(a, a.dims.slice(2).map((_, i) => i + 2), true);
        out = { dims: r.dims, data: r.data.map((v) => v / inner) };
        break;
      }
      case 'Flatten':
        out = { dims: [a.dims[0], size(a.dims.slice(1))], data: a.data };
        break;
      case 'Gemm':
        out = gemm(node, a, y as T, z);
        break;
      case 'LogSoftmax':
        out = logSoftmaxRows(a);
        break;
      case 'Mul':
        out = elementwise(a, y as T, (p, q) => p * q);
        break;
      case 'Neg':
        out = { dims: a.dims, data: a.data.map((v) => -v) };
        break;
      case 'ReduceSum':
        out = reduceSum(a, y ? Array.from(y.data) : [], getAttr(node, 'keepdims', 'int') !== 0);
        break;
      case 'ReduceMean': {
        const r = reduceSum(a, getAttr(node, 'axes', 'ints') ?? [], getAttr(node, 'keepdims', 'int') !== 0);
        out = { dims: r.dims, data: r.data.map((v) => (v * r.data.length) / a.data.length) };
        break;
      }
      default:
        throw new Error(`reference forward: no ${node.opType}`);
    }
    env.set(node.outputs[0], out);
  }
  return env;
}

// ---------------------------------------------------------------- the network

const CLASSES = 5;
const BATCH = 4;
const IMAGE = 16;

/** The tiny backbone on 16x16 images, a linear classifier, softmax cross-entropy on one-hot labels. */
function tinyClassifier(seed = 3): Graph {
  const b = new GraphBuilder('tiny-classifier', seed);
  const images = b.input('images', ['N', 3, IMAGE, IMAGE]);
  const labels = b.input('labels', ['N', CLASSES]);
  const embedding = b.within('backbone', () => tiny(b, images, { embeddingSize: 8, dropout: 0, seed }));
  const logits = b.output(
    b.within('head', () => linear(b, 'fc', embedding, 8, CLASSES)),
    'logits',
  );
  const logProbabilities = b.op1('LogSoftmax', [logits], { axis: attr.int(1) });
  const perSample = b.op1('ReduceSum', [b.op1('Mul', [logProbabilities, labels]), b.constant('axes', int64Tensor([1]))], { keepdims: attr.int(0) });
  b.output(b.op1('Neg', [b.op1('ReduceMean', [perSample], { keepdims: attr.int(0) })]), 'loss');
  return b.graph;
}

/**
 * A 3x3 block, then a widening 1x1 block (8 -> 16 channels: conv, BatchNorm, PReLU), pooling and
 * the linear classifier: with a static batch its 1x1 conv and BatchNorm train as one fused unit.
 */
function widenedClassifier(seed = 3): Graph {
  const b = new GraphBuilder('widened-classifier', seed);
  const images = b.input('images', ['N', 3, IMAGE, IMAGE]);
  const labels = b.input('labels', ['N', CLASSES]);
  const embedding = b.within('backbone', () => {
    const x = convBnPrelu(b, 'conv1', images, { inC: 3, outC: 8, k: 3, stride: 2, pad: 1 });
    return flatten(b, globalAvgPool(b, convBnPrelu(b, 'widen', x, { inC: 8, outC: 16, k: 1, stride: 1, pad: 0 })));
  });
  const logits = b.output(b.within('head', () => linear(b, 'fc', embedding, 16, CLASSES)), 'logits');
  const logProbabilities = b.op1('LogSoftmax', [logits], { axis: attr.int(1) });
  const perSample = b.op1('ReduceSum', [b.op1('Mul', [logProbabilities, labels]), b.constant('axes', int64Tensor([1]))], { keepdims: attr.int(0) });
  b.output(b.op1('Neg', [b.op1('ReduceMean', [perSample], { keepdims: attr.int(0) })]), 'loss');
  return b.graph;
}

function classifierInputs(seed = 5): Record<string, { data: Float32Array; dims: number[] }> {
  const rng = new Rng(seed, 'inputs');
  const images = Float32Array.from({ length: BATCH * 3 * IMAGE * IMAGE }, () => rng.range(-1, 1));
  const labels = new Float32Array(BATCH * CLASSES);
  for (let n = 0; n < BATCH; n++) labels[n * CLASSES + rng.int(CLASSES)] = 1;
  return { images: { data: images, dims: [BATCH, 3, IMAGE, IMAGE] }, labels: { data: labels, dims: [BATCH, CLASSES] } };
}

function feedsFor(graph: Graph, params: string[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, v] of Object.entries(classifierInputs())) feeds[name] = tensor(v.data, v.dims, 'float32');
  for (const name of params) {
    const t = graph.initializers.get(name)?.tensor;
    feeds[name] = tensor(t?.data as Float32Array, t?.dims as number[], 'float32');
  }
  return feeds;
}

async function runTraining(graph: Graph, opts: { freeze?: string[]; extraOutputs?: string[]; rules?: Partial<RuleSet>; dims?: Record<string, number>; gradSumOfSquares?: boolean } = {}) {
  const training = buildTrainingGraph(graph, { loss: 'loss', ...opts });
  const s = await session(training.graph, 'float32');
  const out = await s.run(feedsFor(graph, training.params));
  await s.release();
  return { training, out };
}

interface NetworkReport {
  maxAbsError: number;
  worstRatio: number;
  worst: string;
  checked: number;
}

/**
 * Every parameter's gradient from onnxruntime against central differences of the float64
 * reference, on `perParam` coordinates of each (always the first and the last).
 */
async function networkCheck(graph: Graph, tol: { atol: number; rtol: number }, rules?: Partial<RuleSet>, perParam = 6, dims?: Record<string, number>): Promise<NetworkReport> {
  const { training, out } = await runTraining(graph, { rules, dims });
  const inputs = new Map<string, T>(Object.entries(classifierInputs()).map(([k, v]) => [k, { dims: v.dims, data: Float64Array.from(v.data) }]));
  const params = new Map(training.params.map((p) => {
    const t = graph.initializers.get(p)?.tensor;
    return [p, { dims: t?.dims as number[], data: Float64Array.from(t?.data as Float32Array) }];
  }));
  const lossAt = () => (referenceForward(graph, new Map([...inputs, ...params])).get('loss') as T).data[0];
  const rng = new Rng(11, 'coordinates');
  const report: NetworkReport = { maxAbsError: 0, worstRatio: 0, worst: '', checked: 0 };
  const step = 1e-5;
  for (const [name, value] of params) {
    const analytic = out[training.gradOutputs.get(name) as string].data as Float32Array;
    const picks = new Set([0, value.data.length - 1]);
    while (picks.size < Math.min(perParam, value.data.length)) picks.add(rng.int(value.data.length));
    for (const i of picks) {
      const original = value.data[i];
      value.data[i] = original + step;
      const up = lossAt();
      value.data[i] = original - step;
      const down = lossAt();
      value.data[i] = original;
      const numeric = (up - down) / (2 * step);
      const err = Math.abs(analytic[i] - numeric);
      const ratio = err / (tol.atol + tol.rtol * Math.abs(numeric));
      report.checked++;
      report.maxAbsError = Math.max(report.maxAbsError, err);
      if (ratio > report.worstRatio) {
        report.worstRatio = ratio;
        report.worst = `${name}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`;
      }
    }
  }
  return report;
}

/** Stated tolerance for float32 gradients of the whole network against float64 differences. */
const NETWORK_TOLERANCE = { atol: 5e-6, rtol: 5e-4 };

// ---------------------------------------------------------------- tests

describe('tiny backbone + linear classifier + softmax cross-entropy', () => {
  test('the float64 reference forward agrees with onnxruntime on the loss', async () => {
    const graph = tinyClassifier();
    const forward = buildTrainingForward(graph, { loss: 'loss' });
    const s = await session(forward.graph, 'float32');
    const out = await s.run(feedsFor(graph, forward.params));
    await s.release();
    const inputs = new Map<string, T>(Object.entries(classifierInputs()).map(([k, v]) => [k, { dims: v.dims, data: Float64Array.from(v.data) }]));
    const reference = (referenceForward(graph, inputs).get('loss') as T).data[0];
    expect(Math.abs(Number(out.loss.data[0]) - reference)).toBeLessThan(1e-5);
  });

  test('every parameter gradient matches float64 finite differences on sampled coordinates', async () => {
    const report = await networkCheck(tinyClassifier(), NETWORK_TOLERANCE);
    if (process.env.GRADCHECK_REPORT === '1') process.stdout.write(`tiny network: ${report.checked} coords, max|err| ${report.maxAbsError.toExponential(2)}, worst/tol ${report.worstRatio.toFixed(4)}\n`);
    expect(report.worstRatio).toBeLessThanOrEqual(1);
    expect(report.checked).toBeGreaterThan(100);
  });

  test.each([
    ['a transposed kernel in Conv dX', { gradients: { Conv: transposedKernel } }],
    ['BatchNorm batch statistics treated as constants', { trainingForms: { BatchNormalization: bnStatsAsConstants } }],
  ] as [string, Partial<RuleSet>][])('the same check fails with %s', async (_bug, rules) => {
    const report = await networkCheck(tinyClassifier(), NETWORK_TOLERANCE, rules, 2);
    expect(report.worstRatio).toBeGreaterThan(1);
  });

  test('one run returns the loss, logits, every gradient and the batch statistics', async () => {
    const { training, out } = await runTraining(tinyClassifier(), { extraOutputs: ['logits'] });
    expect(out.loss.dims).toEqual([]);
    expect(out.logits.dims).toEqual([BATCH, CLASSES]);
    expect(training.gradOutputs.size).toBe(21); // every trainable initializer (BN running statistics are state)
    for (const [param, name] of training.gradOutputs) {
      expect(out[name].dims).toEqual(training.graph.inputs.find((v) => v.name === param)?.shape);
    }
    expect(training.batchNormStats.length).toBe(5);
    expect(training.graph.nodes.every((n) => n.domain === '')).toBe(true);
    expect(training.graph.opsetVersion).toBe(17);
  });

  test('asked for, the same run also returns the sum of every gradient\'s squares, and nothing else changes', async () => {
    const graph = tinyClassifier();
    const plain = await runTraining(graph);
    const { training, out } = await runTraining(graph, { gradSumOfSquares: true });
    expect(plain.training.gradSumOfSquares).toBeUndefined();
    expect(plain.training.graph.outputs.length).toBe(training.graph.outputs.length - 1);
    const name = training.gradSumOfSquares as string;
    expect(out[name].dims).toEqual([]);
    let want = 0;
    for (const [param, grad] of training.gradOutputs) {
      const g = out[grad].data as Float32Array;
      want += g.reduce((s, v) => s + v * v, 0);
      expect(Array.from(g)).toEqual(Array.from(plain.out[plain.training.gradOutputs.get(param) as string].data as Float32Array));
    }
    expect(want).toBeGreaterThan(0);
    // A gradient is written by the node computing it, not copied by an Identity (which onnxruntime
    // would no longer fold away once the sum reads the gradient), unless that node's result is
    // read elsewhere too (a BatchNorm bias gradient is the sum its backward also uses).
    const grads = new Set(training.gradOutputs.values());
    const readers = (t: string) => training.graph.nodes.filter((n) => n.inputs.includes(t)).length;
    const copies = training.graph.nodes.filter((n) => n.opType === 'Identity' && grads.has(n.outputs[0]));
    expect(copies.filter((n) => readers(n.inputs[0]) === 1)).toEqual([]);
    expect(copies.length).toBeLessThan(grads.size / 2);
    // Float32 sums per tensor, as torch's per-tensor norms: within float32 rounding of the float64 total.
    expect(Math.abs(Number(out[name].data[0]) - want) / want).toBeLessThan(1e-5);
  });

  test('batch statistics are the per-channel mean and unbiased variance of the BatchNorm input', async () => {
    const graph = tinyClassifier();
    const bnNode = graph.nodes.find((n) => n.name.startsWith('backbone.conv2.bn'));
    const bnInput = bnNode?.inputs[0] as string;
    const { training, out } = await runTraining(graph, { extraOutputs: [bnInput] });
    const stats = training.batchNormStats.find((s) => s.node === bnNode?.name);
    const x = out[bnInput];
    const [n, c, h, w] = x.dims;
    const data = x.data as Float32Array;
    const count = n * h * w;
    for (let ch = 0; ch < c; ch++) {
      const values = Array.from({ length: count }, (_, k) => data[(Math.floor(k / (h * w)) * c + ch) * h * w + (k % (h * w))]);
      const mean = values.reduce((p, q) => p + q, 0) / count;
      const unbiased = values.reduce((p, q) => p + (q - mean) ** 2, 0) / (count - 1);
      expect((out[stats?.mean as string].data as Float32Array)[ch]).toBeCloseTo(mean, 5);
      expect((out[stats?.var as string].data as Float32Array)[ch] / unbiased).toBeCloseTo(1, 5);
    }
    expect(stats?.runningMean).toBe('backbone.conv2.bn.running_mean');
    expect(stats?.runningVar).toBe('backbone.conv2.bn.running_var');
    expect(stats?.momentum).toBeCloseTo(0.9, 6);
  });

  test('a static batch size (dims) gives static graph inputs and the same loss and gradients', async () => {
    const graph = tinyClassifier();
    const symbolic = await runTraining(graph);
    const fixed = await runTraining(graph, { dims: { N: BATCH } });
    expect(fixed.training.graph.inputs.find((v) => v.name === 'images')?.shape).toEqual([BATCH, 3, IMAGE, IMAGE]);
    expect(graph.inputs.find((v) => v.name === 'images')?.shape[0]).toBe('N');
    // The depthwise conv's weight gradient takes another formulation with a static batch.
    const formulation = (t: typeof fixed.training) => t.graph.nodes.find((n) => n.name.startsWith('grad/backbone.conv3.conv.Conv/dW/'))?.name.split('/')[3];
    expect([formulation(symbolic.training), formulation(fixed.training)]).toEqual(['depthwiseTaps', 'foldedBatchConv']);
    expect(fixed.out.loss.data[0]).toBeCloseTo(Number(symbolic.out.loss.data[0]), 5);
    for (const [param, name] of symbolic.training.gradOutputs) {
      const a = symbolic.out[name].data as Float32Array;
      const b = fixed.out[fixed.training.gradOutputs.get(param) as string].data as Float32Array;
      const scale = Math.max(...a.map(Math.abs), 1e-6);
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / scale).toBeLessThan(1e-5);
    }
  });

  test('frozen prefixes get no gradient outputs and no gradient work', async () => {
    const graph = tinyClassifier();
    const all = buildTrainingGraph(graph, { loss: 'loss' });
    const partly = buildTrainingGraph(graph, { loss: 'loss', freeze: ['backbone.conv1.', 'backbone.conv2.'] });
    const headOnly = buildTrainingGraph(graph, { loss: 'loss', freeze: ['backbone.'] });
    const frozen = [...graph.initializers.values()].filter((i) => i.role === 'trainable' && /^backbone\.conv[12]\./.test(i.name));
    expect(frozen.length).toBe(8);
    for (const f of frozen) expect(partly.gradOutputs.has(f.name)).toBe(false);
    expect(partly.gradOutputs.size).toBe(all.gradOutputs.size - frozen.length);
    expect(partly.graph.nodes.length).toBeLessThan(all.graph.nodes.length);
    // Their BatchNorms are frozen whole: running statistics, no batch statistics.
    expect(partly.batchNormStats.map((s) => s.node).filter((n) => /conv[12]\./.test(n))).toEqual([]);
    // Frozen parameters stay initializers; trained ones are inputs.
    expect(partly.graph.initializers.has(frozen[0].name)).toBe(true);
    expect(partly.graph.inputs.some((v) => v.name === frozen[0].name)).toBe(false);
    // The first conv's input is data: no node computes its input gradient.
    expect(all.graph.nodes.filter((n) => n.name.startsWith('grad/backbone.conv1.conv.Conv') && n.opType === 'ConvTranspose')).toEqual([]);
    // With the whole backbone frozen, nothing in it is differentiated.
    expect([...headOnly.gradOutputs.keys()]).toEqual(['head.fc.weight', 'head.fc.bias']);
    expect(headOnly.graph.nodes.filter((n) => n.name.startsWith('grad/backbone'))).toEqual([]);
    expect(headOnly.graph.nodes.filter((n) => n.opType === 'ConvTranspose')).toEqual([]);
    const { out } = await runTraining(graph, { freeze: ['backbone.conv1.', 'backbone.conv2.'] });
    expect(Number.isFinite(Number(out.loss.data[0]))).toBe(true);
  });
});

/** Constant weights: seeded init of the large networks costs seconds, and only the structure matters here. */
class ConstantWeightsBuilder extends GraphBuilder {
  override param(leaf: string, dims: number[], _init: Init, role?: InitializerRole): string {
    return super.param(leaf, dims, filled(role === 'state' && leaf === 'running_var' ? 1 : 0.01), role);
  }
}

describe('a widening 1x1 conv and its BatchNorm, trained fused (static batch)', () => {
  const widen = (g: Graph) => g.nodes.find((n) => n.opType === 'Conv' && n.name.startsWith('backbone.widen.')) as Node;

  test('the fused unit stands in for both: the conv output is never computed', async () => {
    const graph = widenedClassifier();
    const fixed = buildTrainingGraph(graph, { loss: 'loss', dims: { N: BATCH } });
    const symbolic = buildTrainingGraph(graph, { loss: 'loss' });
    const convOutput = widen(graph).outputs[0];
    expect(fixed.graph.nodes.some((n) => n.outputs.includes(convOutput))).toBe(false);
    expect(symbolic.graph.nodes.some((n) => n.outputs.includes(convOutput))).toBe(true);
  });

  test('every parameter gradient matches float64 finite differences on sampled coordinates', async () => {
    const report = await networkCheck(widenedClassifier(), NETWORK_TOLERANCE, undefined, 6, { N: BATCH });
    if (process.env.GRADCHECK_REPORT === '1') process.stdout.write(`widened network (fused): ${report.checked} coords, max|err| ${report.maxAbsError.toExponential(2)}, worst/tol ${report.worstRatio.toFixed(4)}\n`);
    expect(report.worstRatio).toBeLessThanOrEqual(1);
    expect(report.checked).toBeGreaterThan(50);
  });

  test('loss, gradients and batch statistics equal the unfused graph\'s', async () => {
    const graph = widenedClassifier();
    const unfused = await runTraining(graph);
    const fused = await runTraining(graph, { dims: { N: BATCH } });
    expect(fused.out.loss.data[0]).toBeCloseTo(Number(unfused.out.loss.data[0]), 5);
    const close = (a: Float32Array, b: Float32Array) => {
      const scale = Math.max(...a.map(Math.abs), 1e-6);
      return Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / scale;
    };
    for (const [param, name] of unfused.training.gradOutputs) {
      expect(close(unfused.out[name].data as Float32Array, fused.out[fused.training.gradOutputs.get(param) as string].data as Float32Array)).toBeLessThan(1e-4);
    }
    unfused.training.batchNormStats.forEach((s, i) => {
      const f = fused.training.batchNormStats[i];
      expect(f.runningMean).toBe(s.runningMean);
      expect(close(unfused.out[s.mean].data as Float32Array, fused.out[f.mean].data as Float32Array)).toBeLessThan(1e-4);
      expect(close(unfused.out[s.var].data as Float32Array, fused.out[f.var].data as Float32Array)).toBeLessThan(1e-4);
    });
  });
});

describe('the real backbones', () => {
  test.each(['mobilefacenet', 'resnet50', 'iresnet18'] as BackboneName[])(
    '%s: the training graph builds, loads in onnxruntime and runs a step at batch 2',
    async (name) => {
      const b = new ConstantWeightsBuilder(name, 0);
      const input = b.input('input', ['N', 3, 112, 112]);
      // Dropout 0.4 exercises the mask inputs where the architecture has a dropout layer.
      const embedding = b.within('backbone', () => BACKBONES[name](b, input, { embeddingSize: 16, dropout: 0.4, seed: 0 }));
      b.output(b.op1('ReduceSum', [b.op1('Mul', [embedding, embedding])], { keepdims: attr.int(0) }), 'loss');
      const training = buildTrainingGraph(b.graph, { loss: 'loss' });
      const s = await session(training.graph, 'float32');
      const feeds = feedsFor(b.graph, training.params);
      feeds.input = tensor(new Float32Array(2 * 3 * 112 * 112).map((_, i) => Math.sin(i)), [2, 3, 112, 112], 'float32');
      for (const m of training.dropoutMasks) {
        const dims = [2, ...(m.shape.slice(1) as number[])];
        feeds[m.input] = tensor(new Float32Array(dims.reduce((p, q) => p * q, 1)).fill(1), dims, 'float32');
      }
      delete feeds.images;
      delete feeds.labels;
      const out = await s.run(feeds);
      await s.release();
      expect(training.gradOutputs.size).toBe([...b.graph.initializers.values()].filter((i) => i.role === 'trainable').length);
      for (const [param, gradient] of training.gradOutputs) {
        expect(out[gradient].dims).toEqual(b.graph.initializers.get(param)?.tensor.dims);
        expect((out[gradient].data as Float32Array).every(Number.isFinite)).toBe(true);
      }
      expect(training.dropoutMasks.length).toBe(name === 'mobilefacenet' ? 0 : 1);
    },
  );
});
