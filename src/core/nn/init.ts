import { Init } from '../graph/builder';
import { numel } from '../graph/types';

/** Initialisers, as PyTorch names them. Each receives an Rng seeded by the parameter's name. */

/** Kaiming (He) normal, fan-out mode, ReLU gain: torchvision's ResNet convolution init. */
export const kaimingNormal: Init = (rng, dims) => {
  const fanOut = dims[0] * numel(dims.slice(2));
  const std = Math.sqrt(2 / fanOut);
  const out = new Float32Array(numel(dims));
  for (let i = 0; i < out.length; i++) out[i] = std * rng.normal();
  return out;
};

/** Xavier (Glorot) uniform for [out, in] linear weights, as the seed's model uses. */
export const xavierUniform: Init = (rng, dims) => {
  const fanIn = numel(dims.slice(1));
  const fanOut = dims[0];
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(numel(dims));
  for (let i = 0; i < out.length; i++) out[i] = rng.range(-bound, bound);
  return out;
};

export const filled =
  (value: number): Init =>
  (_rng, dims) =>
    new Float32Array(numel(dims)).fill(value);

export const zeros = filled(0);
export const ones = filled(1);
