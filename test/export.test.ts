import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_ENGINE, EmbeddingSession } from '../src/core/engines/onnxruntime';
import { exportOnnx, deployableGraph } from '../src/core/export/exportOnnx';
import { inputSpecFromMetadata } from '../src/core/export/metadata';
import { decodeOnnx, encodeOnnx } from '../src/core/graph/onnx';
import { Graph } from '../src/core/graph/types';
import { loadConfig } from '../src/core/config';
import { buildFromConfig, describeModel } from '../src/core/model/load';
import { Rng } from '../src/core/util/rng';
import { GraphBuilder } from '../src/core/graph/builder';
import { resolveOutputs } from '../src/core/graph/shapes';
import { add, batchNorm, conv2d, dropout, flatten, linear, prelu } from '../src/core/nn/layers';

/** Fresh BatchNorms are identities; give them real statistics so that folding has work to do. */
function randomizeBatchNorms(g: Graph, seed: number): void {
  const rng = new Rng(seed, 'bn-stats');
  for (const [name, init] of g.initializers) {
    const data = init.tensor.data as Float32Array;
    if (name.endsWith('running_mean') || name.endsWith('.bias')) data.forEach((_, i) => (data[i] = rng.range(-0.5, 0.5)));
    if (name.endsWith('running_var')) data.forEach((_, i) => (data[i] = rng.range(0.5, 2)));
    if (name.endsWith('bn.weight')) data.forEach((_, i) => (data[i] = rng.range(0.5, 1.5)));
  }
}

function modelFor(backbone: string, sets: string[] = []) {
  const config = loadConfig(backbone, sets);
  const graph = buildFromConfig(config);
  randomizeBatchNorms(graph, 11);
  return { config, graph };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-export-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('export-onnx', () => {
  test.each(['tiny', 'mobilefacenet'])('%s: folded export matches the unfolded graph within 1e-4', async (name) => {
    const { config, graph } = modelFor(name);
    const out = path.join(tmp, `${name}.onnx`);
    const result = await exportOnnx(graph, describeModel(config), out, { l2Normalize: false, verify: true, engine: DEFAULT_ENGINE, verifyBatch: 3 });
    expect(result.verification!.maxRelativeError).toBeLessThan(1e-4);
    expect(result.foldedBatchNorms).toBeGreaterThan(0);
    const written = decodeOnnx(fs.readFileSync(out));
    // Inference graph: no BatchNorm after a Conv/Gemm, no Dropout, only the backbone's output.
    expect(written.nodes.filter((n) => n.opType === 'Dropout')).toHaveLength(0);
    expect(written.outputs.map((o) => o.name)).toEqual(['embedding']);
    expect(written.inputs[0].shape[0]).toBe('N');
    if (name !== 'tiny') expect(result.remainingBatchNorms).toBe(0);
  });

  test('BatchNorm before Flatten/Dropout/Gemm and after Gemm (the seed and IResNet heads) folds exactly', async () => {
    const b = new GraphBuilder('head', 2);
    let x = b.input('input', ['N', 3, 112, 112]);
    x = conv2d(b, 'conv', x, { inC: 3, outC: 4, k: 3, stride: 16, pad: 1 }); // [N,4,7,7], conv output feeds a BN that cannot fold into it
    x = add(b, x, x);
    x = flatten(b, batchNorm(b, 'bn2', x, 4));
    x = dropout(b, x, 0.4);
    x = batchNorm(b, 'features', linear(b, 'fc', x, 4 * 7 * 7, 8), 8, 1e-3);
    b.output(x, 'embedding');
    resolveOutputs(b.graph);
    randomizeBatchNorms(b.graph, 3);
    const { config } = modelFor('tiny');
    const out = path.join(tmp, 'head.onnx');
    const result = await exportOnnx(b.graph, describeModel(config), out, { l2Normalize: false, verify: true, engine: DEFAULT_ENGINE });
    expect(result.foldedBatchNorms).toBe(2);
    expect(result.remainingBatchNorms).toBe(0);
    expect(result.removedNoops).toBe(1);
    expect(decodeOnnx(fs.readFileSync(out)).nodes.map((n) => n.opType)).toEqual(['Conv', 'Add', 'Flatten', 'Gemm']);
    expect(result.verification!.maxRelativeError).toBeLessThan(1e-5);
  });

  test('PReLU over NCHW is written as depthwise convolutions (a shorter form when every slope is at most 1): the same function, other PReLUs kept', async () => {
    const b = new GraphBuilder('prelu', 2);
    let x = b.input('input', ['N', 3, 112, 112]);
    x = conv2d(b, 'conv', x, { inC: 3, outC: 5, k: 3, stride: 16, pad: 1 }); // [N,5,7,7]
    x = prelu(b, 'act', x, 5);
    x = prelu(b, 'act2', x, 5);
    x = flatten(b, x);
    x = prelu(b, 'flat_act', x, 5 * 7 * 7, false); // rank 2: stays a PRelu
    b.output(x, 'embedding');
    resolveOutputs(b.graph);
    // Negative, zero, fractional, one and above-one slopes: x + (1 - a) * relu(-x) must equal each.
    (b.graph.initializers.get('act.weight')!.tensor.data as Float32Array).set([-0.5, 0, 0.25, 1, 1.7]);
    // Every slope at most 1: the shorter form x + relu((a - 1) * x).
    (b.graph.initializers.get('act2.weight')!.tensor.data as Float32Array).set([-0.5, 0, 0.25, 1, 0.9]);
    const { config } = modelFor('tiny');
    const out = path.join(tmp, 'prelu.onnx');
    const result = await exportOnnx(b.graph, describeModel(config), out, { l2Normalize: false, verify: true, engine: DEFAULT_ENGINE });
    expect(result.preluAsConvs).toBe(2);
    expect(decodeOnnx(fs.readFileSync(out)).nodes.map((n) => n.opType)).toEqual(['Conv', 'Conv', 'Relu', 'Conv', 'Add', 'Conv', 'Relu', 'Add', 'Flatten', 'PRelu']);
    expect(result.verification!.maxRelativeError).toBeLessThan(1e-5);
  });

  test('narrow grouped convolutions are written as summed depthwise convolutions: the same function, other groupings kept', async () => {
    const b = new GraphBuilder('grouped', 2);
    let x = b.input('input', ['N', 3, 112, 112]);
    x = conv2d(b, 'stem', x, { inC: 3, outC: 6, k: 3, stride: 8, pad: 1 }); // [N,6,14,14]
    x = conv2d(b, 'pairs', x, { inC: 6, outC: 6, k: 3, stride: 2, pad: 1, groups: 3, bias: true }); // 2 per group, strided
    x = conv2d(b, 'triples', x, { inC: 6, outC: 6, k: 3, pad: 1, groups: 2 }); // 3 per group
    x = conv2d(b, 'widening', x, { inC: 6, outC: 12, k: 1, groups: 3 }); // 2 in, 4 out per group: kept
    x = flatten(b, x);
    b.output(x, 'embedding');
    resolveOutputs(b.graph);
    const bias = b.graph.initializers.get('pairs.bias')!.tensor.data as Float32Array;
    bias.forEach((_, i) => (bias[i] = 0.1 * (i - 2)));
    const { config } = modelFor('tiny');
    const out = path.join(tmp, 'grouped.onnx');
    const result = await exportOnnx(b.graph, describeModel(config), out, { l2Normalize: false, verify: true, engine: DEFAULT_ENGINE });
    expect(result.groupedAsDepthwise).toBe(2);
    const written = decodeOnnx(fs.readFileSync(out));
    const groupsOf = (n: Graph['nodes'][number]) => (n.attrs.group?.value as number | undefined) ?? 1;
    // stem; pairs: term 0, rotation, term 1, sum; triples: term 0, two rotations and terms, two sums; widening.
    expect(written.nodes.map((n) => `${n.opType}${groupsOf(n) > 1 ? `/${groupsOf(n)}` : ''}`)).toEqual([
      'Conv', 'Conv/6', 'Conv', 'Conv/6', 'Add', 'Conv/6', 'Conv', 'Conv/6', 'Conv', 'Conv/6', 'Add', 'Add', 'Conv/3', 'Flatten',
    ]);
    // The grouped weights are gone from the file; the kept conv's are not.
    expect(written.initializers.has('pairs.weight') || written.initializers.has('triples.weight')).toBe(false);
    expect(written.initializers.has('widening.weight')).toBe(true);
    expect(result.verification!.maxRelativeError).toBeLessThan(1e-5);
  });

  test('a wrong fold is caught by verification (the check can fail)', async () => {
    const { config, graph } = modelFor('tiny');
    const out = path.join(tmp, 'tampered.onnx');
    await exportOnnx(graph, describeModel(config), out, { l2Normalize: false, verify: false, engine: DEFAULT_ENGINE });
    // Reference graph with one BN variance changed: the folded file no longer matches it.
    const tampered = modelFor('tiny').graph;
    const v = tampered.initializers.get('backbone.conv2.bn.running_var')!.tensor.data as Float32Array;
    v[0] *= 4;
    const { verifyExport } = await import('../src/core/export/exportOnnx');
    const check = await verifyExport(out, tampered, false, { l2Normalize: false, verify: true, engine: DEFAULT_ENGINE });
    expect(check.maxRelativeError).toBeGreaterThan(1e-3);
  });

  test('dynamic batch: the same file runs at batch 1 and 5 with consistent rows', async () => {
    const { config, graph } = modelFor('tiny');
    const out = path.join(tmp, 'dyn.onnx');
    await exportOnnx(graph, describeModel(config), out, { l2Normalize: true, verify: true, engine: DEFAULT_ENGINE });
    const s = await EmbeddingSession.create(out, DEFAULT_ENGINE);
    const rng = new Rng(5, 'x');
    const x = Float32Array.from({ length: 5 * 3 * 112 * 112 }, () => rng.range(-1, 1));
    const five = (await s.run(x, 5)).data;
    const one = (await s.run(x.slice(0, 3 * 112 * 112), 1)).data;
    const e = config.model.embedding_size;
    for (let i = 0; i < e; i++) expect(one[i]).toBeCloseTo(five[i], 5);
    // L2-normalised rows.
    for (let r = 0; r < 5; r++) {
      const norm = Math.hypot(...five.slice(r * e, (r + 1) * e));
      expect(norm).toBeCloseTo(1, 5);
    }
    await s.release();
  });

  test('metadata tells a consumer how to feed the model', async () => {
    const { config, graph } = modelFor('tiny', ['input.color=bgr']);
    const { graph: deployed } = deployableGraph(graph, describeModel(config), true);
    const back = decodeOnnx(encodeOnnx(deployed));
    expect(inputSpecFromMetadata(back.metadata)).toEqual({ size: 112, color: 'bgr', mean: 127.5, std: 127.5, layout: 'NCHW' });
    expect(back.metadata.embedding_size).toBe(String(config.model.embedding_size));
    expect(back.metadata.embedding_normalized).toBe('true');
    expect(JSON.parse(back.metadata.alignment_template)[0]).toEqual([38.2946, 51.6963]);
  });

  test('exporting does not modify the trainable graph', () => {
    const { config, graph } = modelFor('tiny');
    const before = encodeOnnx(graph);
    deployableGraph(graph, describeModel(config), true);
    expect(Buffer.from(encodeOnnx(graph))).toEqual(Buffer.from(before));
  });
});
