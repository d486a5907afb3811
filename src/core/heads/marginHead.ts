import { GraphBuilder } from '../graph/builder';
import { attr } from '../graph/types';
import { xavierUniform } from '../nn/init';
import { isAngular, thMmFallback } from './guard';
import { softmaxCrossEntropy } from './loss';
import { guardOf, marginOf } from './margins';
import { l2Normalize, scalar, sumAlong } from './tensors';
import { HeadDims, HeadOutputs, Margin, MarginGuard, MarginHeadSpec } from './types';

/**
 * The cosine-margin heads (SphereFace, CosFace, ArcFace, combined): logits
 * s * cos(theta_j) for every class, s * (cos(m1*theta_y + m2) - m3) at the label y, where
 * cos(theta_j) = <x/|x|, W_j/|W_j|>. The margin is computed on the target cosine only
 * ([N,1], gathered with the one-hot labels), so acos/cos run on N values, not N*C.
 */

/**
 * acos is clamped to [-1 + d, 1 - d] so its gradient, -1/sqrt(1 - x^2), stays finite (<= ~707).
 * It moves theta by at most ~1.4e-3 rad, only for near-perfectly aligned or opposed vectors.
 */
export const ACOS_CLAMP = 1e-6;

export function marginHead(b: GraphBuilder, embedding: string, oneHot: string, spec: MarginHeadSpec, dims: HeadDims): HeadOutputs {
  const weight = b.param('weight', [dims.classes, dims.embeddingSize], xavierUniform);
  const cosine = b.op1('Gemm', [l2Normalize(b, embedding, 1), l2Normalize(b, weight, 1)], { transB: attr.int(1) });
  const isTarget = b.op1('Greater', [oneHot, scalar(b, 'half', 0.5)]);
  const targetCos = sumAlong(b, b.op1('Mul', [cosine, oneHot]), 1, true);
  const targetLogit = b.within('margin', () => marginedTarget(b, targetCos, marginOf(spec), guardOf(spec)));
  const margined = b.op1('Where', [isTarget, targetLogit, cosine]);
  const logits = b.op1('Mul', [margined, scalar(b, 's', spec.s)]);
  return { logits, scores: cosine, loss: softmaxCrossEntropy(b, logits, oneHot, dims.classes, spec.labelSmoothing) };
}

/** cos(m1*theta + m2) - m3 from cos(theta), with the guard applied to the angular part. */
export function marginedTarget(b: GraphBuilder, cos: string, margin: Margin, guard: MarginGuard): string {
  const angular = isAngular(margin) ? guarded(b, cos, angularCos(b, cos, margin), margin, guard) : cos;
  return margin.m3 === 0 ? angular : b.op1('Sub', [angular, scalar(b, 'm3', margin.m3)]);
}

/** cos(m1 * acos(clamp(cos)) + m2). */
function angularCos(b: GraphBuilder, cos: string, margin: Margin): string {
  const clamped = b.op1('Clip', [cos, scalar(b, 'cos_min', -1 + ACOS_CLAMP), scalar(b, 'cos_max', 1 - ACOS_CLAMP)]);
  let phi = b.op1('Acos', [clamped]);
  if (margin.m1 !== 1) phi = b.op1('Mul', [phi, scalar(b, 'm1', margin.m1)]);
  if (margin.m2 !== 0) phi = b.op1('Add', [phi, scalar(b, 'm2', margin.m2)]);
  return b.op1('Cos', [phi]);
}

function guarded(b: GraphBuilder, cos: string, angular: string, margin: Margin, guard: MarginGuard): string {
  switch (guard) {
    case 'none':
      return angular;
    case 'easy':
      return b.op1('Where', [b.op1('Greater', [cos, scalar(b, 'zero', 0)]), angular, cos]);
    case 'th_mm': {
      const fallback = thMmFallback(margin);
      if (!fallback) return angular;
      const within = b.op1('Greater', [cos, scalar(b, 'th', fallback.cosThreshold)]);
      return b.op1('Where', [within, angular, b.op1('Sub', [cos, scalar(b, 'mm', fallback.mm)])]);
    }
  }
}
