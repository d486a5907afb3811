import { GraphBuilder } from '../graph/builder';
import { attr, int64Tensor } from '../graph/types';
import { filled, kaimingNormal, ones, xavierUniform, zeros } from './init';

/**
 * Layer helpers: each adds ONNX nodes under a named scope and returns the output tensor.
 * Parameter leaves follow PyTorch's state_dict names (weight, bias, running_mean, ...).
 */

export interface ConvSpec {
  inC: number;
  outC: number;
  k: number;
  stride?: number;
  pad?: number;
  groups?: number;
  bias?: boolean;
}

export function conv2d(b: GraphBuilder, name: string, x: string, s: ConvSpec): string {
  const groups = s.groups ?? 1;
  if (s.inC % groups !== 0 || s.outC % groups !== 0) throw new Error(`${b.qualified(name)}: channels ${s.inC}->${s.outC} not divisible by groups ${groups}`);
  return b.within(name, () => {
    const w = b.param('weight', [s.outC, s.inC / groups, s.k, s.k], kaimingNormal);
    const inputs = [x, w];
    if (s.bias) inputs.push(b.param('bias', [s.outC], zeros));
    const stride = s.stride ?? 1;
    const pad = s.pad ?? 0;
    return b.op1('Conv', inputs, {
      kernel_shape: attr.ints([s.k, s.k]),
      strides: attr.ints([stride, stride]),
      pads: attr.ints([pad, pad, pad, pad]),
      dilations: attr.ints([1, 1]),
      group: attr.int(groups),
    });
  });
}

/**
 * BatchNormalization over channel axis 1 (works for [N,C,H,W] and [N,C]). ONNX's momentum is
 * the weight of the old running value, so PyTorch's default 0.1 is 0.9 here.
 */
export function batchNorm(b: GraphBuilder, name: string, x: string, channels: number, eps = 1e-5): string {
  return b.within(name, () => {
    const scale = b.param('weight', [channels], ones);
    const bias = b.param('bias', [channels], zeros);
    const mean = b.param('running_mean', [channels], zeros, 'state');
    const variance = b.param('running_var', [channels], ones, 'state');
    return b.op1('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: attr.float(eps), momentum: attr.float(0.9) });
  });
}

/** PReLU with one slope per channel; `spatial` shapes the slope [C,1,1] to broadcast over NCHW. */
export function prelu(b: GraphBuilder, name: string, x: string, channels: number, spatial = true): string {
  return b.within(name, () => {
    const slope = b.param('weight', spatial ? [channels, 1, 1] : [channels], filled(0.25));
    return b.op1('PRelu', [x, slope]);
  });
}

export function relu(b: GraphBuilder, x: string): string {
  return b.op1('Relu', [x]);
}

export function add(b: GraphBuilder, x: string, y: string): string {
  return b.op1('Add', [x, y]);
}

/** Linear layer y = x W^T + b as Gemm(transB=1), weights stored [out, in] as in PyTorch. */
export function linear(b: GraphBuilder, name: string, x: string, inF: number, outF: number, bias = true): string {
  return b.within(name, () => {
    const w = b.param('weight', [outF, inF], xavierUniform);
    const inputs = [x, w];
    if (bias) inputs.push(b.param('bias', [outF], zeros));
    return b.op1('Gemm', inputs, { transB: attr.int(1) });
  });
}

export function dropout(b: GraphBuilder, x: string, ratio: number): string {
  const r = b.constant('dropout_ratio', { dtype: 'float32', dims: [], data: Float32Array.of(ratio) });
  return b.op1('Dropout', [x, r]);
}

export function flatten(b: GraphBuilder, x: string): string {
  return b.op1('Flatten', [x], { axis: attr.int(1) });
}

export function reshape(b: GraphBuilder, x: string, shape: number[]): string {
  return b.op1('Reshape', [x, b.constant('shape', int64Tensor(shape))]);
}

export function maxPool(b: GraphBuilder, x: string, k: number, stride: number, pad: number): string {
  return b.op1('MaxPool', [x], {
    kernel_shape: attr.ints([k, k]),
    strides: attr.ints([stride, stride]),
    pads: attr.ints([pad, pad, pad, pad]),
  });
}

export function globalAvgPool(b: GraphBuilder, x: string): string {
  return b.op1('GlobalAveragePool', [x]);
}

/** Conv (no bias) + BatchNorm, the unit every backbone here is made of. */
export function convBn(b: GraphBuilder, name: string, x: string, s: ConvSpec, eps = 1e-5): string {
  return b.within(name, () => batchNorm(b, 'bn', conv2d(b, 'conv', x, { ...s, bias: false }), s.outC, eps));
}

/** Conv + BatchNorm + PReLU (insightface's ConvBlock). */
export function convBnPrelu(b: GraphBuilder, name: string, x: string, s: ConvSpec): string {
  return b.within(name, () => prelu(b, 'prelu', batchNorm(b, 'bn', conv2d(b, 'conv', x, { ...s, bias: false }), s.outC), s.outC));
}
