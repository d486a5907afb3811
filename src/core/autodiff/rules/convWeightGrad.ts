import { Emitter } from '../emitter';
import { ConvOperands, isGlobal, outputPositions, tapCount, unitStride } from './convOperands';
import { foldedBatchConv } from './weightGradFolded';
import { perSampleProducts } from './weightGradProducts';
import { denseTaps, depthwiseTaps } from './weightGradTaps';

/**
 * Conv's weight gradient, choosing per layer shape among three formulations (the measurements
 * behind each choice are in BENCHMARKS.md, "train step (autodiff)"):
 *
 * - Depthwise (one input channel per group): per-tap Slice + Mul + ReduceSum when the windows
 *   move by one and the multiplier is 1 (unit-stride slices are cheap copies); otherwise, for
 *   strided and global convs, the batch-folded Conv, which reads the input once where strided
 *   slices would copy it element by element (2-10x faster there). Folding needs a static batch
 *   size (TrainingSpec.dims); with a symbolic one these use the per-tap form where it applies.
 * - Every other grouped conv (a few channels per group): per-sample products, whose batched
 *   MatMul handles the groups in one op.
 * - Dense: per-sample products when they write less than the per-tap form's transposes,
 *   M * C * K < P * (M + C) (per sample: products versus transposed dY and X), which holds for
 *   stems with few input channels and for 1x1 convs on large maps; else per-tap GEMMs, whose one
 *   GEMM over all samples avoids a sum over per-sample products where those are large (deep 3x3
 *   and 1x1 layers on small maps).
 */

export const WEIGHT_GRAD_FORMULATIONS = ['denseTaps', 'depthwiseTaps', 'foldedBatchConv', 'perSampleProducts'] as const;
export type WeightGradFormulation = (typeof WEIGHT_GRAD_FORMULATIONS)[number];

export function weightGradFormulation(op: ConvOperands): WeightGradFormulation {
  const [m, cPerGroup] = op.weight;
  if (op.group > 1 && cPerGroup === 1) {
    const multiplierOne = m === op.group;
    if (multiplierOne && unitStride(op) && !isGlobal(op)) return 'depthwiseTaps';
    if (typeof op.xShape[0] === 'number') return 'foldedBatchConv';
    return multiplierOne ? 'depthwiseTaps' : 'perSampleProducts';
  }
  if (op.group > 1) return 'perSampleProducts';
  const c = cPerGroup;
  return m * c * tapCount(op) < outputPositions(op) * (m + c) ? 'perSampleProducts' : 'denseTaps';
}

const FORMULATIONS: Record<WeightGradFormulation, (emit: Emitter, op: ConvOperands) => string> = {
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
