import { GradientAccumulator } from './accumulate';
import { globalNorm, scaleToMaxNorm } from './clip';
import { NonFiniteError, findNonFinite } from './finite';
import { Optimizer, ParamTensors } from './types';

/**
 * One optimiser step's cycle: accumulate micro-batch gradients, then check them for NaN/Inf,
 * clip their global norm, and update at the schedule's rate for this optimiser step. The
 * schedule is evaluated at the optimiser's step count, so it advances once per update however
 * many micro-batches feed it.
 */

export interface UpdaterOptions {
  optimizer: Optimizer;
  /** Learning rate at an optimiser step (0-based). */
  learningRate: (step: number) => number;
  /** Micro-batches per optimiser step. */
  accumulationSteps: number;
  /** Maximum global gradient norm; 0 turns clipping off. */
  gradClip: number;
}

export interface StepReport {
  /** The optimiser step just taken (0-based). */
  step: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  clipped: boolean;
}

export class Updater {
  private readonly accumulator: GradientAccumulator;

  constructor(private readonly o: UpdaterOptions) {
    if (!(o.gradClip >= 0)) throw new Error(`grad_clip must be >= 0, got ${o.gradClip}`);
    this.accumulator = new GradientAccumulator(o.accumulationSteps);
  }

  /** Micro-batches waiting for the next update. */
  get pending(): number {
    return this.accumulator.count;
  }

  /**
   * Adds one micro-batch's gradients; when the accumulation is full, updates `params` and
   * reports the step. Without accumulation, clipping scales `grads` in place, and
   * `sumOfSquares` (the sum of every gradient's squares, when the engine computed it) stands in
   * for a pass over them; with accumulation the sum is taken over the accumulated gradients.
   */
  push(params: ParamTensors, grads: ParamTensors, samples: number, sumOfSquares?: number): StepReport | undefined {
    this.accumulator.add(grads, samples);
    if (!this.accumulator.full) return undefined;
    return this.apply(params, this.o.accumulationSteps === 1 ? sumOfSquares : undefined);
  }

  /** Updates with a partial accumulation (the end of an epoch); nothing when none is pending. */
  flush(params: ParamTensors): StepReport | undefined {
    return this.accumulator.count > 0 ? this.apply(params) : undefined;
  }

  private apply(params: ParamTensors, sumOfSquares?: number): StepReport {
    const grads = this.accumulator.take();
    const step = this.o.optimizer.step;
    const gradNorm = sumOfSquares === undefined ? globalNorm(grads) : Math.sqrt(sumOfSquares);
    if (!Number.isFinite(gradNorm)) {
      const bad = findNonFinite(grads);
      // A finite set of values can still overflow the norm's sum of squares.
      throw new NonFiniteError(step, bad ?? { tensor: 'the global gradient norm', index: 0, value: gradNorm });
    }
    const clipped = this.o.gradClip > 0 && scaleToMaxNorm(grads, gradNorm, this.o.gradClip);
    const lr = this.o.learningRate(step);
    this.o.optimizer.update(params, grads, lr);
    return { step, lr, gradNorm, clipped };
  }
}
