/**
 * Optimisers over plain Float32Array parameters and gradients, keyed by parameter name (the
 * graph's initializer names). Updates are in place, as PyTorch's `optimizer.step()`.
 */

export type ParamTensors = Map<string, Float32Array>;

export const OPTIMIZER_TYPES = ['sgd', 'adamw'] as const;
export type OptimizerType = (typeof OPTIMIZER_TYPES)[number];

/** Whether a parameter is exempt from weight decay (see noDecay.ts). */
export type NoDecay = (param: string) => boolean;

/**
 * Everything needed to resume an optimiser exactly: its per-parameter buffers, by
 * `<param>.<buffer>` as PyTorch names them (momentum_buffer, exp_avg, exp_avg_sq, step), and the
 * number of optimiser steps taken (what the learning-rate schedule is evaluated at).
 */
export interface OptimizerState {
  type: OptimizerType;
  step: number;
  buffers: Map<string, Float32Array>;
}

export interface Optimizer {
  readonly type: OptimizerType;
  /** Optimiser steps taken so far. */
  readonly step: number;
  /**
   * One update, in place, of every parameter that has a gradient in `grads` (as PyTorch skips
   * parameters whose grad is None), at learning rate `lr`.
   */
  update(params: ParamTensors, grads: ParamTensors, lr: number): void;
  /** A deep copy of the state, for a checkpoint. */
  state(): OptimizerState;
}

/** The parameter and gradient pairs an update walks, checked to have matching sizes. */
export function* paramsWithGrads(params: ParamTensors, grads: ParamTensors): Generator<[string, Float32Array, Float32Array]> {
  for (const [name, grad] of grads) {
    const param = params.get(name);
    if (!param) throw new Error(`gradient for ${name}, which is not a parameter`);
    if (param.length !== grad.length) throw new Error(`${name}: gradient has ${grad.length} values, the parameter ${param.length}`);
    yield [name, param, grad];
  }
}

/** A copy of a buffer map, so a state handed out or taken in is never aliased. */
export function copyBuffers(buffers: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...buffers].map(([k, v]) => [k, v.slice()]));
}

/** Fails when a stored buffer does not fit its parameter (a checkpoint for another model). */
export function checkedBuffer(buffers: Map<string, Float32Array>, key: string, length: number): Float32Array | undefined {
  const b = buffers.get(key);
  if (b && b.length !== length) throw new Error(`optimizer state ${key} has ${b.length} values, the parameter ${length}`);
  return b;
}
