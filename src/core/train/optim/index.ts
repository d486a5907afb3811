/** Optimisers (SGD, AdamW), weight-decay exemptions, accumulation, clipping and NaN/Inf checks. */
export { GradientAccumulator } from './accumulate';
export { adamw, adamwUpdate } from './adamw';
export type { AdamWOptions } from './adamw';
export { CLIP_EPS, clipGradNorm, globalNorm, scaleToMaxNorm } from './clip';
export { createOptimizer } from './factory';
export type { OptimizerSpec } from './factory';
export { NonFiniteError, assertFinite, findNonFinite } from './finite';
export type { NonFinite } from './finite';
export { noDecayParams, noDecayRule } from './noDecay';
export { sgd, sgdUpdate } from './sgd';
export type { SgdOptions } from './sgd';
export { OPTIMIZER_TYPES } from './types';
export type { NoDecay, Optimizer, OptimizerState, OptimizerType, ParamTensors } from './types';
export { Updater } from './updater';
export type { StepReport, UpdaterOptions } from './updater';
