/** Reverse-mode automatic differentiation of ONNX graphs into training graphs of standard ONNX ops. */
export { buildTrainingForward, buildTrainingGraph } from './trainingGraph';
export type { TrainingForward, TrainingGraph, TrainingSpec } from './trainingGraph';
export { DEFAULT_RULES, GRADIENT_RULES, TRAINING_FORMS } from './registry';
export { sampleDropoutMask } from './dropoutMask';
export { AutodiffError } from './types';
export { Emitter } from './emitter';
export type { BatchNormStats, DropoutMaskInput, GradientContext, GradientRule, RuleSet, TrainingForm } from './types';
