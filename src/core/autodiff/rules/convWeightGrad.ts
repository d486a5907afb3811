import { Emitter } from '../emitter';
import { ConvOperands, outputPositions, tapCount } from './convOperands';
import { foldedBatchConv } from './weightGradFolded';
import { perSampleProducts } from './weightGradProducts';
import { channelsLastTaps, denseTaps, depthwiseTaps } from './weightGradTaps';

/**
 * Conv's weight gradient, choosing per layer shape among five formulations (chosen by timing
 * them on MobileFaceNet's and ResNet-50's layers; `bench/train-step.js --profile` prints the
 * per-layer split):
 *
 * - Grouped and depthwise convs: the batch-folded Conv, one op that reads the input once, where
 *   the per-tap forms copy it once per tap (element by element when strided) and, at
 *   MobileFaceNet's shapes, ran 1.5-10x slower. Folding needs a static batch size
 *   (TrainingSpec.dims); with a symbolic one, depthwise convs use per-tap Slice + Mul +
 *   ReduceSum and other grouped convs per-sample products.
 * - Dense convs with a spatial kernel and at least CHANNELS_LAST_MIN_CHANNELS input channels
 *   (ResNet-50's and IResNet's 3x3 convs): per-tap GEMMs with the taps sliced channels last,
 *   split by chunks of samples where they are deep and narrow (sampleChunks).
 * - Other dense convs: per-sample products when they write less than the per-tap form's transposes,
 *   M * C * K < P * (M + C) (per sample: the products versus transposed dY and X), which holds
 *   for stems with few input channels and for 1x1 convs on large maps; else per-tap GEMMs, whose
 *   one GEMM over all samples needs no sum of large per-sample products (deep 3x3 and 1x1
 *   layers on small maps).
 */

/**
 * Input channels from which a dense spatial conv takes its taps channels last: at 64 and more it
 * was faster on every ResNet-50 3x3 layer; with 8, 16 and 32 it was 13% slower, 16% faster and 8%
 * slower (BENCHMARKS.md "train").
 */
export const CHANNELS_LAST_MIN_CHANNELS = 64;

export const WEIGHT_GRAD_FORMULATIONS = ['channelsLastTaps', 'denseTaps', 'depthwiseTaps', 'foldedBatchConv', 'perSampleProducts'] as const;
export type WeightGradFormulation = (typeof WEIGHT_GRAD_FORMULATIONS)[number];

export function weightGradFormulation(op: ConvOperands): WeightGradFormulation {
  const [m, c] = op.weight;
  if (op.group > 1) {
    if (typeof op.xShape[0] === 'number') return 'foldedBatchConv';
    return c === 1 && m === op.group ? 'depthwiseTaps' : 'perSampleProducts';
  }
  if (tapCount(op) > 1 && c >= CHANNELS_LAST_MIN_CHANNELS) return 'channelsLastTaps';
  return m * c * tapCount(op) < outputPositions(op) * (m + c) ? 'perSampleProducts' : 'denseTaps';
}

const FORMULATIONS: Record<WeightGradFormulation, (emit: Emitter, op: ConvOperands) => string> = {
  channelsLastTaps,
  denseTaps,
  depthwiseTaps,
  foldedBatchConv,
  perSampleProducts,
};

/** Emits the weight gradient under a scope named after the formulation (profiles and tests read it). */
export function convWeightGrad(emit: Emitter, op: ConvOperands): string {
  const formulation = weightGradFormulation(op);
  return FORMULATIONS[formulation](emit.scoped(`${emit.prefix}/${formulation}`), op);
}
