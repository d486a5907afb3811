/** Margin heads and their loss: softmax, SphereFace, CosFace, ArcFace and the combined margin. */
export { HEADS, HEAD_SCOPE, buildHead } from './registry';
export type { HeadBuilder } from './registry';
export { LABELS_NAME, LOGITS_NAME, LOSS_NAME, SCORES_NAME, attachHead, headGraph } from './graph';
export type { HeadGraph } from './graph';
export { DEFAULT_MARGIN, MARGIN_PARAMETER, marginOf } from './margins';
export { thMmFallback } from './guard';
export { HEAD_TYPES, MARGIN_GUARDS } from './types';
export type { HeadDims, HeadOutputs, HeadSpec, HeadType, Margin, MarginGuard, MarginHeadSpec } from './types';
