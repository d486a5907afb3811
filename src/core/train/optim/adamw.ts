import { adamwStep } from './simd';
import { NoDecay, Optimizer, OptimizerState, ParamTensors, checkedBuffer, copyBuffers, paramsWithGrads } from './types';

/**
 * AdamW, PyTorch semantics (torch.optim.AdamW, amsgrad off), with t the parameter's own step:
 *   p = p * (1 - lr * weight_decay)                  (decoupled weight decay)
 *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */

export interface AdamWOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

export const EXP_AVG = 'exp_avg';
export const EXP_AVG_SQ = 'exp_avg_sq';
/** PyTorch keeps the step per parameter; so does this (float32 counts are exact to 2^24 steps). */
export const STEP = 'step';

export interface AdamMoments {
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  /** Steps this parameter has taken, including the one being applied. */
  step: number;
}

/** One parameter's update in place, given its moments (updated in place too); WebAssembly SIMD in float32 (optim/simd.ts). */
export function adamwUpdate(param: Float32Array, grad: Float32Array, moments: AdamMoments, lr: number, weightDecay: number, o: AdamWOptions): void {
  const [beta1, beta2] = o.betas;
  const { expAvg, expAvgSq, step } = moments;
  adamwStep(param, grad, expAvg, expAvgSq, {
    beta1,
    beta2,
    shrink: 1 - lr * weightDecay,
    stepSize: lr / (1 - beta1 ** step),
    bias2Sqrt: Math.sqrt(1 - beta2 ** step),
    eps: o.eps,
  });
}

export function adamw(options: AdamWOptions, noDecay: NoDecay, from?: OptimizerState): Optimizer {
  if (from && from.type !== 'adamw') throw new Error(`cannot resume AdamW from ${from.type} optimizer state`);
  const buffers = from ? copyBuffers(from.buffers) : new Map<string, Float32Array>();
  let step = from?.step ?? 0;
  const buffer = (key: string, length: number): Float32Array => {
    const b = checkedBuffer(buffers, key, length) ?? new Float32Array(length);
    buffers.set(key, b);
    return b;
  };
  return {
    type: 'adamw',
    get step() {
      return step;
    },
    update(params: ParamTensors, grads: ParamTensors, lr: number) {
      for (const [name, param, grad] of paramsWithGrads(params, grads)) {
        const count = buffer(`${name}.${STEP}`, 1);
        count[0] += 1;
        const moments = { expAvg: buffer(`${name}.${EXP_AVG}`, param.length), expAvgSq: buffer(`${name}.${EXP_AVG_SQ}`, param.length), step: count[0] };
        adamwUpdate(param, grad, moments, lr, noDecay(name) ? 0 : options.weightDecay, options);
      }
      step++;
    },
    state: () => ({ type: 'adamw', step, buffers: copyBuffers(buffers) }),
  };
}
