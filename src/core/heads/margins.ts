import { Margin, MarginGuard, MarginHeadSpec } from './types';

/**
 * Each margin head as a point of insightface's combined margin cos(m1*theta + m2) - m3, and the
 * margin each uses when the config leaves `head.m` empty.
 */

/** Which combined-margin parameter a head's single margin `m` sets. */
export const MARGIN_PARAMETER = { sphereface: 'm1', cosface: 'm3', arcface: 'm2' } as const;
export type SingleMarginType = keyof typeof MARGIN_PARAMETER;

/**
 * Defaults: ArcFace 0.5 and CosFace 0.35 (their papers; insightface). SphereFace 1.35: the
 * ArcFace paper's SphereFace in this plain cos(m1*theta) form; the original m = 4 needs
 * SphereFace's piecewise psi(theta) and lambda annealing, which this head does not implement.
 */
export const DEFAULT_MARGIN: Record<SingleMarginType, number> = { sphereface: 1.35, cosface: 0.35, arcface: 0.5 };

export const NO_MARGIN: Margin = { m1: 1, m2: 0, m3: 0 };

export function marginOf(spec: MarginHeadSpec): Margin {
  switch (spec.type) {
    case 'sphereface':
      return { ...NO_MARGIN, m1: spec.m1 };
    case 'cosface':
      return { ...NO_MARGIN, m3: spec.m3 };
    case 'arcface':
      return { ...NO_MARGIN, m2: spec.m2 };
    case 'combined':
      return { m1: spec.m1, m2: spec.m2, m3: spec.m3 };
  }
}

/** CosFace leaves the angle alone, so it has nothing to guard. */
export function guardOf(spec: MarginHeadSpec): MarginGuard {
  return spec.type === 'cosface' ? 'none' : spec.guard;
}
