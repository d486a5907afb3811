#!/usr/bin/env node
/**
 * The optimisers' hot loops for BENCHMARKS.md ("train"): SGD with momentum (an existing buffer),
 * AdamW and the gradients' sum of squares over ResNet-50's 25 M parameters, as plain JS loops over
 * Float32Arrays and as the WebAssembly SIMD kernels `train` uses (src/core/train/optim/simd.ts).
 * Median of 7 runs after one warm-up, one thread.
 *
 * Usage: node bench/optimizer.js [PARAMS]   (default 25000000)
 */
require('ts-node').register({ transpileOnly: true, project: `${__dirname}/../tsconfig.json` });
const { adamwStep, sgdMomentumStep, sumOfSquares } = require('../src/core/train/optim/simd');

const n = Number(process.argv[2] ?? 25e6);
const filled = (v) => Float32Array.from({ length: n }, (_, i) => v * (1 + (i % 7) / 10));
const param = filled(0.01);
const grad = filled(0.001);
const buf = filled(0.002);

function sgdJs(p, g, b, lr, wd, momentum, keep) {
  for (let i = 0; i < p.length; i++) {
    b[i] = momentum * b[i] + keep * (g[i] + wd * p[i]);
    p[i] -= lr * b[i];
  }
}
function adamwJs(p, g, m, v, k) {
  for (let i = 0; i < p.length; i++) {
    m[i] = k.beta1 * m[i] + (1 - k.beta1) * g[i];
    v[i] = k.beta2 * v[i] + (1 - k.beta2) * g[i] * g[i];
    p[i] = p[i] * k.shrink - (k.stepSize * m[i]) / (Math.sqrt(v[i]) / k.bias2Sqrt + k.eps);
  }
}
function sumOfSquaresJs(g) {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return s;
}

function time(name, f) {
  f();
  const ms = [];
  for (let r = 0; r < 7; r++) {
    const t = process.hrtime.bigint();
    f();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  console.log(`${name.padEnd(34)} ${ms[3].toFixed(1).padStart(7)} ms`);
}

console.log(`${n} parameters`);
time('SGD momentum step, JS loop', () => sgdJs(param, grad, buf, 1e-4, 5e-4, 0.9, 1));
time('SGD momentum step, WASM SIMD', () => sgdMomentumStep(param, grad, buf, 1e-4, 5e-4, 0.9, 1));
const second = filled(0.003);
const adamw = { beta1: 0.9, beta2: 0.999, shrink: 1 - 1e-3 * 0.05, stepSize: 1e-3 / (1 - 0.9 ** 2), bias2Sqrt: Math.sqrt(1 - 0.999 ** 2), eps: 1e-8 };
time('AdamW step, JS loop', () => adamwJs(param, grad, buf, second, adamw));
time('AdamW step, WASM SIMD', () => adamwStep(param, grad, buf, second, adamw));
time('sum of squares, JS loop', () => sumOfSquaresJs(grad));
time('sum of squares, WASM SIMD', () => sumOfSquares(grad));
