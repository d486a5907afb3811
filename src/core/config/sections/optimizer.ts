import { z } from 'zod';
import { OptimizerSpec } from '../../train/optim/factory';
import { OPTIMIZER_TYPES, OptimizerType } from '../../train/optim/types';
import { bool, int, num, oneOf } from '../fields';

/**
 * The optimiser. `lr` and `weight_decay` left empty take the chosen type's usual values
 * (insightface's: SGD 0.1 and 5e-4, AdamW 0.001 and 0.1), so switching the type alone gives a
 * sensible run; the other keys apply to one type each.
 */

export const OPTIMIZER_DEFAULTS: Record<OptimizerType, { lr: number; weightDecay: number }> = {
  sgd: { lr: 0.1, weightDecay: 5e-4 },
  adamw: { lr: 0.001, weightDecay: 0.1 },
};

const probability = num({ min: 0, below: 1 });

export const optimizerSection = z
  .strictObject({
    type: oneOf(OPTIMIZER_TYPES),
    lr: num({ above: 0 }).nullable().describe('a number > 0, or empty for the type\'s default (sgd 0.1, adamw 0.001)'),
    momentum: num({ min: 0, below: 1 }, 'sgd'),
    nesterov: z.boolean().describe('true or false (sgd); true needs momentum > 0'),
    weight_decay: num({ min: 0 }).nullable().describe('a number >= 0, or empty for the type\'s default (sgd 5e-4, adamw 0.1)'),
    no_decay_bn_bias: bool(),
    betas: z.tuple([probability, probability]).describe('two numbers in [0, 1) (adamw)'),
    eps: num({ above: 0 }, 'adamw'),
    grad_clip: num({ min: 0 }, 'maximum global gradient norm; 0 = off'),
    accumulation_steps: int({ min: 1 }),
  })
  .superRefine((o, ctx) => {
    if (o.type === 'sgd' && o.nesterov && o.momentum === 0) ctx.addIssue({ code: 'custom', path: ['nesterov'], message: 'nesterov needs momentum', input: o.nesterov });
  });

export type OptimizerConfig = z.infer<typeof optimizerSection>;

/** The base learning rate the schedule starts from. */
export function baseLearningRate(o: OptimizerConfig): number {
  return o.lr ?? OPTIMIZER_DEFAULTS[o.type].lr;
}

export function optimizerSpec(o: OptimizerConfig): OptimizerSpec {
  const weightDecay = o.weight_decay ?? OPTIMIZER_DEFAULTS[o.type].weightDecay;
  switch (o.type) {
    case 'sgd':
      return { type: 'sgd', momentum: o.momentum, dampening: 0, nesterov: o.nesterov, weightDecay };
    case 'adamw':
      return { type: 'adamw', betas: [o.betas[0], o.betas[1]], eps: o.eps, weightDecay };
  }
}
