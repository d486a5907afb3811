import { AdamWOptions, adamw } from './adamw';
import { SgdOptions, sgd } from './sgd';
import { NoDecay, Optimizer, OptimizerState } from './types';

/** An optimiser and its hyper-parameters, one variant per type. */
export type OptimizerSpec = ({ type: 'sgd' } & SgdOptions) | ({ type: 'adamw' } & AdamWOptions);

/** A fresh optimiser, or one resumed from `state` (a checkpoint's). */
export function createOptimizer(spec: OptimizerSpec, noDecay: NoDecay, state?: OptimizerState): Optimizer {
  switch (spec.type) {
    case 'sgd':
      return sgd(spec, noDecay, state);
    case 'adamw':
      return adamw(spec, noDecay, state);
  }
}
