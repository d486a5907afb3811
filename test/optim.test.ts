import { adamwStep, sgdMomentumStep, sumOfSquares } from '../src/core/train/optim/simd';
import { loadConfig } from '../src/core/config';
import { baseLearningRate, optimizerSpec } from '../src/core/config/sections/optimizer';
import { scheduleOf } from '../src/core/config/sections/schedule';
import { GraphBuilder } from '../src/core/graph/builder';
import { batchNorm, conv2d, flatten, linear, prelu } from '../src/core/nn/layers';
import { buildBackbone } from '../src/core/nn/registry';
import {
  GradientAccumulator,
  NonFiniteError,
  Optimizer,
  OptimizerSpec,
  ParamTensors,
  Updater,
  clipGradNorm,
  createOptimizer,
  findNonFinite,
  globalNorm,
  noDecayParams,
  noDecayRule,
} from '../src/core/train/optim';
import { Schedule, learningRate, validateSchedule } from '../src/core/train/schedule';
import { Rng } from '../src/core/util/rng';

/**
 * Expected values are PyTorch's: written from the formulas in torch.optim's documentation, and
 * checked to agree with torch 1.13's SGD, AdamW, CosineAnnealingLR, StepLR, clip_grad_norm_
 * (float32) to the digits shown.
 */

const GRADS = [
  [0.5, 1.0],
  [-0.25, 0.5],
  [0.1, -0.1],
];

const SGD: OptimizerSpec = { type: 'sgd', momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0.01 };
const ADAMW: OptimizerSpec = { type: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 };
const decayAll = () => false;

/** Three steps at lr 0.1 from p = (1, -2); the parameter after each. */
function trajectory(opt: Optimizer, steps = GRADS, name = 'p'): number[][] {
  const params: ParamTensors = new Map([[name, Float32Array.of(1, -2)]]);
  return steps.map((g) => {
    opt.update(params, new Map([[name, Float32Array.from(g)]]), 0.1);
    return Array.from(params.get(name)!);
  });
}

function expectRows(actual: number[][], expected: number[][], digits = 6): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], digits)));
}

describe('SGD (torch.optim.SGD semantics)', () => {
  test('momentum 0.9 and weight decay 0.01: three steps by hand', () => {
    // Step 1: d = g + 0.01 p = (0.51, 0.98); buf = d; p = p - 0.1 d = (0.949, -2.098).
    // Step 2: d = (-0.25 + 0.00949, 0.5 - 0.02098) = (-0.24051, 0.47902);
    //         buf = 0.9 (0.51, 0.98) + d = (0.21849, 1.36102); p = (0.927151, -2.234102).
    // Step 3: d = (0.10927151, -0.12234102); buf = (0.30591251, 1.10257698); p = (0.89655975, -2.3443597).
    expectRows(trajectory(createOptimizer(SGD, decayAll)), [
      [0.949, -2.098],
      [0.927151, -2.234102],
      [0.89655975, -2.3443597],
    ]);
  });

  test('Nesterov, dampening and no momentum', () => {
    // Nesterov step 1: g + 0.9 buf = 1.9 (0.51, 0.98) -> p = (0.9031, -2.1862).
    expectRows(trajectory(createOptimizer({ ...SGD, nesterov: true }, decayAll)), [
      [0.9031, -2.1862],
      [0.90757412, -2.3564262],
      [0.8691892, -2.4431202],
    ]);
    // Dampening 0.5: the first buffer is the raw d (as PyTorch), later ones add 0.5 d.
    expectRows(trajectory(createOptimizer({ ...SGD, dampening: 0.5 }, decayAll)), [
      [0.949, -2.098],
      [0.9151255, -2.210151],
      [0.87918085, -2.3049817],
    ]);
    const plain = createOptimizer({ ...SGD, momentum: 0 }, decayAll);
    expectRows(trajectory(plain), [
      [0.949, -2.098],
      [0.973051, -2.1459022],
      [0.962078, -2.1337562],
    ]);
    expect(plain.state().buffers.size).toBe(0);
    expect(() => createOptimizer({ ...SGD, momentum: 0, nesterov: true }, decayAll)).toThrow(/nesterov/);
  });

  test('exempt parameters get no weight decay; the others do', () => {
    const opt = createOptimizer(SGD, (name) => name === 'bn.weight');
    const params: ParamTensors = new Map([
      ['bn.weight', Float32Array.of(1, -2)],
      ['conv.weight', Float32Array.of(1, -2)],
    ]);
    for (const g of GRADS) opt.update(params, new Map([...params.keys()].map((k) => [k, Float32Array.from(g)])), 0.1);
    expect(Array.from(params.get('bn.weight')!).map((v) => +v.toFixed(6))).toEqual([0.902, -2.356]); // torch with weight_decay=0
    expect(Array.from(params.get('conv.weight')!).map((v) => +v.toFixed(6))).toEqual([0.89656, -2.34436]);
  });
});

describe('AdamW (torch.optim.AdamW semantics)', () => {
  test('three steps, with the moments and per-parameter step in the state', () => {
    // Step 1: p = (1, -2) * (1 - 0.1 * 0.01) = (0.999, -1.998); m = 0.1 g, v = 0.001 g^2;
    // bias-corrected m / sqrt(v) = g / |g| = (1, 1), so p = (0.999 - 0.1, -1.998 - 0.1) = (0.899, -2.098).
    const opt = createOptimizer(ADAMW, decayAll);
    expectRows(trajectory(opt), [
      [0.899, -2.098],
      [0.87146735, -2.1891198],
      [0.8390715, -2.2530053],
    ]);
    const state = opt.state();
    expect(state).toMatchObject({ type: 'adamw', step: 3 });
    expect(Array.from(state.buffers.get('p.step')!)).toEqual([3]);
    expectRows([Array.from(state.buffers.get('p.exp_avg')!)], [[0.028, 0.116]], 7);
    expectRows([Array.from(state.buffers.get('p.exp_avg_sq')!)], [[0.00032193775, 0.001257751]], 9);
  });

  test('bias correction makes the first step lr-sized whatever the gradient scale; exempt parameters skip the decay', () => {
    // (Down to gradients near eps = 1e-8, where eps starts to shorten the step.)
    for (const scale of [1e-2, 1, 1e4]) {
      const opt = createOptimizer({ ...ADAMW, weightDecay: 0 }, decayAll);
      const params: ParamTensors = new Map([['p', Float32Array.of(1, -2)]]);
      opt.update(params, new Map([['p', Float32Array.of(0.5 * scale, -1 * scale)]]), 0.1);
      expectRows([Array.from(params.get('p')!)], [[0.9, -1.9]], 5);
    }
    expectRows(trajectory(createOptimizer(ADAMW, () => true)), [
      [0.9, -2.1],
      [0.87336636, -2.1932178],
      [0.841842, -2.2592924],
    ]);
  });
});

describe('optimizer state', () => {
  test.each([
    ['sgd', SGD],
    ['adamw', ADAMW],
  ] as const)('%s: resuming from a saved state continues exactly', (_name, spec) => {
    const straight = trajectory(createOptimizer(spec, decayAll));
    const first = createOptimizer(spec, decayAll);
    const params: ParamTensors = new Map([['p', Float32Array.of(1, -2)]]);
    for (const g of GRADS.slice(0, 2)) first.update(params, new Map([['p', Float32Array.from(g)]]), 0.1);
    const saved = first.state();
    const resumed = createOptimizer(spec, decayAll, saved);
    // The state handed out is a copy: changing it afterwards affects neither optimiser.
    for (const b of saved.buffers.values()) b.fill(123);
    expect(resumed.step).toBe(2);
    resumed.update(params, new Map([['p', Float32Array.from(GRADS[2])]]), 0.1);
    expect(Array.from(params.get('p')!)).toEqual(straight[2].map(Math.fround));
    expect(() => createOptimizer(spec.type === 'sgd' ? ADAMW : SGD, decayAll, first.state())).toThrow(/cannot resume/);
  });

  test('a state that does not fit the parameters is refused', () => {
    const opt = createOptimizer(SGD, decayAll, { type: 'sgd', step: 1, buffers: new Map([['p.momentum_buffer', new Float32Array(3)]]) });
    expect(() => trajectory(opt)).toThrow(/p.momentum_buffer has 3 values, the parameter 2/);
    expect(() => trajectory(createOptimizer(SGD, decayAll), [[1, 2, 3]])).toThrow(/p: gradient has 3 values, the parameter 2/);
    const params: ParamTensors = new Map([['p', Float32Array.of(1)]]);
    expect(() => createOptimizer(ADAMW, decayAll).update(params, new Map([['q', Float32Array.of(1)]]), 0.1)).toThrow(/gradient for q, which is not a parameter/);
  });
});

describe('weight-decay exemptions from the graph', () => {
  test('rank <= 1 tensors and PReLU slopes are exempt; kernels and weight matrices decay', () => {
    const b = new GraphBuilder('net', 0);
    let x = conv2d(b, 'conv', b.input('input', ['N', 3, 8, 8]), { inC: 3, outC: 4, k: 3, pad: 1, bias: true });
    x = prelu(b, 'act', batchNorm(b, 'bn', x, 4), 4);
    linear(b, 'fc', flatten(b, x), 256, 10);
    expect([...noDecayParams(b.graph)].sort()).toEqual(['act.weight', 'bn.bias', 'bn.weight', 'conv.bias', 'fc.bias']);
    expect(noDecayRule(b.graph, false)('bn.weight')).toBe(false);
    expect(noDecayRule(b.graph, true)('conv.weight')).toBe(false);
  });

  test('in a real backbone only conv kernels and the embedding matrix decay', () => {
    const g = buildBackbone('tiny', { embeddingSize: 16, dropout: 0, seed: 0 });
    const exempt = noDecayParams(g);
    const decayed = [...g.initializers.values()].filter((i) => i.role === 'trainable' && !exempt.has(i.name)).map((i) => i.name);
    expect(decayed.every((n) => /conv\.weight$|fc\.weight$/.test(n))).toBe(true);
    expect([...exempt].every((n) => /(bn|prelu)\.(weight|bias)$/.test(n))).toBe(true);
  });
});

describe('schedules', () => {
  const at = (s: Schedule, steps: number[]) => steps.map((t) => learningRate(s, t));

  test('cosine annealing to eta_min (CosineAnnealingLR closed form)', () => {
    const s: Schedule = { baseLr: 0.1, totalSteps: 100, warmupSteps: 0, decay: { type: 'cosine', etaMin: 0.001 } };
    // base at 0, (base + eta_min) / 2 at T/2, eta_min at T; torch gives 0.0855017857 and 0.0154982143 at T/4, 3T/4.
    at(s, [0, 25, 50, 75, 100, 150]).forEach((v, i) => expect(v).toBeCloseTo([0.1, 0.0855017857, 0.0505, 0.0154982143, 0.001, 0.001][i], 10));
  });

  test('linear warm-up then polynomial decay (insightface PolyScheduler)', () => {
    const s: Schedule = { baseLr: 0.1, totalSteps: 110, warmupSteps: 10, decay: { type: 'poly', power: 2, etaMin: 0 } };
    // Warm-up base * t / 10; then base * (1 - (t - 10) / 100)^2.
    at(s, [0, 5, 9, 10, 60, 85, 110]).forEach((v, i) => expect(v).toBeCloseTo([0, 0.05, 0.09, 0.1, 0.025, 0.00625, 0][i], 12));
  });

  test('step decay (StepLR)', () => {
    const s: Schedule = { baseLr: 0.1, totalSteps: 100, warmupSteps: 0, decay: { type: 'step', stepSize: 30, gamma: 0.1 } };
    at(s, [0, 29, 30, 59, 60, 90]).forEach((v, i) => expect(v).toBeCloseTo([0.1, 0.1, 0.01, 0.01, 0.001, 0.0001][i], 12));
  });

  test('from the config: epochs become optimiser steps', () => {
    const c = loadConfig(undefined, ['schedule.type=poly', 'schedule.warmup_epochs=0.5', 'optimizer.accumulation_steps=2']);
    // 40 micro-batches per epoch at 2 per step: 20 optimiser steps per epoch, 10 epochs.
    const s = scheduleOf(c.schedule, baseLearningRate(c.optimizer), { stepsPerEpoch: 20, totalSteps: 200 });
    expect(s).toEqual({ baseLr: 0.1, totalSteps: 200, warmupSteps: 10, decay: { type: 'poly', power: 2, etaMin: 0 } });
    expect(() => validateSchedule(s)).not.toThrow();
    const step = scheduleOf({ ...c.schedule, type: 'step', step_epochs: 3 }, 0.1, { stepsPerEpoch: 20, totalSteps: 200 });
    expect(step.decay).toEqual({ type: 'step', stepSize: 60, gamma: 0.1 });
    expect(() => validateSchedule({ ...s, decay: { type: 'cosine', etaMin: 0.5 } })).toThrow(/eta_min/);
  });

  test('optimizer config: per-type defaults for lr and weight decay', () => {
    const sgd = loadConfig().optimizer;
    expect(optimizerSpec(sgd)).toEqual({ type: 'sgd', momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 5e-4 });
    const adamw = loadConfig(undefined, ['optimizer.type=adamw']).optimizer;
    expect(baseLearningRate(adamw)).toBe(0.001);
    expect(optimizerSpec(adamw)).toEqual({ type: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 });
    expect(baseLearningRate(loadConfig(undefined, ['optimizer.lr=0.05']).optimizer)).toBe(0.05);
    expect(() => loadConfig(undefined, ['optimizer.nesterov=true', 'optimizer.momentum=0'])).toThrow(/optimizer.nesterov/);
  });
});

/** A linear model y = w . x with loss mean((w . x - y)^2): gradient 2/n sum (w . x - y) x. */
function linearGrad(w: Float32Array, xs: number[][], ys: number[]): ParamTensors {
  const g = new Float32Array(w.length);
  xs.forEach((x, i) => {
    const r = x.reduce((s, v, j) => s + v * w[j], 0) - ys[i];
    x.forEach((v, j) => (g[j] += (2 * r * v) / xs.length));
  });
  return new Map([['w', g]]);
}

describe('gradient accumulation', () => {
  const xs = [
    [1, 2, 0.5],
    [-1, 0.5, 2],
    [0.3, -0.7, 1],
    [2, 1, -1],
    [0.1, 0.2, 0.3],
    [-2, 1.5, 0.5],
  ];
  const ys = [1, -2, 0.5, 3, 0, -1];
  const w = Float32Array.of(0.2, -0.4, 0.6);

  test.each([
    ['equal micro-batches', [2, 2, 2]],
    ['unequal micro-batches', [4, 1, 1]],
  ])('%s give the big batch gradient', (_name, sizes) => {
    const big = linearGrad(w, xs, ys).get('w')!;
    const acc = new GradientAccumulator(sizes.length);
    let start = 0;
    for (const n of sizes) {
      acc.add(linearGrad(w, xs.slice(start, start + n), ys.slice(start, start + n)), n);
      start += n;
    }
    expect(acc.full).toBe(true);
    Array.from(acc.take().get('w')!).forEach((v, i) => expect(v).toBeCloseTo(big[i], 6));
    expect(acc.count).toBe(0);
  });

  test('through the updater: same parameters as one big batch, and the schedule advances per optimiser step', () => {
    const lrs = [0.1, 0.05, 0.025];
    const big = createOptimizer(SGD, decayAll);
    const bigParams: ParamTensors = new Map([['w', w.slice()]]);
    const small = createOptimizer(SGD, decayAll);
    const smallParams: ParamTensors = new Map([['w', w.slice()]]);
    const updater = new Updater({ optimizer: small, learningRate: (t) => lrs[t], accumulationSteps: 3, gradClip: 0 });
    const reports = [];
    for (let step = 0; step < 2; step++) {
      big.update(bigParams, linearGrad(bigParams.get('w')!, xs, ys), lrs[step]);
      for (let i = 0; i < 6; i += 2) {
        const report = updater.push(smallParams, linearGrad(smallParams.get('w')!, xs.slice(i, i + 2), ys.slice(i, i + 2)), 2);
        if (report) reports.push(report);
      }
    }
    expect(reports.map((r) => [r.step, r.lr])).toEqual([
      [0, 0.1],
      [1, 0.05],
    ]);
    expect(small.step).toBe(2);
    Array.from(smallParams.get('w')!).forEach((v, i) => expect(v).toBeCloseTo(bigParams.get('w')![i], 6));
    // A partial accumulation is applied by flush (the end of an epoch), and nothing when none is pending.
    updater.push(smallParams, linearGrad(smallParams.get('w')!, xs, ys), 6);
    expect(updater.pending).toBe(1);
    expect(updater.flush(smallParams)).toMatchObject({ step: 2, lr: 0.025 });
    expect(updater.flush(smallParams)).toBeUndefined();
  });
});

describe('gradient clipping and NaN/Inf detection', () => {
  test('clip_grad_norm_: norm 13 clipped to 6.5 exactly (up to PyTorch\'s 1e-6), below the limit untouched', () => {
    const grads: ParamTensors = new Map([
      ['a', Float32Array.of(3, 4, 0)],
      ['b', Float32Array.of(0, 12)],
    ]);
    expect(clipGradNorm(grads, 6.5)).toBe(13);
    // torch: a = (1.4999999, 1.9999999, 0), b = (0, 5.9999995).
    expect(Array.from(grads.get('a')!)).toEqual([Math.fround(1.4999999), Math.fround(1.9999999), 0]);
    expect(Array.from(grads.get('b')!)).toEqual([0, Math.fround(5.9999995)]);
    // The norm is summed in float32 lanes (as torch's), so it holds to float32's ~1e-7 relative.
    const clippedNorm = (6.5 * 13) / (13 + 1e-6);
    expect(globalNorm(grads)).toBeCloseTo(clippedNorm, 6);
    const before = Array.from(grads.get('b')!);
    expect(clipGradNorm(grads, 100)).toBeCloseTo(clippedNorm, 6);
    expect(Array.from(grads.get('b')!)).toEqual(before);
  });

  test('the updater clips before stepping and reports the norm', () => {
    const params: ParamTensors = new Map([['p', Float32Array.of(0, 0)]]);
    const updater = new Updater({ optimizer: createOptimizer({ ...SGD, momentum: 0, weightDecay: 0 }, decayAll), learningRate: () => 1, accumulationSteps: 1, gradClip: 1 });
    expect(updater.push(params, new Map([['p', Float32Array.of(3, 4)]]), 1)).toEqual({ step: 0, lr: 1, gradNorm: 5, clipped: true });
    Array.from(params.get('p')!).forEach((v, i) => expect(v).toBeCloseTo([-0.6, -0.8][i], 6));
  });

  test('the engine\'s sum of squares stands in for the pass over the gradients, only without accumulation', () => {
    const sgdPlain = () => createOptimizer({ ...SGD, momentum: 0, weightDecay: 0 }, decayAll);
    const params: ParamTensors = new Map([['p', Float32Array.of(0, 0)]]);
    const updater = new Updater({ optimizer: sgdPlain(), learningRate: () => 1, accumulationSteps: 1, gradClip: 1 });
    // The given 100 (norm 10), not the gradient's own 25 (norm 5), sets the norm and the clipping.
    expect(updater.push(params, new Map([['p', Float32Array.of(3, 4)]]), 1, 100)).toEqual({ step: 0, lr: 1, gradNorm: 10, clipped: true });
    Array.from(params.get('p')!).forEach((v, i) => expect(v).toBeCloseTo([-0.3, -0.4][i], 6));
    // With accumulation the sum is the accumulated gradients' own: (3, 4) and (5, 12) average to (4, 8).
    const accumulating = new Updater({ optimizer: sgdPlain(), learningRate: () => 1, accumulationSteps: 2, gradClip: 0 });
    expect(accumulating.push(new Map([['p', Float32Array.of(0, 0)]]), new Map([['p', Float32Array.of(3, 4)]]), 1, 100)).toBeUndefined();
    expect(accumulating.push(new Map([['p', Float32Array.of(0, 0)]]), new Map([['p', Float32Array.of(5, 12)]]), 1, 100)?.gradNorm).toBeCloseTo(Math.sqrt(80), 6);
    // A non-finite sum stops the step: the tensor is named when one holds NaN/Inf, else the norm.
    const check = (grad: Float32Array, sum: number) => {
      try {
        new Updater({ optimizer: sgdPlain(), learningRate: () => 1, accumulationSteps: 1, gradClip: 0 }).push(new Map([['p', Float32Array.of(1, 1)]]), new Map([['p', grad]]), 1, sum);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(check(Float32Array.of(1, NaN), NaN)).toBe('step 0: p is NaN (at index 1)');
    expect(check(Float32Array.of(1, 2), Infinity)).toBe('step 0: the global gradient norm is Infinity (at index 0)');
  });

  test('a NaN or Inf gradient stops the update, names the step and the tensor, and leaves the parameters alone', () => {
    expect(findNonFinite(new Map([['a', Float32Array.of(1, 2)], ['b', Float32Array.of(0, Infinity)]]))).toEqual({ tensor: 'b', index: 1, value: Infinity });
    expect(findNonFinite(new Map([['a', Float32Array.of(1, 2)]]))).toBeUndefined();
    const params: ParamTensors = new Map([['p', Float32Array.of(1, -2)], ['q', Float32Array.of(3)]]);
    const updater = new Updater({ optimizer: createOptimizer(SGD, decayAll), learningRate: () => 0.1, accumulationSteps: 1, gradClip: 0 });
    updater.push(params, new Map([['p', Float32Array.of(0.5, 1)], ['q', Float32Array.of(1)]]), 1);
    const before = new Map([...params].map(([k, v]) => [k, v.slice()]));
    let error: unknown;
    try {
      updater.push(params, new Map([['p', Float32Array.of(0.5, 1)], ['q', Float32Array.of(NaN)]]), 1);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).message).toBe('step 1: q is NaN (at index 0)');
    expect((error as NonFiniteError).step).toBe(1);
    expect(params).toEqual(before);
  });
});

describe('WebAssembly SIMD kernels', () => {
  const rng = new Rng(4, 'simd');
  const random = (n: number) => Float32Array.from({ length: n }, () => rng.range(-2, 2));
  // Window edges (16 K floats) and vector tails (not a multiple of 4).
  const lengths = [1, 3, 4, 5, 16383, 16384, 16385, 40001];

  test('the momentum step matches the float64 formula to float32 rounding, every element, every window', () => {
    for (const n of lengths) {
      const param = random(n);
      const grad = random(n);
      const buf = random(n);
      const [lr, wd, momentum, keep] = [0.1, 5e-4, 0.9, 0.8];
      const wantBuf = Array.from(buf, (b, i) => momentum * b + keep * (grad[i] + wd * param[i]));
      const wantParam = Array.from(param, (p, i) => p - lr * wantBuf[i]);
      sgdMomentumStep(param, grad, buf, lr, wd, momentum, keep);
      let worst = 0;
      for (let i = 0; i < n; i++) {
        worst = Math.max(worst, Math.abs(buf[i] - wantBuf[i]) / (1 + Math.abs(wantBuf[i])), Math.abs(param[i] - wantParam[i]) / (1 + Math.abs(wantParam[i])));
      }
      expect(worst).toBeLessThan(1e-6);
    }
  });

  test('the AdamW step matches the float64 formula to float32 rounding, every element, every window', () => {
    for (const n of lengths) {
      const param = random(n);
      const grad = random(n);
      const m = random(n);
      const v = Float32Array.from(random(n), Math.abs);
      const k = { beta1: 0.9, beta2: 0.999, shrink: 1 - 1e-3 * 0.05, stepSize: 1e-3 / (1 - 0.9 ** 3), bias2Sqrt: Math.sqrt(1 - 0.999 ** 3), eps: 1e-8 };
      const wantM = Array.from(m, (x, i) => k.beta1 * x + (1 - k.beta1) * grad[i]);
      const wantV = Array.from(v, (x, i) => k.beta2 * x + (1 - k.beta2) * grad[i] * grad[i]);
      const wantP = Array.from(param, (x, i) => x * k.shrink - (k.stepSize * wantM[i]) / (Math.sqrt(wantV[i]) / k.bias2Sqrt + k.eps));
      adamwStep(param, grad, m, v, k);
      let worst = 0;
      for (let i = 0; i < n; i++) {
        for (const [got, want] of [[m[i], wantM[i]], [v[i], wantV[i]], [param[i], wantP[i]]]) worst = Math.max(worst, Math.abs(got - want) / (1 + Math.abs(want)));
      }
      expect(worst).toBeLessThan(1e-6);
    }
  });

  test('the sum of squares matches float64 to 1e-6 relative, tails and windows included', () => {
    for (const n of lengths) {
      const values = random(n);
      const want = values.reduce((s, v) => s + v * v, 0);
      expect(Math.abs(sumOfSquares(values) - want) / want).toBeLessThan(1e-6);
    }
    expect(sumOfSquares(new Float32Array(0))).toBe(0);
  });
});
