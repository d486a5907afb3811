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

/** One parameter's update in place; `buffer` is its momentum buffer, undefined before the first step. Returns the buffer. */
export function sgdUpdate(param: Float32Array, grad: Float32Array, buffer: Float32Array | undefined, lr: number, weightDecay: number, o: SgdOptions): Float32Array | undefined {
  const { momentum, dampening, nesterov } = o;
  const buf = momentum !== 0 ? (buffer ?? new Float32Array(param.length)) : undefined;
  const first = buffer === undefined;
  for (let i = 0; i < param.length; i++) {
    let d = grad[i] + weightDecay * param[i];
    if (buf) {
      buf[i] = first ? d : momentum * buf[i] + (1 - dampening) * d;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    param[i] -= lr * d;
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
