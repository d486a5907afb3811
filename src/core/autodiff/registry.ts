import { ARITHMETIC_RULES } from './rules/arithmetic';
import { AXIS_NORMALIZATION_RULES } from './rules/axisNormalization';
import { BATCH_NORM_RULES, BATCH_NORM_TRAINING } from './rules/batchNorm';
import { CONV_RULES } from './rules/conv';
import { CONV_BATCH_NORM, CONV_BATCH_NORM_TRAINING } from './rules/convBatchNorm';
import { DROPOUT_TRAINING } from './rules/dropout';
import { LAYOUT_RULES } from './rules/layout';
import { LINEAR_RULES } from './rules/linear';
import { MAX_POOL_TRAINING } from './rules/pool';
import { PRELU_TRAINING } from './rules/prelu';
import { REDUCE_RULES } from './rules/reduce';
import { UNARY_RULES } from './rules/unary';
import { GradientRule, RuleSet, TrainingForm } from './types';

/**
 * The gradient-rule table: one rule per ONNX op (default domain, opset 17), and the training
 * forms of the ops that compute differently while training. A new op is one entry here plus
 * one sample case in the gradient-check table (test/autodiff.test.ts), which fails for any op
 * registered without one.
 */

export const GRADIENT_RULES: Readonly<Record<string, GradientRule>> = {
  ...ARITHMETIC_RULES,
  ...UNARY_RULES,
  ...REDUCE_RULES,
  ...LAYOUT_RULES,
  ...LINEAR_RULES,
  ...AXIS_NORMALIZATION_RULES,
  ...CONV_RULES,
  ...BATCH_NORM_RULES,
};

export const TRAINING_FORMS: Readonly<Record<string, TrainingForm>> = {
  BatchNormalization: BATCH_NORM_TRAINING,
  // A 1x1 Conv -> BatchNormalization pair, fused by the forward pass where it pays (convBatchNorm.ts).
  [CONV_BATCH_NORM]: CONV_BATCH_NORM_TRAINING,
  Dropout: DROPOUT_TRAINING,
  // Always: their training forward is faster to differentiate (it saves what the backward reads).
  MaxPool: MAX_POOL_TRAINING,
  PRelu: PRELU_TRAINING,
};

export const DEFAULT_RULES: RuleSet = { gradients: GRADIENT_RULES, trainingForms: TRAINING_FORMS };

/** Ops whose outputs are discrete (booleans, indices, shapes): gradients stop there. */
export const DISCRETE_OPS: ReadonlySet<string> = new Set([
  'Shape',
  'Size',
  'Equal',
  'Greater',
  'GreaterOrEqual',
  'Less',
  'LessOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
  'ArgMax',
  'ArgMin',
  'NonZero',
  'Constant',
  'ConstantOfShape',
]);
