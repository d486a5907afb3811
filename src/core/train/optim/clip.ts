import { sumOfSquares } from './simd';
import { ParamTensors } from './types';

/** The global L2 norm over every gradient (float32 partial sums, totalled in double: optim/simd.ts). */
export function globalNorm(grads: ParamTensors): number {
  let sum = 0;
  for (const g of grads.values()) sum += sumOfSquares(g);
  return Math.sqrt(sum);
}

/** PyTorch's clip_grad_norm_ adds this to the norm before dividing. */
export const CLIP_EPS = 1e-6;

/**
 * Scales every gradient in place by maxNorm / (norm + 1e-6) when that is below 1, `norm` being
 * their global norm. Returns whether it scaled.
 */
export function scaleToMaxNorm(grads: ParamTensors, norm: number, maxNorm: number): boolean {
  const coef = maxNorm / (norm + CLIP_EPS);
  if (!(coef < 1)) return false;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return true;
}

/**
 * Global gradient-norm clipping with PyTorch's clip_grad_norm_ semantics (L2 norm over all
 * gradients together). Returns the norm before clipping.
 */
export function clipGradNorm(grads: ParamTensors, maxNorm: number): number {
  const norm = globalNorm(grads);
  scaleToMaxNorm(grads, norm, maxNorm);
  return norm;
}
