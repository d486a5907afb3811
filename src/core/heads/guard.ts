import { Margin } from './types';

/**
 * Where the angular margin breaks down. With phi(theta) = m1 * theta + m2, cos(phi) is a
 * penalty on the target only while phi <= pi; the limit angle is theta_t = (pi - m2) / m1.
 * Past it (theta > theta_t, i.e. cos(theta) <= cos(theta_t)) the th/mm guard uses
 * cos(theta) - mm instead, with mm = sin(theta_t) * (phi(theta_t) - theta_t)
 * = sin(theta_t) * (pi - theta_t): the first-order size of the angular penalty at the limit.
 * For ArcFace (m1 = 1, m2 = m) this is exactly face.evoLVe's / arcface-pytorch's
 * th = cos(pi - m) and mm = sin(pi - m) * m; it generalises them to SphereFace and the
 * combined margin so one rule serves every angular head.
 */
export interface ThMmFallback {
  /** cos(theta_t): the margined cosine is used where cos(theta) is above this. */
  cosThreshold: number;
  /** Subtracted from cos(theta) past the limit. */
  mm: number;
}

/** The margin's limit angle theta_t, in radians (may exceed pi: then it is never reached). */
export function limitAngle(margin: Margin): number {
  return (Math.PI - margin.m2) / margin.m1;
}

/** The th/mm fallback, or undefined when phi(theta) never passes pi for theta in [0, pi]. */
export function thMmFallback(margin: Margin): ThMmFallback | undefined {
  const limit = limitAngle(margin);
  if (limit >= Math.PI) return undefined;
  return { cosThreshold: Math.cos(limit), mm: Math.sin(limit) * (Math.PI - limit) };
}

/** Whether the margin changes the angle at all (CosFace's does not: nothing to take acos of). */
export function isAngular(margin: Margin): boolean {
  return margin.m1 !== 1 || margin.m2 !== 0;
}
