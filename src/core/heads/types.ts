/**
 * Margin heads: what each kind needs, as a union tagged by `type`, so that a CosFace head
 * cannot carry an angular guard and a plain softmax head cannot carry a scale.
 */

export const HEAD_TYPES = ['softmax', 'sphereface', 'cosface', 'arcface', 'combined'] as const;
export type HeadType = (typeof HEAD_TYPES)[number];

/**
 * What happens where the angular margin would push m1*theta + m2 past pi (there cos stops
 * decreasing, so the "penalty" would raise the target logit):
 * - `th_mm`: face.evoLVe / arcface-pytorch: past the limit, cos(theta) - mm (see guard.ts);
 * - `easy`: arcface-pytorch's easy margin: the angular margin only where cos(theta) > 0;
 * - `none`: unguarded, as insightface's CombinedMarginLoss.
 */
export const MARGIN_GUARDS = ['th_mm', 'easy', 'none'] as const;
export type MarginGuard = (typeof MARGIN_GUARDS)[number];

/** The combined-margin parameters every margin head reduces to: target logit cos(m1*theta + m2) - m3. */
export interface Margin {
  /** Multiplies the angle (SphereFace). */
  m1: number;
  /** Added to the angle (ArcFace). */
  m2: number;
  /** Subtracted from the cosine (CosFace). */
  m3: number;
}

interface Smoothed {
  /** Label smoothing epsilon: targets are (1 - eps) * one_hot + eps / classes (PyTorch's form). */
  labelSmoothing: number;
}

interface Scaled extends Smoothed {
  /** Scale of the cosine logits (the feature norm the head pretends to have). */
  s: number;
}

/** Linear classifier with bias on the raw embedding: no normalisation, no scale, no margin. */
export interface SoftmaxHead extends Smoothed {
  type: 'softmax';
}

/** cos(m1 * theta). */
export interface SphereFaceHead extends Scaled {
  type: 'sphereface';
  m1: number;
  guard: MarginGuard;
}

/** cos(theta) - m3: no angle is changed, so nothing needs guarding. */
export interface CosFaceHead extends Scaled {
  type: 'cosface';
  m3: number;
}

/** cos(theta + m2). */
export interface ArcFaceHead extends Scaled {
  type: 'arcface';
  m2: number;
  guard: MarginGuard;
}

/** cos(m1 * theta + m2) - m3 (insightface's CombinedMarginLoss). */
export interface CombinedHead extends Scaled, Margin {
  type: 'combined';
  guard: MarginGuard;
}

export type MarginHeadSpec = SphereFaceHead | CosFaceHead | ArcFaceHead | CombinedHead;
export type HeadSpec = SoftmaxHead | MarginHeadSpec;

/** Sizes the head is built for. */
export interface HeadDims {
  embeddingSize: number;
  classes: number;
}

/** Tensor names a head adds to the graph. */
export interface HeadOutputs {
  /** [N, C] the logits the loss is computed on (scaled, with the margin at the target class). */
  logits: string;
  /**
   * [N, C] margin-free class scores for accuracy: cos(theta) for margin heads, the logits
   * themselves for softmax (argmax of either is the prediction).
   */
  scores: string;
  /** Scalar: mean over the batch of the (label-smoothed) softmax cross-entropy. */
  loss: string;
}
