import * as ort from 'onnxruntime-node';
import { AutodiffError, GRADIENT_RULES, TRAINING_FORMS, buildTrainingGraph, sampleDropoutMask } from '../src/core/autodiff';
import { Emitter } from '../src/core/autodiff/emitter';
import { INPUT_GRAD_FORMULATIONS } from '../src/core/autodiff/rules/convInputGrad';
import { WEIGHT_GRAD_FORMULATIONS } from '../src/core/autodiff/rules/convWeightGrad';
import { GradientRule, RuleSet, TrainingForm, outputGrad } from '../src/core/autodiff/types';
import { GraphBuilder, Init } from '../src/core/graph/builder';
import { inferShapes } from '../src/core/graph/shapes';
import { Attr, Graph, attr, float32Tensor, getAttr, int64Tensor, numel } from '../src/core/graph/types';
import { Rng } from '../src/core/util/rng';
import { bnStatsAsConstants, convWithKernel, transposedKernel } from './helpers/brokenRules';
import { DataFeed, GradcheckOptions, GradcheckReport, Precision, Tolerance, formatReport, gradcheck, session, tensor } from './helpers/gradcheck';

/**
 * Gradient rules as a table, tested as a table: every registered rule and training form has
 * sample cases below, each checked against central finite differences (see helpers/gradcheck.ts
 * for precisions, steps and tolerances). Deliberately broken copies of rules must fail the same
 * check, which is what shows the tolerances are tight enough to matter.
 */

// ---------------------------------------------------------------- sample inputs

const normal =
  (scale = 1): Init =>
  (rng, dims) =>
    Float32Array.from({ length: numel(dims) }, () => scale * rng.normal());
const uniform =
  (lo: number, hi: number): Init =>
  (rng, dims) =>
    Float32Array.from({ length: numel(dims) }, () => rng.range(lo, hi));
/** |x| >= gap: keeps finite differences off the kink at 0 (Relu, PRelu, Abs). */
const awayFromZero =
  (gap = 0.1): Init =>
  (rng, dims) =>
    Float32Array.from({ length: numel(dims) }, () => {
      const v = rng.normal();
      return (v < 0 ? -1 : 1) * (gap + Math.abs(v));
    });
/** Shuffled values `spacing` apart: no ties (MaxPool, Max/Min), so small steps never reorder them. */
const distinct =
  (spacing = 0.1, offset = 0): Init =>
  (rng, dims) => {
    const n = numel(dims);
    return Float32Array.from(rng.shuffled(Array.from({ length: n }, (_, i) => i)), (i) => offset + (i - n / 2) * spacing);
  };

// ---------------------------------------------------------------- the case table

interface OpCase {
  /** Registry entry the case covers: an op type, or `${op}:training` for a training form. */
  covers: string;
  name: string;
  build: (b: GraphBuilder) => string;
  precision?: Precision;
  step?: number;
  /** A stated looser tolerance, where float32 differences of a nonlinear case carry truncation error. */
  tolerance?: Tolerance;
  freeze?: string[];
  /** Values of the case's graph inputs (not trained), and of their symbolic dimensions. */
  inputs?: Record<string, DataFeed>;
  symbols?: Record<string, number>;
}

const p = (b: GraphBuilder, name: string, dims: number[], init: Init = normal()) => b.param(name, dims, init);
const op = (b: GraphBuilder, type: string, inputs: string[], attrs: Record<string, Attr> = {}) => b.op1(type, inputs, attrs);
const ints = (b: GraphBuilder, values: number[]) => b.constant('ints', int64Tensor(values));
const scalar = (b: GraphBuilder, v: number) => b.constant('scalar', float32Tensor([], Float32Array.of(v)));

function unary(type: string, init: Init = normal(), precision?: Precision, step?: number): OpCase {
  return { covers: type, name: `${type} [2,3,4]`, build: (b) => op(b, type, [p(b, 'x', [2, 3, 4], init)]), precision, step };
}

function binary(type: string, a: number[], c: number[], initA: Init = normal(), initC: Init = normal()): OpCase {
  return { covers: type, name: `${type} [${a}] with [${c}]`, build: (b) => op(b, type, [p(b, 'a', a, initA), p(b, 'c', c, initC)]) };
}

interface ConvAttrs {
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  group?: number;
  auto_pad?: string;
}

function convNode(b: GraphBuilder, x: number[], w: number[], a: ConvAttrs, bias: boolean): string {
  const inputs = [p(b, 'x', x), p(b, 'w', w)];
  if (bias) inputs.push(p(b, 'bias', [w[0]]));
  const attrs: Record<string, Attr> = { kernel_shape: attr.ints(w.slice(2)), group: attr.int(a.group ?? 1) };
  if (a.strides) attrs.strides = attr.ints(a.strides);
  if (a.pads) attrs.pads = attr.ints(a.pads);
  if (a.dilations) attrs.dilations = attr.ints(a.dilations);
  if (a.auto_pad) attrs.auto_pad = attr.string(a.auto_pad);
  return op(b, 'Conv', inputs, attrs);
}

/**
 * A conv over an input with a symbolic batch (fed 2 samples): only the weight is trained, and the
 * builder must choose formulations that work without a static batch size.
 */
function symbolicBatchConvCase(name: string, x: number[], w: number[], a: ConvAttrs): OpCase {
  const data = normal()(new Rng(9, 'x'), x);
  return {
    covers: 'Conv',
    name: `Conv ${name}`,
    build: (b) => {
      const attrs: Record<string, Attr> = { kernel_shape: attr.ints(w.slice(2)), group: attr.int(a.group ?? 1) };
      if (a.strides) attrs.strides = attr.ints(a.strides);
      if (a.pads) attrs.pads = attr.ints(a.pads);
      return op(b, 'Conv', [b.input('x', ['N', ...x.slice(1)]), p(b, 'w', w)], attrs);
    },
    precision: 'float32',
    step: 1,
    inputs: { x: { data, dims: x } },
    symbols: { N: x[0] },
  };
}

/** Conv is linear in each input, so a central difference is exact for any step: step 1 keeps float32 rounding small. */
function convCase(name: string, x: number[], w: number[], a: ConvAttrs = {}, bias = false): OpCase {
  return { covers: 'Conv', name: `Conv ${name}`, build: (b) => convNode(b, x, w, a, bias), precision: 'float32', step: 1 };
}

const CONV_CASES: OpCase[] = [
  convCase('3x3 pad 1 with bias', [2, 3, 6, 6], [4, 3, 3, 3], { pads: [1, 1, 1, 1] }, true),
  convCase('stride 2 pad 1 (leftover row)', [2, 3, 8, 8], [4, 3, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }),
  convCase('stride 2 no pad (leftover row)', [2, 2, 8, 7], [3, 2, 3, 3], { strides: [2, 2] }),
  // More than FOLD_MAX_POSITIONS output positions: ConvTranspose image by image (the cases above fold the batch).
  convCase('stride 2 on a larger map', [2, 2, 12, 11], [3, 2, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }),
  convCase('groups 2', [2, 4, 5, 5], [6, 2, 3, 3], { pads: [1, 1, 1, 1], group: 2 }),
  convCase('depthwise stride 2', [2, 4, 6, 6], [4, 1, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], group: 4 }),
  convCase('depthwise 3x3 stride 1', [2, 4, 5, 5], [4, 1, 3, 3], { pads: [1, 1, 1, 1], group: 4 }),
  // Every geometry parameter differs between the axes, so a rule that mixes them up fails.
  convCase('depthwise 3x2 kernel, strides 1x2, dilations 2x3, uneven pads', [2, 3, 8, 9], [3, 1, 3, 2], { strides: [1, 2], pads: [2, 1, 1, 0], dilations: [2, 3], group: 3 }),
  // Few positions, many channels: the per-tap GEMMs (the product M*C*K outweighs the transposes P*(M+C)).
  convCase('3x3 deep on a small map', [3, 6, 3, 3], [8, 6, 3, 3], { pads: [1, 1, 1, 1] }, true),
  // CHANNELS_LAST_MIN_CHANNELS input channels: the taps are sliced channels last (the strided one exercises the strided Slice there).
  convCase('3x3 with 64 input channels', [2, 64, 3, 3], [2, 64, 3, 3], { pads: [1, 1, 1, 1] }),
  convCase('3x3 stride 2 with 64 input channels, uneven pads', [1, 64, 6, 5], [3, 64, 3, 3], { strides: [2, 2], pads: [1, 0, 0, 1] }),
  convCase('1-D kernel 3 dilated by 2, 64 input channels', [2, 64, 7], [2, 64, 3], { pads: [2, 1], dilations: [2] }),
  // Deep and narrow (4 N P >= M C): the channels-last tap GEMMs split the samples into chunks (2 and 4 chunks of 3 samples).
  convCase('3x3 with 64 input channels, chunked by sample', [6, 64, 3, 3], [2, 64, 3, 3], { pads: [1, 1, 1, 1] }),
  convCase('3x3 stride 2 with 64 input channels, chunked by sample', [12, 64, 6, 5], [2, 64, 3, 3], { strides: [2, 2], pads: [1, 0, 0, 1] }),
  convCase('1x1 stride 2 (downsample shortcut)', [2, 4, 5, 5], [6, 4, 1, 1], { strides: [2, 2] }),
  symbolicBatchConvCase('depthwise stride 2, symbolic batch', [2, 4, 6, 6], [4, 1, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], group: 4 }),
  symbolicBatchConvCase('groups 2, symbolic batch', [2, 4, 5, 5], [6, 2, 3, 3], { pads: [1, 1, 1, 1], group: 2 }),
  convCase('depthwise multiplier 2', [2, 3, 5, 5], [6, 1, 3, 3], { pads: [1, 1, 1, 1], group: 3 }),
  convCase('dilation 2', [1, 2, 7, 7], [3, 2, 3, 3], { pads: [2, 2, 2, 2], dilations: [2, 2] }),
  convCase('asymmetric kernel, stride, pads, dilation', [2, 3, 7, 6], [4, 3, 3, 2], { strides: [2, 1], pads: [1, 0, 0, 1], dilations: [1, 2] }, true),
  convCase('1x1 with bias', [2, 5, 4, 4], [3, 5, 1, 1], {}, true),
  convCase('7x7 global depthwise (GDC)', [2, 4, 7, 7], [4, 1, 7, 7], { group: 4 }),
  convCase('auto_pad SAME_UPPER stride 2', [1, 2, 7, 7], [3, 2, 3, 3], { strides: [2, 2], auto_pad: 'SAME_UPPER' }),
];

function maxPoolCase(name: string, x: number[], k: number, s: number, pad: number, ceil = 0): OpCase {
  return {
    covers: 'MaxPool:training',
    name: `MaxPool ${name}`,
    build: (b) =>
      op(b, 'MaxPool', [p(b, 'x', x, distinct(0.1))], {
        kernel_shape: attr.ints([k, k]),
        strides: attr.ints([s, s]),
        pads: attr.ints([pad, pad, pad, pad]),
        ceil_mode: attr.int(ceil),
      }),
    // Float64 (MaxPool and ScatterElements have double kernels); the step stays well under the 0.1 spacing.
    step: 0.01,
  };
}

/** BatchNorm inputs whose normalised outputs stay clear of a following Relu's kink (see the cases). */
const AWAY_FROM_KINK = { x: awayFromZero(0.5), bias: uniform(-0.05, 0.05) };

const BN_CASES: OpCase[] = [
  {
    covers: 'BatchNormalization:training',
    name: 'BatchNormalization training [4,3,3,3]',
    build: (b) => bn(b, [4, 3, 3, 3]),
  },
  { covers: 'BatchNormalization:training', name: 'BatchNormalization training [6,5] (1-D)', build: (b) => bn(b, [6, 5]) },
  // A widening 1x1 conv into a training BatchNorm, trained as one fused unit (convBatchNorm.ts).
  // onnxruntime has no float64 Conv, and float32 differences of BatchNorm's nonlinearity carry
  // about 1% truncation error at step 1e-2 (the unfused rules show the same), hence rtol 2e-2;
  // autodiff.network.test.ts checks the fused unit against float64 differences as well.
  {
    covers: 'ConvBatchNormalization:training',
    name: '1x1 Conv 2 -> 4 channels into BatchNormalization training [4,2,3,3]',
    build: (b) => bn(b, [4, 4, 3, 3], op(b, 'Conv', [p(b, 'h', [4, 2, 3, 3], normal(1.5)), p(b, 'w', [4, 2, 1, 1])], { kernel_shape: attr.ints([1, 1]) })),
    precision: 'float32',
    tolerance: { atol: 1e-3, rtol: 2e-2 },
  },
  // From AFFINE_CONV_MIN_POSITIONS (14x14) up, the per-channel affine passes of the training form
  // are depthwise 1x1 Convs, which onnxruntime runs in float only and fuses with a following Relu,
  // or a residual Add and a Relu (tensors.ts); tolerance as for the fused case above. Before a
  // Relu, x's values keep 0.5 from zero and the bias (and residual) stay small, so that the
  // values reaching the Relu keep at least 0.27 from the kink (computed for these seeds), beyond
  // what a step of 1e-2 moves them.
  {
    covers: 'BatchNormalization:training',
    name: 'BatchNormalization training [2,3,14,14] (depthwise affine)',
    build: (b) => bn(b, [2, 3, 14, 14]),
    precision: 'float32',
    tolerance: { atol: 1e-3, rtol: 2e-2 },
  },
  {
    covers: 'BatchNormalization:training',
    name: 'BatchNormalization training [2,3,200] (1-D map, depthwise affine)',
    build: (b) => bn(b, [2, 3, 200]),
    precision: 'float32',
    tolerance: { atol: 1e-3, rtol: 2e-2 },
  },
  {
    covers: 'BatchNormalization:training',
    name: 'BatchNormalization training + Relu [2,3,14,14] (affine and Relu fused)',
    build: (b) => op(b, 'Relu', [bn(b, [2, 3, 14, 14], undefined, AWAY_FROM_KINK)]),
    precision: 'float32',
    tolerance: { atol: 1e-3, rtol: 2e-2 },
  },
  {
    covers: 'BatchNormalization:training',
    name: 'BatchNormalization training + residual Add + Relu [2,3,14,14] (fused)',
    build: (b) => op(b, 'Relu', [op(b, 'Add', [bn(b, [2, 3, 14, 14], undefined, AWAY_FROM_KINK), p(b, 'r', [2, 3, 14, 14], uniform(-0.05, 0.05))])]),
    precision: 'float32',
    tolerance: { atol: 1e-3, rtol: 2e-2 },
  },
  {
    covers: 'BatchNormalization',
    name: 'BatchNormalization frozen (inference form) [3,2,2,2]',
    build: (b) => bn(b, [3, 2, 2, 2]),
    freeze: ['bn.'],
  },
];

/** BatchNorm over `x`'s shape, of a parameter x or of `input` (a tensor of that shape). */
function bn(b: GraphBuilder, x: number[], from?: string, init: { x: Init; bias: Init } = { x: normal(2), bias: normal() }): string {
  const c = x[1];
  const input = from ?? p(b, 'x', x, init.x);
  return b.within('bn', () =>
    op(b, 'BatchNormalization', [input, p(b, 'scale', [c], uniform(0.5, 1.5)), p(b, 'bias', [c], init.bias), b.param('mean', [c], normal(0.3), 'state'), b.param('var', [c], uniform(0.5, 2), 'state')], {
      epsilon: attr.float(1e-3),
      momentum: attr.float(0.9),
    }),
  );
}

const CASES: OpCase[] = [
  binary('Add', [2, 3, 4, 5], [3, 1, 1]),
  binary('Add', [4], [2, 3, 4]),
  binary('Sub', [2, 3, 4], [3, 1]),
  binary('Sub', [1, 4], [3, 1]),
  binary('Mul', [2, 3, 4, 5], [1, 3, 1, 5]),
  { covers: 'Mul', name: 'Mul x * x (one tensor read twice)', build: (b) => { const x = p(b, 'x', [3, 4]); return op(b, 'Mul', [x, x]); } },
  binary('Div', [2, 3, 4], [4], normal(), uniform(0.5, 2)),
  binary('Div', [3, 1], [2, 3, 4], normal(), uniform(-2, -0.5)),
  unary('Neg'),
  { covers: 'Sum', name: 'Sum of three, broadcast', build: (b) => op(b, 'Sum', [p(b, 'a', [2, 3, 4]), p(b, 'c', [3, 1]), p(b, 'd', [4])]) },
  { covers: 'Pow', name: 'Pow x^3 (constant exponent)', build: (b) => op(b, 'Pow', [p(b, 'x', [2, 3, 4]), scalar(b, 3)]) },
  { covers: 'Pow', name: 'Pow x^0.5 positive base', build: (b) => op(b, 'Pow', [p(b, 'x', [2, 3], uniform(0.5, 2)), scalar(b, 0.5)]) },
  { covers: 'Pow', name: 'Pow with a trained exponent', build: (b) => op(b, 'Pow', [p(b, 'x', [2, 3], uniform(0.5, 2)), p(b, 'e', [3], uniform(-1, 2))]) },
  binary('Max', [2, 3, 4], [3, 1], distinct(0.1), distinct(0.1, 0.05)),
  binary('Min', [2, 3, 4], [4], distinct(0.1), distinct(0.1, 0.05)),
  {
    covers: 'Where',
    name: 'Where with broadcast branches',
    build: (b) => {
      const cond = b.constant('cond', { dtype: 'bool', dims: [2, 3], data: Uint8Array.of(1, 0, 1, 0, 0, 1) });
      return op(b, 'Where', [cond, p(b, 'a', [2, 3]), p(b, 'c', [3])]);
    },
  },
  unary('Identity'),
  unary('Exp'),
  unary('Log', uniform(0.5, 3)),
  unary('Sqrt', uniform(0.5, 3)),
  unary('Reciprocal', awayFromZero(0.5)),
  unary('Sin'),
  unary('Cos'),
  // Acos has a float kernel only; a 3e-3 step balances float32 rounding against curvature inside (-0.7, 0.7).
  unary('Acos', uniform(-0.7, 0.7), 'float32', 3e-3),
  unary('Abs', awayFromZero()),
  unary('Sigmoid'),
  unary('Tanh'),
  unary('Relu', awayFromZero()),
  {
    covers: 'PRelu:training',
    name: 'PRelu slope [C,1,1] over NCHW',
    build: (b) => op(b, 'PRelu', [p(b, 'x', [2, 3, 4, 4], awayFromZero()), p(b, 'slope', [3, 1, 1], uniform(0.1, 0.4))]),
  },
  {
    covers: 'PRelu:training',
    name: 'PRelu slope [C,1,1] over NCHW 14x14 (depthwise affine)',
    build: (b) => op(b, 'PRelu', [p(b, 'x', [2, 3, 14, 14], awayFromZero()), p(b, 'slope', [3, 1, 1], uniform(0.1, 0.4))]),
    precision: 'float32',
    step: 1e-2,
  },
  { covers: 'PRelu:training', name: 'PRelu slope [C] over NC', build: (b) => op(b, 'PRelu', [p(b, 'x', [4, 5], awayFromZero()), p(b, 'slope', [5], uniform(0.1, 0.4))]) },
  // A slope along the last axis is not per-channel: the generic Mul + Add factor.
  { covers: 'PRelu:training', name: 'PRelu slope [W] over NCW', build: (b) => op(b, 'PRelu', [p(b, 'x', [2, 3, 4], awayFromZero()), p(b, 'slope', [4], uniform(-0.3, 1.5))]) },
  { covers: 'PRelu:training', name: 'PRelu one slope [1] over NCHW', build: (b) => op(b, 'PRelu', [p(b, 'x', [2, 3, 2, 2], awayFromZero()), p(b, 'slope', [1], uniform(0.1, 0.4))]) },
  {
    covers: 'Clip',
    name: 'Clip [-0.5, 0.5]',
    build: (b) => op(b, 'Clip', [p(b, 'x', [3, 8], distinct(0.13, 0.07)), scalar(b, -0.5), scalar(b, 0.5)]),
  },
  { covers: 'Clip', name: 'Clip max only', build: (b) => op(b, 'Clip', [p(b, 'x', [3, 8], distinct(0.13, 0.07)), '', scalar(b, 0.3)]) },
  { covers: 'ReduceSum', name: 'ReduceSum axis 1', build: (b) => op(b, 'ReduceSum', [p(b, 'x', [2, 3, 4]), ints(b, [1])], { keepdims: attr.int(0) }) },
  { covers: 'ReduceSum', name: 'ReduceSum axes 0,2 keepdims', build: (b) => op(b, 'ReduceSum', [p(b, 'x', [2, 3, 4]), ints(b, [0, -1])]) },
  { covers: 'ReduceSum', name: 'ReduceSum all', build: (b) => op(b, 'ReduceSum', [p(b, 'x', [2, 3, 4])], { keepdims: attr.int(0) }) },
  { covers: 'ReduceMean', name: 'ReduceMean axis -1', build: (b) => op(b, 'ReduceMean', [p(b, 'x', [2, 3, 4])], { axes: attr.ints([-1]), keepdims: attr.int(0) }) },
  { covers: 'ReduceMean', name: 'ReduceMean axes 0,2 keepdims', build: (b) => op(b, 'ReduceMean', [p(b, 'x', [2, 3, 4])], { axes: attr.ints([0, 2]) }) },
  { covers: 'ReduceSumSquare', name: 'ReduceSumSquare axis 1', build: (b) => op(b, 'ReduceSumSquare', [p(b, 'x', [2, 3, 4])], { axes: attr.ints([1]), keepdims: attr.int(0) }) },
  { covers: 'ReduceL2', name: 'ReduceL2 axis 1 keepdims', build: (b) => op(b, 'ReduceL2', [p(b, 'x', [2, 5, 3])], { axes: attr.ints([1]) }) },
  { covers: 'GlobalAveragePool', name: 'GlobalAveragePool [2,3,4,5]', build: (b) => op(b, 'GlobalAveragePool', [p(b, 'x', [2, 3, 4, 5])]), precision: 'float32', step: 1 },
  { covers: 'Reshape', name: 'Reshape [2,3,4] -> [4,-1]', build: (b) => op(b, 'Reshape', [p(b, 'x', [2, 3, 4]), ints(b, [4, -1])]) },
  { covers: 'Flatten', name: 'Flatten axis 2', build: (b) => op(b, 'Flatten', [p(b, 'x', [2, 3, 2, 2])], { axis: attr.int(2) }) },
  { covers: 'Squeeze', name: 'Squeeze axis 1', build: (b) => op(b, 'Squeeze', [p(b, 'x', [3, 1, 4]), ints(b, [1])]) },
  { covers: 'Unsqueeze', name: 'Unsqueeze axes 0,2', build: (b) => op(b, 'Unsqueeze', [p(b, 'x', [3, 4]), ints(b, [0, 2])]) },
  { covers: 'Transpose', name: 'Transpose perm 2,0,1', build: (b) => op(b, 'Transpose', [p(b, 'x', [2, 3, 4])], { perm: attr.ints([2, 0, 1]) }) },
  { covers: 'Concat', name: 'Concat axis 1', build: (b) => op(b, 'Concat', [p(b, 'a', [2, 3]), p(b, 'c', [2, 2])], { axis: attr.int(1) }) },
  binary('MatMul', [3, 4], [4, 5]),
  binary('MatMul', [2, 3, 4], [4, 5]),
  binary('MatMul', [2, 1, 3, 4], [3, 4, 2]),
  { covers: 'Gemm', name: 'Gemm with bias [N] (a linear layer)', build: (b) => op(b, 'Gemm', [p(b, 'x', [3, 4]), p(b, 'w', [5, 4]), p(b, 'bias', [5])], { transB: attr.int(1) }) },
  {
    covers: 'Gemm',
    name: 'Gemm transA, alpha, beta, bias [M,1]',
    build: (b) => op(b, 'Gemm', [p(b, 'a', [4, 3]), p(b, 'w', [4, 5]), p(b, 'bias', [3, 1])], { transA: attr.int(1), alpha: attr.float(0.5), beta: attr.float(2) }),
  },
  {
    covers: 'Gemm',
    name: 'Gemm transA and transB',
    build: (b) => op(b, 'Gemm', [p(b, 'a', [4, 3]), p(b, 'w', [5, 4])], { transA: attr.int(1), transB: attr.int(1), alpha: attr.float(1.5) }),
  },
  { covers: 'Softmax', name: 'Softmax axis 1', build: (b) => op(b, 'Softmax', [p(b, 'x', [2, 4, 3])], { axis: attr.int(1) }) },
  { covers: 'LogSoftmax', name: 'LogSoftmax default axis', build: (b) => op(b, 'LogSoftmax', [p(b, 'x', [3, 5])]) },
  { covers: 'LpNormalization', name: 'LpNormalization p=2 axis 1', build: (b) => op(b, 'LpNormalization', [p(b, 'x', [3, 4, 2])], { axis: attr.int(1), p: attr.int(2) }) },
  { covers: 'LpNormalization', name: 'LpNormalization default axis', build: (b) => op(b, 'LpNormalization', [p(b, 'x', [3, 5])]) },
  ...CONV_CASES,
  maxPoolCase('3x3 stride 2 pad 1 (overlapping, ResNet stem)', [2, 3, 8, 8], 3, 2, 1),
  maxPoolCase('2x2 stride 2', [1, 2, 6, 5], 2, 2, 0),
  maxPoolCase('3x3 stride 2 ceil_mode', [1, 2, 6, 6], 3, 2, 0, 1),
  ...BN_CASES,
  {
    covers: 'Dropout:training',
    name: 'Dropout 0.3 (mask input)',
    build: (b) => op(b, 'Dropout', [p(b, 'x', [4, 6]), b.constant('ratio', float32Tensor([], Float32Array.of(0.3)))]),
  },
];

/** The op graph plus a scalar loss: sum(output * fixed random weights). */
function caseGraph(c: OpCase, seed = 7): { graph: Graph; output: string; weights: Float32Array } {
  const b = new GraphBuilder(c.name, seed);
  const output = c.build(b);
  const shape = inferShapes(b.graph).get(output)?.shape ?? [];
  const dims = shape.map((d) => (typeof d === 'number' ? d : (c.symbols?.[d] as number)));
  const weights = normal()(new Rng(seed, 'loss_weights'), dims);
  const w = b.constant('loss_weights', float32Tensor(dims, weights));
  b.output(op(b, 'ReduceSum', [op(b, 'Mul', [output, w])], { keepdims: attr.int(0) }), 'loss');
  return { graph: b.graph, output, weights };
}

async function check(c: OpCase, extra: GradcheckOptions = {}): Promise<GradcheckReport> {
  const { graph, output, weights } = caseGraph(c);
  return gradcheck(graph, { precision: c.precision, step: c.step, tolerance: c.tolerance, freeze: c.freeze, inputs: c.inputs, symbols: c.symbols, weightedSum: { tensor: output, weights }, ...extra });
}

/** Measured errors, printed when GRADCHECK_REPORT=1 (for the report, not the assertions). */
const measured: string[] = [];
afterAll(() => {
  if (process.env.GRADCHECK_REPORT === '1') process.stdout.write(`${measured.join('\n')}\n`);
});

function record(name: string, r: GradcheckReport): void {
  const worst = Math.max(...r.params.map((q) => q.maxAbsError));
  const ratio = Math.max(...r.params.map((q) => q.worstRatio));
  measured.push(`${name.padEnd(60)} ${r.precision}  max|err| ${worst.toExponential(2)}  worst/tol ${ratio.toFixed(4)}`);
}

// ---------------------------------------------------------------- the table-driven check

describe('gradient rules against finite differences', () => {
  test('every registered rule and training form has a sample case', () => {
    const covered = new Set(CASES.map((c) => c.covers));
    const registered = [...Object.keys(GRADIENT_RULES), ...Object.keys(TRAINING_FORMS).map((t) => `${t}:training`)];
    expect(registered.filter((r) => !covered.has(r))).toEqual([]);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const report = await check(c);
    record(name, report);
    if (!report.pass) throw new Error(`${name}\n${formatReport(report)}`);
  });
});

// ---------------------------------------------------------------- conv formulations

/** The formulations a case's gradients use, read from the scopes convInputGrad and convWeightGrad emit under. */
function convFormulations(c: OpCase): string[] {
  const training = buildTrainingGraph(caseGraph(c).graph, { loss: 'loss' });
  const used = new Set<string>();
  for (const n of training.graph.nodes) {
    const m = /\/(dX|dW)\/(\w+)\//.exec(n.name);
    if (m) used.add(`${m[1]} ${m[2]}`);
  }
  return [...used].sort();
}

test('the ConvBatchNormalization case is fused: its conv output is never computed', () => {
  const c = BN_CASES.find((k) => k.covers === 'ConvBatchNormalization:training') as OpCase;
  const { graph } = caseGraph(c);
  const convOutput = (graph.nodes.find((n) => n.opType === 'Conv') as Graph['nodes'][number]).outputs[0];
  const training = buildTrainingGraph(graph, { loss: 'loss' });
  expect(training.graph.nodes.some((n) => n.outputs.includes(convOutput))).toBe(false);
});

test('the 14x14 and 200-long cases take the depthwise affine form, the small ones BatchNormalization', () => {
  const affineOps = (name: string) => {
    const c = CASES.find((k) => k.name === name) as OpCase;
    const training = buildTrainingGraph(caseGraph(c).graph, { loss: 'loss' });
    const depthwise = training.graph.nodes.filter((n) => n.opType === 'Conv' && getAttr(n, 'group', 'int') === 3);
    return { depthwise: depthwise.length, batchNorms: training.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length };
  };
  // Forward y and backward dx; PRelu's slope factor.
  expect(affineOps('BatchNormalization training [2,3,14,14] (depthwise affine)')).toEqual({ depthwise: 2, batchNorms: 0 });
  expect(affineOps('BatchNormalization training [2,3,200] (1-D map, depthwise affine)')).toEqual({ depthwise: 2, batchNorms: 0 });
  expect(affineOps('PRelu slope [C,1,1] over NCHW 14x14 (depthwise affine)')).toEqual({ depthwise: 1, batchNorms: 0 });
  expect(affineOps('BatchNormalization training [4,3,3,3]')).toEqual({ depthwise: 0, batchNorms: 2 });
});

test('channels-last tap GEMMs split by sample chunks exactly where the rule says', () => {
  const chunksOf = (fragment: string) => {
    const c = CONV_CASES.find((k) => k.name.includes(fragment)) as OpCase;
    const taps = buildTrainingGraph(caseGraph(c).graph, { loss: 'loss' }).graph.nodes.filter((n) => n.name.includes('/dW/channelsLastTaps/'));
    return { batched: taps.filter((n) => n.opType === 'MatMul').length, single: taps.filter((n) => n.opType === 'Gemm').length };
  };
  expect(chunksOf('3x3 with 64 input channels, chunked')).toEqual({ batched: 9, single: 0 });
  expect(chunksOf('3x3 stride 2 with 64 input channels, chunked')).toEqual({ batched: 9, single: 0 });
  expect(chunksOf('3x3 with 64 input channels')).toEqual({ batched: 0, single: 9 });
  expect(chunksOf('1-D kernel 3 dilated by 2')).toEqual({ batched: 0, single: 3 });
});

describe('conv gradient formulations (chosen per layer shape)', () => {
  test('each one is exercised by a gradient-checked case', () => {
    const used = new Set(CONV_CASES.flatMap(convFormulations));
    const all = [...INPUT_GRAD_FORMULATIONS.map((f) => `dX ${f}`), ...WEIGHT_GRAD_FORMULATIONS.map((f) => `dW ${f}`)];
    expect(all.filter((f) => !used.has(f))).toEqual([]);
  });

  test.each([
    ['3x3 pad 1', ['dW perSampleProducts', 'dX adjointConv']],
    ['3x3 deep', ['dW denseTaps', 'dX adjointConv']],
    ['3x3 with 64 input channels', ['dW channelsLastTaps', 'dX adjointConv']],
    ['3x3 stride 2 with 64', ['dW channelsLastTaps', 'dX foldedConvTranspose']],
    ['1-D kernel 3 dilated by 2', ['dW channelsLastTaps', 'dX adjointConv']],
    ['3x3 with 64 input channels, chunked', ['dW channelsLastTaps', 'dX adjointConv']],
    ['3x3 stride 2 with 64 input channels, chunked', ['dW channelsLastTaps', 'dX foldedConvTranspose']],
    ['stride 2 pad 1', ['dW perSampleProducts', 'dX foldedConvTranspose']],
    ['stride 2 on a larger map', ['dW perSampleProducts', 'dX convTranspose']],
    ['1x1 with bias', ['dW perSampleProducts', 'dX adjointConv']],
    ['groups 2', ['dW foldedBatchConv', 'dX adjointConv']],
    ['depthwise 3x3 stride 1', ['dW foldedBatchConv', 'dX adjointConv']],
    ['depthwise stride 2', ['dW foldedBatchConv', 'dX foldedConvTranspose']],
    ['depthwise multiplier 2', ['dW foldedBatchConv', 'dX adjointConv']],
    ['7x7 global', ['dW foldedBatchConv', 'dX convTranspose']],
    ['depthwise stride 2, symbolic batch', ['dW depthwiseTaps']],
    ['groups 2, symbolic batch', ['dW perSampleProducts']],
  ])('%s: %j', (fragment, expected) => {
    expect(convFormulations(CONV_CASES.find((k) => k.name.includes(fragment)) as OpCase)).toEqual(expected);
  });
});

// ---------------------------------------------------------------- tie rules

async function gradientsOf(graph: Graph): Promise<Record<string, number[]>> {
  const training = buildTrainingGraph(graph, { loss: 'loss' });
  const s = await session(training.graph, 'float32');
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of training.params) {
    const t = graph.initializers.get(name)?.tensor;
    feeds[name] = tensor(t?.data as Float32Array, t?.dims as number[], 'float32');
  }
  const out = await s.run(feeds);
  await s.release();
  return Object.fromEntries(training.params.map((name) => [name, Array.from(out[training.gradOutputs.get(name) as string].data as Float32Array)]));
}

function lossOfSum(b: GraphBuilder, y: string): Graph {
  b.output(op(b, 'ReduceSum', [y], { keepdims: attr.int(0) }), 'loss');
  return b.graph;
}

describe('tie rules', () => {
  test('MaxPool: the first maximal element of a window (row-major) takes its gradient', async () => {
    const b = new GraphBuilder('ties', 1);
    const x = b.param('x', [1, 1, 3, 3], (_r, dims) => new Float32Array(numel(dims)).fill(1));
    const y = op(b, 'MaxPool', [x], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([1, 1]) });
    const grads = await gradientsOf(lossOfSum(b, y));
    // Four 2x2 windows of equal values: each window's top-left element wins.
    expect(grads.x).toEqual([1, 1, 0, 1, 1, 0, 0, 0, 0]);
  });

  test('Max: tied inputs share the gradient evenly', async () => {
    const b = new GraphBuilder('ties', 1);
    const a = b.param('a', [3], () => Float32Array.of(1, 2, 3));
    const c = b.param('c', [3], () => Float32Array.of(1, 5, 0));
    const grads = await gradientsOf(lossOfSum(b, op(b, 'Max', [a, c])));
    expect(grads.a).toEqual([0.5, 0, 1]);
    expect(grads.c).toEqual([0.5, 1, 0]);
  });
});

// ---------------------------------------------------------------- broken rules must fail

function withRule(op: string, rule: GradientRule): Partial<RuleSet> {
  return { gradients: { [op]: rule } };
}

/** Reverses every spatial axis of a [M, C, ...kernel] tensor. */
const flip = (emit: Emitter, t: string, dims: number[]) => {
  const kernel = dims.slice(2);
  return emit.op('Slice', [t, emit.ints(kernel.map((k) => k - 1)), emit.ints(kernel.map((k) => -k - 1)), emit.ints(kernel.map((_, i) => i + 2)), emit.ints(kernel.map(() => -1))]);
};

const flippedKernel = convWithKernel(flip);
/** Output channels rolled by one: each group's kernels used for the next group's channels. */
const rolledChannels = convWithKernel((emit, w, dims) =>
  emit.op('Concat', [emit.op('Slice', [w, emit.ints([1]), emit.ints([dims[0]]), emit.ints([0])]), emit.op('Slice', [w, emit.ints([0]), emit.ints([1]), emit.ints([0])])], { axis: attr.int(0) }),
);
/** The input gradient computed as if the stride were 1. */
const strideIgnored: GradientRule = {
  backward: (ctx) => GRADIENT_RULES.Conv.backward({ ...ctx, node: { ...ctx.node, attrs: { ...ctx.node.attrs, strides: attr.ints([1, 1]) } } }),
};
/** Conv's rule with its weight gradient transformed by `edit` (taps misplaced). */
function convWithWeightGrad(edit: (emit: Emitter, dW: string, dims: number[]) => string): GradientRule {
  return {
    backward: (ctx) => {
      const grads = GRADIENT_RULES.Conv.backward(ctx);
      return [grads[0], grads[1] && edit(ctx.emit, grads[1], ctx.inputShapes[1] as number[]), grads[2]];
    },
  };
}

const transposedWeightGrad = convWithWeightGrad((emit, dW) => emit.op('Transpose', [dW], { perm: attr.ints([0, 1, 3, 2]) }));
const flippedWeightGrad = convWithWeightGrad(flip);

/** Add/Mul whose broadcast operand's gradient is averaged, not summed, over the broadcast axes. */
function averagedBroadcast(real: GradientRule): GradientRule {
  return {
    backward: (ctx) => {
      const grads = real.backward(ctx);
      return grads.map((g, i) => {
        const count = numel(ctx.outputShapes[0] as number[]) / numel(ctx.inputShapes[i] as number[]);
        return g && count > 1 ? ctx.emit.op('Div', [g, ctx.emit.scalar(count)]) : g;
      });
    },
  };
}

/** Add whose gradient skips the reduction to the operand's shape altogether. */
const unreducedAdd: GradientRule = { backward: (ctx) => ctx.needs.map((n) => (n ? outputGrad(ctx) : undefined)) };

/** BatchNorm's training backward with n - 1 where n belongs (biased and unbiased variance confused). */
const bnWrongCount: TrainingForm = {
  ...TRAINING_FORMS.BatchNormalization,
  backward: (ctx) => {
    const count = ctx.emit.op('Sub', [ctx.saved.count, ctx.emit.scalar(1)]);
    return TRAINING_FORMS.BatchNormalization.backward({ ...ctx, saved: { ...ctx.saved, count } });
  },
};

/** MaxPool's backward scattering without adding: where windows overlap, one contribution overwrites the others. */
const maxPoolOverwrites: TrainingForm = {
  ...TRAINING_FORMS.MaxPool,
  backward: (ctx) => {
    const real = TRAINING_FORMS.MaxPool.backward(ctx);
    const scatter = ctx.emit.graph.nodes.find((n) => n.opType === 'ScatterElements' && n.name.startsWith(ctx.emit.prefix));
    if (scatter) scatter.attrs = { axis: attr.int(0) };
    return real;
  },
};

/** PRelu's backward with the slope forgotten in dx (as if it were 1: the identity's gradient below zero). */
const preluSlopeIgnored: TrainingForm = {
  ...TRAINING_FORMS.PRelu,
  backward: (ctx) => {
    const slopeMinusOne = ctx.emit.op('Mul', [ctx.saved.slopeMinusOne, ctx.emit.scalar(0)]);
    const [dX] = TRAINING_FORMS.PRelu.backward({ ...ctx, saved: { ...ctx.saved, slopeMinusOne } });
    return [dX, TRAINING_FORMS.PRelu.backward(ctx)[1]];
  },
};

const caseNamed = (name: string): OpCase => {
  const c = CASES.find((k) => k.name === name);
  if (!c) throw new Error(`no case ${name}`);
  return c;
};

/** The conv case whose name contains `fragment`. */
const conv = (fragment: string): string => {
  const c = CONV_CASES.find((k) => k.name.includes(fragment));
  if (!c) throw new Error(`no conv case ${fragment}`);
  return c.name;
};

const NEGATIVE: [string, string, Partial<RuleSet>][] = [
  // Every conv case with an input gradient but 1x1 (where a flip is the identity).
  ...CONV_CASES.filter((c) => !c.name.includes('1x1') && !c.inputs).map((c) => [c.name, 'flipped kernel in dX', withRule('Conv', flippedKernel)] as [string, string, Partial<RuleSet>]),
  [conv('asymmetric'), 'flipped weight gradient', withRule('Conv', flippedWeightGrad)],
  [conv('7x7 global'), 'flipped weight gradient', withRule('Conv', flippedWeightGrad)],
  [conv('stride 2 pad 1'), 'transposed kernel in dX', withRule('Conv', transposedKernel)],
  [conv('depthwise stride 2'), 'transposed kernel in dX', withRule('Conv', transposedKernel)],
  [conv('dilation 2'), 'transposed kernel in dX', withRule('Conv', transposedKernel)],
  [conv('stride 2 pad 1'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('groups 2'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('depthwise stride 2'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('dilation 2'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('groups 2'), 'wrong group (channels rolled)', withRule('Conv', rolledChannels)],
  [conv('depthwise stride 2'), 'wrong group (channels rolled)', withRule('Conv', rolledChannels)],
  [conv('depthwise multiplier'), 'wrong group (channels rolled)', withRule('Conv', rolledChannels)],
  [conv('stride 2 pad 1'), 'stride ignored in dX', withRule('Conv', strideIgnored)],
  [conv('3x3 deep'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('depthwise stride 2, symbolic'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('groups 2, symbolic'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('depthwise 3x3 stride 1'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('depthwise multiplier'), 'transposed weight gradient', withRule('Conv', transposedWeightGrad)],
  [conv('1x1 stride 2'), 'wrong group (channels rolled)', withRule('Conv', rolledChannels)],
  [conv('1x1 with bias'), 'wrong group (channels rolled)', withRule('Conv', rolledChannels)],
  [conv('asymmetric'), 'stride ignored in dX', withRule('Conv', strideIgnored)],
  ['Add [2,3,4,5] with [3,1,1]', 'broadcast gradient averaged, not summed', withRule('Add', averagedBroadcast(GRADIENT_RULES.Add))],
  ['Add [2,3,4,5] with [3,1,1]', 'broadcast reduction dropped', withRule('Add', unreducedAdd)],
  ['Mul [2,3,4,5] with [1,3,1,5]', 'broadcast gradient averaged, not summed', withRule('Mul', averagedBroadcast(GRADIENT_RULES.Mul))],
  ['BatchNormalization training [4,3,3,3]', 'batch statistics treated as constants', { trainingForms: { BatchNormalization: bnStatsAsConstants } }],
  ['BatchNormalization training [6,5] (1-D)', 'batch statistics treated as constants', { trainingForms: { BatchNormalization: bnStatsAsConstants } }],
  ['BatchNormalization training [4,3,3,3]', 'n - 1 for n in the gradient', { trainingForms: { BatchNormalization: bnWrongCount } }],
  ['PRelu slope [C,1,1] over NCHW', 'slope ignored in dx', { trainingForms: { PRelu: preluSlopeIgnored } }],
  ['PRelu slope [W] over NCW', 'slope ignored in dx', { trainingForms: { PRelu: preluSlopeIgnored } }],
  ['BatchNormalization training + Relu [2,3,14,14] (affine and Relu fused)', 'batch statistics treated as constants', { trainingForms: { BatchNormalization: bnStatsAsConstants } }],
  ['PRelu slope [C,1,1] over NCHW 14x14 (depthwise affine)', 'slope ignored in dx', { trainingForms: { PRelu: preluSlopeIgnored } }],
  ['MaxPool 3x3 stride 2 pad 1 (overlapping, ResNet stem)', 'overlapping windows overwrite instead of adding', { trainingForms: { MaxPool: maxPoolOverwrites } }],
];

describe('broken rules fail the same check', () => {
  test.each(NEGATIVE)('%s: %s', async (caseName, bug, rules) => {
    const report = await check(caseNamed(caseName), { rules });
    const ratio = Math.max(...report.params.map((q) => q.worstRatio));
    measured.push(`broken: ${caseName} / ${bug}: ${report.error ? `error: ${report.error.slice(0, 80)}` : `worst/tol ${ratio.toExponential(2)}`}`);
    expect(report.pass).toBe(false);
  });
});

// ---------------------------------------------------------------- the builder's contract

describe('training graph builder', () => {
  test('a node without a gradient rule between a parameter and the loss is named in the error', () => {
    const b = new GraphBuilder('no-rule', 1);
    const y = op(b, 'LeakyRelu', [p(b, 'x', [3])]);
    b.output(op(b, 'ReduceSum', [y], { keepdims: attr.int(0) }), 'loss');
    expect(() => buildTrainingGraph(b.graph, { loss: 'loss' })).toThrow(AutodiffError);
    expect(() => buildTrainingGraph(b.graph, { loss: 'loss' })).toThrow(/no gradient rule for LeakyRelu \(node .*\)/);
  });

  test('the loss must be a scalar', () => {
    const b = new GraphBuilder('vector-loss', 1);
    b.output(op(b, 'Relu', [p(b, 'x', [3])]), 'loss');
    expect(() => buildTrainingGraph(b.graph, { loss: 'loss' })).toThrow(/must be a scalar/);
  });

  test('parameters that do not reach the loss get zero gradients', async () => {
    const b = new GraphBuilder('unused', 1);
    const used = p(b, 'used', [3]);
    p(b, 'unused', [2, 2]);
    b.output(op(b, 'ReduceSum', [used], { keepdims: attr.int(0) }), 'loss');
    const grads = await gradientsOf(b.graph);
    expect(grads.used).toEqual([1, 1, 1]);
    expect(grads.unused).toEqual([0, 0, 0, 0]);
  });

  test('dropout masks come from the seeded Rng: 0 or 1/(1 - ratio), about ratio of them zero', () => {
    const a = sampleDropoutMask(new Rng(9, 'm'), 4000, 0.25);
    expect(Buffer.from(sampleDropoutMask(new Rng(9, 'm'), 4000, 0.25).buffer).equals(Buffer.from(a.buffer))).toBe(true);
    expect(new Set(a)).toEqual(new Set([0, Math.fround(1 / 0.75)]));
    const dropped = a.filter((v) => v === 0).length / a.length;
    expect(Math.abs(dropped - 0.25)).toBeLessThan(0.03);
  });
});
