import { sgdMomentumStep } from './simd';
import { NoDecay, Optimizer, OptimizerState, ParamTensors, checkedBuffer, copyBuffers, paramsWithGrads } from './types';

/**
 * SGD with momentum, PyTorch semantics (torch.optim.SGD):
 *   g = grad + weight_decay * p                      (L2 weight decay, coupled)
 *   b = g at the first step, else momentum * b + (1 - dampening) * g
 *   g = g + momentum * b (Nesterov) or b
 *   p = p - lr * g
 */

export interface SgdOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

export const MOMENTUM_BUFFER = 'momentum_buffer';

export function validateSgd(o: SgdOptions): void {
  // PyTorch refuses the same combinations.
  if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) throw new Error('nesterov momentum requires a momentum > 0 and zero dampening');
}

/**
 * One parameter's update in place; `buffer` is its momentum buffer, undefined before the first
 * step. Returns the buffer. One loop per case, with no branch inside; the usual case (momentum,
 * an existing buffer, no Nesterov) runs as WebAssembly SIMD in float32 (optim/simd.ts).
 */
export function sgdUpdate(param: Float32Array, grad: Float32Array, buffer: Float32Array | undefined, lr: number, weightDecay: number, o: SgdOptions): Float32Array | undefined {
  const { momentum, dampening, nesterov } = o;
  const n = param.length;
  if (momentum === 0) {
    for (let i = 0; i < n; i++) param[i] -= lr * (grad[i] + weightDecay * param[i]);
    return undefined;
  }
  const first = buffer === undefined;
  const buf = buffer ?? new Float32Array(n);
  const keep = 1 - dampening;
  if (first && !nesterov) {
    for (let i = 0; i < n; i++) {
      buf[i] = grad[i] + weightDecay * param[i];
      param[i] -= lr * buf[i]; // the float32 buffer value, as PyTorch steps with
    }
  } else if (!nesterov) {
    sgdMomentumStep(param, grad, buf, lr, weightDecay, momentum, keep);
  } else {
    for (let i = 0; i < n; i++) {
      const d = grad[i] + weightDecay * param[i];
      buf[i] = first ? d : momentum * buf[i] + keep * d;
      param[i] -= lr * (d + momentum * buf[i]);
    }
  }
  return buf;
}

export function sgd(options: SgdOptions, noDecay: NoDecay, from?: OptimizerState): Optimizer {
  validateSgd(options);
  if (from && from.type !== 'sgd') throw new Error(`cannot resume SGD from ${from.type} optimizer state`);
  const buffers = from ? copyBuffers(from.buffers) : new Map<string, Float32Array>();
  let step = from?.step ?? 0;
  return {
    type: 'sgd',
    get step() {
      return step;
    },
    update(params: ParamTensors, grads: ParamTensors, lr: number) {
      for (const [name, param, grad] of paramsWithGrads(params, grads)) {
        const key = `${name}.${MOMENTUM_BUFFER}`;
        const decay = noDecay(name) ? 0 : options.weightDecay;
        const buf = sgdUpdate(param, grad, checkedBuffer(buffers, key, param.length), lr, decay, options);
        if (buf) buffers.set(key, buf);
      }
      step++;
    },
    state: () => ({ type: 'sgd', step, buffers: copyBuffers(buffers) }),
  };
}
