#!/usr/bin/env node
/**
 * What one elementwise step costs inside an onnxruntime graph, for BENCHMARKS.md ("train",
 * choices measured in the autodiff): a chain of 8 identical steps over an N x C x H x H float
 * tensor (default 32 x 128 x 56 x 56, 51 MB, MobileFaceNet's largest activation at batch 32)
 * ending in a ReduceSum, so that no large tensor leaves the graph; 2 threads, median of 7 runs
 * after 2 warm-ups, divided by the 8 steps.
 *
 * Usage: node bench/elementwise-ops.js [STEP...]   (all steps when none is named)
 *        SHAPE=N,C,H node bench/elementwise-ops.js
 */
require('ts-node').register({ transpileOnly: true, project: `${__dirname}/../tsconfig.json` });
const ort = require('onnxruntime-node');
const { encodeOnnx } = require('../src/core/graph/onnx');
const { attr, float32Tensor } = require('../src/core/graph/types');

const [N, C, H] = (process.env.SHAPE || '32,128,56').split(',').map(Number);
const STEPS_PER_CHAIN = 8;
const dims = [N, C, H, H];
const perChannel = Float32Array.from({ length: C }, (_, i) => 0.9 + (0.2 * i) / C);
const constants = {
  zero: float32Tensor([], Float32Array.of(0)),
  channelScale: float32Tensor([1, C, 1, 1], perChannel),
  slope: float32Tensor([C, 1, 1], perChannel),
  bnScale: float32Tensor([C], perChannel),
  zeros: float32Tensor([C], new Float32Array(C)),
  ones: float32Tensor([C], new Float32Array(C).fill(1)),
};

/** Each step maps the previous tensor `p` to `s${i}`, as [op, inputs, output, attrs?] nodes. */
const STEPS = {
  Relu: (p, i) => [['Relu', [p], `s${i}`]],
  Neg: (p, i) => [['Neg', [p], `s${i}`]],
  'Mul by [1, C, 1, 1]': (p, i) => [['Mul', [p, 'channelScale'], `s${i}`]],
  'Clip(x, max 0) + Sub': (p, i) => [['Clip', [p, '', 'zero'], `m${i}`], ['Sub', [p, `m${i}`], `s${i}`]],
  'Relu + Sub': (p, i) => [['Relu', [p], `m${i}`], ['Sub', [p, `m${i}`], `s${i}`]],
  'Min(x, 0) + Sub': (p, i) => [['Min', [p, 'zero'], `m${i}`], ['Sub', [p, `m${i}`], `s${i}`]],
  'BatchNormalization affine': (p, i) => [['BatchNormalization', [p, 'bnScale', 'zeros', 'zeros', 'ones'], `s${i}`, { epsilon: attr.float(0) }]],
  'Less + Cast, Mul': (p, i) => [['Less', [p, 'zero'], `b${i}`], ['Cast', [`b${i}`], `g${i}`, { to: attr.int(1) }], ['Mul', [p, `g${i}`], `s${i}`]],
  'Greater + Cast, Mul': (p, i) => [['Greater', [p, 'zero'], `b${i}`], ['Cast', [`b${i}`], `g${i}`, { to: attr.int(1) }], ['Mul', [p, `g${i}`], `s${i}`]],
  'HardSigmoid indicator, Mul': (p, i) => [['HardSigmoid', [p], `g${i}`, { alpha: attr.float(3.4028234663852886e38), beta: attr.float(0) }], ['Mul', [p, `g${i}`], `s${i}`]],
  'Greater + Where': (p, i) => [['Greater', [p, 'zero'], `b${i}`], ['Where', [`b${i}`, p, 'zero'], `s${i}`]],
  'Sign, Mul': (p, i) => [['Sign', [p], `g${i}`], ['Mul', [p, `g${i}`], `s${i}`]],
  PRelu: (p, i) => [['PRelu', [p, 'slope'], `s${i}`]],
  'PReLU as Min, Mul, Add': (p, i) => [['Min', [p, 'zero'], `m${i}`], ['Mul', [`m${i}`, 'channelScale'], `t${i}`], ['Add', [p, `t${i}`], `s${i}`]],
  'PReLU as Clip, Mul, Add': (p, i) => [['Clip', [p, '', 'zero'], `m${i}`], ['Mul', [`m${i}`, 'channelScale'], `t${i}`], ['Add', [p, `t${i}`], `s${i}`]],
};

function chain(step) {
  const nodes = [];
  let prev = 'x';
  for (let i = 0; i < STEPS_PER_CHAIN; i++) {
    for (const [opType, inputs, output, attrs] of step(prev, i)) nodes.push({ name: `n${nodes.length}`, opType, domain: '', inputs, outputs: [output], attrs: attrs ?? {} });
    prev = `s${i}`;
  }
  nodes.push({ name: 'sum', opType: 'ReduceSum', domain: '', inputs: [prev], outputs: ['y'], attrs: { keepdims: attr.int(0) } });
  const graph = { name: 'chain', nodes, initializers: new Map(), inputs: [{ name: 'x', dtype: 'float32', shape: dims }], outputs: [{ name: 'y', dtype: 'float32', shape: [] }], metadata: {}, opsetVersion: 17 };
  for (const [name, tensor] of Object.entries(constants)) graph.initializers.set(name, { name, role: 'constant', tensor });
  return encodeOnnx(graph);
}

(async () => {
  const x = new ort.Tensor('float32', Float32Array.from({ length: N * C * H * H }, () => Math.random() - 0.5), dims);
  const only = process.argv.slice(2);
  for (const [name, step] of Object.entries(STEPS)) {
    if (only.length > 0 && !only.includes(name)) continue;
    const session = await ort.InferenceSession.create(chain(step), { intraOpNumThreads: 2, graphOptimizationLevel: 'all', enableMemPattern: false });
    for (let i = 0; i < 2; i++) await session.run({ x });
    const times = [];
    for (let i = 0; i < 7; i++) {
      const t = process.hrtime.bigint();
      await session.run({ x });
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(`${name.padEnd(28)} ${(times[3] / STEPS_PER_CHAIN).toFixed(2)} ms per step`);
    await session.release();
  }
})();
