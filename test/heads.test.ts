import * as ort from 'onnxruntime-node';
import { GRADIENT_RULES, buildTrainingGraph } from '../src/core/autodiff';
import { DISCRETE_OPS } from '../src/core/autodiff/registry';
import { loadConfig } from '../src/core/config';
import { headSpec } from '../src/core/config/sections/head';
import { encodeOnnx } from '../src/core/graph/onnx';
import { Graph } from '../src/core/graph/types';
import { ACOS_CLAMP } from '../src/core/heads/marginHead';
import { marginOf } from '../src/core/heads/margins';
import { HEADS, HEAD_TYPES, HeadSpec, Margin, MarginGuard, attachHead, headGraph, thMmFallback } from '../src/core/heads';
import { buildBackbone } from '../src/core/nn/registry';
import { Rng } from '../src/core/util/rng';

/**
 * Every head's forward graph, run in onnxruntime (float32), against a direct float64
 * reimplementation of its formula; hand-worked ArcFace values; the guard branches; label
 * smoothing; and the heads' gradients through the project's autodiff against central finite
 * differences of the float64 reference.
 */

// ------------------------------------------------------------------ float64 reference

interface Batch {
  /** [N, E] row-major. */
  x: number[][];
  /** Class index per sample. */
  labels: number[];
}

interface Params {
  /** [C, E]. */
  w: number[][];
  /** [C], softmax only. */
  bias?: number[];
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));

/** cos(m1*theta + m2) - m3 with the guard, exactly as the heads document it. */
function refTarget(cos: number, m: Margin, guard: MarginGuard): number {
  const angular = m.m1 !== 1 || m.m2 !== 0;
  if (!angular) return cos - m.m3;
  const clamped = Math.min(Math.max(cos, -1 + ACOS_CLAMP), 1 - ACOS_CLAMP);
  const margined = Math.cos(m.m1 * Math.acos(clamped) + m.m2);
  let value = margined;
  if (guard === 'easy') value = cos > 0 ? margined : cos;
  if (guard === 'th_mm') {
    const limit = (Math.PI - m.m2) / m.m1;
    if (limit < Math.PI && cos <= Math.cos(limit)) value = cos - Math.sin(limit) * (Math.PI - limit);
  }
  return value - m.m3;
}

function refHead(spec: HeadSpec, p: Params, batch: Batch): { logits: number[][]; scores: number[][]; loss: number } {
  const C = p.w.length;
  const smoothing = spec.labelSmoothing;
  const logits: number[][] = [];
  const scores: number[][] = [];
  let loss = 0;
  batch.x.forEach((x, i) => {
    let row: number[];
    if (spec.type === 'softmax') {
      row = p.w.map((w, j) => dot(x, w) + (p.bias?.[j] ?? 0));
      scores.push(row);
    } else {
      const cos = p.w.map((w) => dot(x, w) / (norm(x) * norm(w)));
      scores.push(cos);
      const guard = spec.type === 'cosface' ? 'none' : spec.guard;
      row = cos.map((c, j) => spec.s * (j === batch.labels[i] ? refTarget(c, marginOf(spec), guard) : c));
    }
    logits.push(row);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    row.forEach((v, j) => {
      const target = (j === batch.labels[i] ? 1 - smoothing : 0) + smoothing / C;
      loss -= target * (v - lse);
    });
  });
  return { logits, scores, loss: loss / batch.x.length };
}

// ------------------------------------------------------------------ running the graphs

const E = 8;
const C = 5;

function randomBatch(seed: number, n: number): Batch {
  const rng = new Rng(seed, 'batch');
  return {
    x: Array.from({ length: n }, () => Array.from({ length: E }, () => rng.normal())),
    labels: Array.from({ length: n }, () => rng.int(C)),
  };
}

function oneHot(labels: number[], classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  labels.forEach((l, i) => (out[i * classes + l] = 1));
  return out;
}

function rows(data: Float32Array, width: number): number[][] {
  return Array.from({ length: data.length / width }, (_, i) => Array.from(data.subarray(i * width, (i + 1) * width)));
}

function paramsOf(graph: Graph): Params {
  const w = graph.initializers.get('head.weight')!.tensor;
  const bias = graph.initializers.get('head.bias')?.tensor;
  return { w: rows(w.data as Float32Array, w.dims[1]), bias: bias ? Array.from(bias.data as Float32Array) : undefined };
}

/** Overwrites head.weight (rows of length E). */
function setWeight(graph: Graph, w: number[][]): void {
  const t = graph.initializers.get('head.weight')!.tensor;
  t.dims = [w.length, w[0].length];
  t.data = Float32Array.from(w.flat());
}

async function run(graph: Graph, batch: Batch, classes: number): Promise<{ logits: number[][]; scores: number[][]; loss: number }> {
  const session = await ort.InferenceSession.create(encodeOnnx(graph), { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const n = batch.x.length;
  const out = await session.run({
    embedding: new ort.Tensor('float32', Float32Array.from(batch.x.flat()), [n, batch.x[0].length]),
    labels: new ort.Tensor('float32', oneHot(batch.labels, classes), [n, classes]),
  });
  await session.release();
  const scoresName = graph.outputs.some((o) => o.name === 'scores') ? 'scores' : 'logits';
  return {
    logits: rows(out.logits.data as Float32Array, classes),
    scores: rows(out[scoresName].data as Float32Array, classes),
    loss: Number(out.loss.data[0]),
  };
}

function expectClose(actual: number[][], expected: number[][], atol: number): void {
  let worst = 0;
  actual.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - expected[i][j])))));
  expect(worst).toBeLessThanOrEqual(atol);
}

const common = { s: 64, labelSmoothing: 0.1 };
const SPECS: HeadSpec[] = [
  { type: 'softmax', labelSmoothing: 0.1 },
  { type: 'sphereface', ...common, m1: 1.35, guard: 'th_mm' },
  { type: 'cosface', ...common, m3: 0.35 },
  { type: 'arcface', ...common, m2: 0.5, guard: 'th_mm' },
  { type: 'combined', ...common, m1: 0.9, m2: 0.4, m3: 0.15, guard: 'th_mm' },
  { type: 'combined', ...common, m1: 1.2, m2: 0.3, m3: 0.2, guard: 'easy' },
  { type: 'arcface', ...common, m2: 0.5, guard: 'none' },
];

// Float32 logits of magnitude <= s = 64: measured worst 1e-5 on random embeddings, 2.9e-4 where the
// acos clamp is active (theta = 0 or pi: float32 rounding of 1 - 1e-6 times acos slope ~707).
const LOGIT_ATOL = 1e-3;

// ------------------------------------------------------------------ tests

describe('heads against a float64 reference', () => {
  test.each(SPECS.map((s) => [`${s.type}${'guard' in s ? ` (${s.guard})` : ''}`, s] as const))('%s: logits, scores and loss', async (_name, spec) => {
    const { graph } = headGraph(spec, { embeddingSize: E, classes: C }, 3);
    // Embeddings pointing near some class vectors (and away from others) exercise both guard branches.
    const batch = randomBatch(11, 6);
    const p = paramsOf(graph);
    batch.x[0] = p.w[batch.labels[0]].map((v) => -v); // theta = pi at the target
    batch.x[1] = p.w[batch.labels[1]].map((v) => 3 * v); // theta = 0
    const got = await run(graph, batch, C);
    const want = refHead(spec, p, batch);
    expectClose(got.logits, want.logits, LOGIT_ATOL);
    expectClose(got.scores, want.scores, 1e-5 * (spec.type === 'softmax' ? 10 : 1));
    expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want.loss)));
  });

  test('every config name has a builder; weights are head.weight [C,E] (and head.bias), Xavier-bounded and seeded', () => {
    expect(Object.keys(HEADS).sort()).toEqual([...HEAD_TYPES].sort());
    const bound = Math.sqrt(6 / (E + C));
    for (const spec of SPECS) {
      const { graph } = headGraph(spec, { embeddingSize: E, classes: C }, 3);
      const trainable = [...graph.initializers.values()].filter((i) => i.role === 'trainable').map((i) => i.name);
      expect(trainable).toEqual(spec.type === 'softmax' ? ['head.weight', 'head.bias'] : ['head.weight']);
      const w = graph.initializers.get('head.weight')!.tensor;
      expect(w.dims).toEqual([C, E]);
      expect(Math.max(...Array.from(w.data as Float32Array, Math.abs))).toBeLessThanOrEqual(bound);
    }
    const weightOf = (seed: number) => headGraph(SPECS[3], { embeddingSize: E, classes: C }, seed).graph.initializers.get('head.weight')!.tensor.data;
    expect(weightOf(3)).toEqual(weightOf(3));
    expect(weightOf(3)).not.toEqual(weightOf(4));
  });
});

describe('ArcFace by hand', () => {
  // x = (2, 0); class 0 at 60 degrees, class 1 at 90 degrees; label 0; s = 64, m = 0.5.
  // Target: 64 * cos(pi/3 + 0.5) = 64 * (0.5 * 0.8775826 - 0.8660254 * 0.4794255) = 64 * 0.0235966 = 1.510181.
  // Other:  64 * cos(pi/2) = 0.  Loss: log(1 + exp(-1.510181)) = 0.199564.
  const W = [
    [Math.cos(Math.PI / 3), Math.sin(Math.PI / 3)],
    [0, 1],
  ];
  const arc = (guard: MarginGuard, labelSmoothing = 0): HeadSpec => ({ type: 'arcface', s: 64, m2: 0.5, guard, labelSmoothing });

  async function handRun(spec: HeadSpec, w: number[][], x: number[]) {
    const { graph } = headGraph(spec, { embeddingSize: 2, classes: 2 }, 0);
    setWeight(graph, w);
    return run(graph, { x: [x], labels: [0] }, 2);
  }

  test('theta = 60 degrees: the margined target logit and the loss', async () => {
    const out = await handRun(arc('th_mm'), W, [2, 0]);
    expect(out.logits[0][0]).toBeCloseTo(1.510181, 4);
    expect(out.logits[0][1]).toBeCloseTo(0, 5);
    expect(out.scores[0][0]).toBeCloseTo(0.5, 6);
    expect(out.loss).toBeCloseTo(0.199564, 5);
  });

  test('theta = 170 degrees is past pi - m: th_mm, easy margin and unguarded', async () => {
    // cos 170 = -0.9848078 <= th = cos(pi - 0.5) = -0.8775826, so th_mm gives
    // cos(theta) - sin(0.5) * 0.5 = -0.9848078 - 0.2397128 = -1.2245205, times 64 = -78.36931.
    // Easy margin (cos < 0): 64 * cos(theta) = -63.02770. Unguarded: 64 * cos(170 deg + 0.5) = -60.64009,
    // *above* the plain cosine logit: the margin would reward the wrong angle, which is what the guard prevents.
    const t = (170 * Math.PI) / 180;
    const w = [[Math.cos(t), Math.sin(t)], [0, 1]];
    expect(thMmFallback({ m1: 1, m2: 0.5, m3: 0 })).toEqual({ cosThreshold: expect.closeTo(-0.8775826, 6), mm: expect.closeTo(0.2397128, 6) });
    expect((await handRun(arc('th_mm'), w, [1, 0])).logits[0][0]).toBeCloseTo(-78.36931, 3);
    expect((await handRun(arc('easy'), w, [1, 0])).logits[0][0]).toBeCloseTo(-63.0277, 3);
    expect((await handRun(arc('none'), w, [1, 0])).logits[0][0]).toBeCloseTo(-60.64009, 3);
  });

  test('label smoothing: 0 is plain CE; eps mixes in the mean negative log-probability', async () => {
    const plain = await handRun(arc('th_mm', 0), W, [2, 0]);
    const smooth = await handRun(arc('th_mm', 0.2), W, [2, 0]);
    // log p = (-0.199564, -1.709745); with eps = 0.2 and C = 2 the targets are (0.9, 0.1).
    const logp1 = -Math.log(1 + Math.exp(1.510181));
    expect(plain.loss).toBeCloseTo(0.199564, 5);
    expect(smooth.loss).toBeCloseTo(0.9 * 0.199564 - 0.1 * logp1, 5);
  });
});

describe('scale and margin', () => {
  const batch = randomBatch(5, 8);

  test('logits scale linearly with s; the loss rises with the margin, which only touches the target column', async () => {
    const base: HeadSpec = { type: 'arcface', s: 32, m2: 0.5, guard: 'th_mm', labelSmoothing: 0 };
    const at = async (spec: HeadSpec) => run(headGraph(spec, { embeddingSize: E, classes: C }, 2).graph, batch, C);
    const s32 = await at(base);
    const s64 = await at({ ...base, s: 64 });
    expectClose(s64.logits, s32.logits.map((r) => r.map((v) => 2 * v)), 1e-3);
    const losses: number[] = [];
    for (const m2 of [0, 0.3, 0.5, 0.7]) {
      const out = await at({ ...base, m2 });
      losses.push(out.loss);
      out.logits.forEach((row, i) => row.forEach((v, j) => j !== batch.labels[i] && expect(v).toBeCloseTo(32 * out.scores[i][j], 3)));
    }
    for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeGreaterThan(losses[i - 1]);
  });
});

describe('config', () => {
  test('head.m is the margin of the chosen type; empty gives that type\'s default', () => {
    expect(headSpec(loadConfig().head)).toEqual({ type: 'arcface', s: 64, m2: 0.5, guard: 'th_mm', labelSmoothing: 0 });
    expect(headSpec(loadConfig(undefined, ['head.type=cosface']).head)).toMatchObject({ type: 'cosface', m3: 0.35 });
    expect(headSpec(loadConfig(undefined, ['head.type=sphereface']).head)).toMatchObject({ type: 'sphereface', m1: 1.35 });
    expect(headSpec(loadConfig(undefined, ['head.m=0.3']).head)).toMatchObject({ type: 'arcface', m2: 0.3 });
    expect(headSpec(loadConfig(undefined, ['head.type=combined', 'head.m2=0.3', 'head.m3=0.2']).head)).toMatchObject({ m1: 1, m2: 0.3, m3: 0.2 });
    expect(headSpec(loadConfig(undefined, ['head.type=softmax', 'head.label_smoothing=0.1']).head)).toEqual({ type: 'softmax', labelSmoothing: 0.1 });
  });

  test('a margin that does not fit the type is refused at its key', () => {
    expect(() => loadConfig(undefined, ['head.type=combined', 'head.m=0.5'])).toThrow(/^--set head\.m=0\.5: expected the margin of the chosen head/);
    expect(() => loadConfig(undefined, ['head.type=cosface', 'head.m=1.5'])).toThrow(/cosface m3 in \(0, 1\)/);
    expect(() => loadConfig(undefined, ['head.guard=maybe'])).toThrow(/expected one of th_mm, easy, none/);
  });
});

describe('training through the heads', () => {
  test('every op a head uses has a gradient rule (or is discrete)', () => {
    for (const spec of SPECS) {
      const { graph } = headGraph(spec, { embeddingSize: E, classes: C }, 1);
      const missing = graph.nodes.map((n) => n.opType).filter((op) => !(op in GRADIENT_RULES) && !DISCRETE_OPS.has(op));
      expect(missing).toEqual([]);
    }
  });

  test.each(SPECS.slice(0, 5).map((s) => [s.type, s] as const))('%s: autodiff gradient of the head weights = finite differences of the float64 reference', async (_name, spec) => {
    const { graph } = headGraph(spec, { embeddingSize: E, classes: C }, 7);
    const batch = randomBatch(13, 6);
    const training = buildTrainingGraph(graph, { loss: 'loss' });
    const session = await ort.InferenceSession.create(encodeOnnx(training.graph), { intraOpNumThreads: 1, logSeverityLevel: 3 });
    const feeds: Record<string, ort.Tensor> = {
      embedding: new ort.Tensor('float32', Float32Array.from(batch.x.flat()), [batch.x.length, E]),
      labels: new ort.Tensor('float32', oneHot(batch.labels, C), [batch.x.length, C]),
    };
    for (const p of training.params) {
      const t = graph.initializers.get(p)!.tensor;
      feeds[p] = new ort.Tensor('float32', t.data as Float32Array, t.dims);
    }
    const out = await session.run(feeds);
    await session.release();
    const params = paramsOf(graph);
    const h = 1e-6;
    const analytic = out[training.gradOutputs.get('head.weight')!].data as Float32Array;
    let worst = 0;
    params.w.forEach((row, c) =>
      row.forEach((v, e) => {
        row[e] = v + h;
        const up = refHead(spec, params, batch).loss;
        row[e] = v - h;
        const down = refHead(spec, params, batch).loss;
        row[e] = v;
        const numeric = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(analytic[c * E + e] - numeric) / (2e-5 + 1e-5 * Math.abs(numeric)));
      }),
    );
    expect(worst).toBeLessThanOrEqual(1);
  });

  test('attached to a backbone: one graph from images and labels to the loss, which onnxruntime runs', async () => {
    const backbone = buildBackbone('tiny', { embeddingSize: 16, dropout: 0, seed: 0 });
    const { graph, outputs } = attachHead(backbone, { type: 'arcface', s: 64, m2: 0.5, guard: 'th_mm', labelSmoothing: 0 }, 3, 0);
    expect(outputs).toEqual({ loss: 'loss', logits: 'logits', scores: 'scores' });
    expect(graph.inputs.map((i) => i.name)).toEqual(['input', 'labels']);
    expect(graph.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['loss', []],
      ['logits', ['N', 3]],
      ['scores', ['N', 3]],
      ['embedding', ['N', 16]],
    ]);
    expect(backbone.initializers.has('head.weight')).toBe(false);
    const session = await ort.InferenceSession.create(encodeOnnx(graph), { intraOpNumThreads: 1, logSeverityLevel: 3 });
    const rng = new Rng(1, 'images');
    const images = Float32Array.from({ length: 2 * 3 * 112 * 112 }, () => rng.range(-1, 1));
    const out = await session.run({
      input: new ort.Tensor('float32', images, [2, 3, 112, 112]),
      labels: new ort.Tensor('float32', oneHot([0, 2], 3), [2, 3]),
    });
    await session.release();
    expect(Number.isFinite(Number(out.loss.data[0]))).toBe(true);
    expect(() => attachHead(graph, { type: 'softmax', labelSmoothing: 0 }, 3, 0)).toThrow(/already has a tensor named/);
  });
});
