import { ParamTensors } from './types';

/**
 * Gradient accumulation over micro-batches. Each micro-batch's gradient is of its mean loss, so
 * weighting by its sample count and dividing by the total gives the gradient of the mean over
 * all samples: exactly one big batch's gradient (for models without batch statistics; BatchNorm
 * still normalises per micro-batch).
 */
export class GradientAccumulator {
  private sums: ParamTensors | undefined;
  private single: ParamTensors | undefined;
  private samples = 0;
  private batches = 0;

  constructor(readonly microBatches: number) {
    if (!Number.isInteger(microBatches) || microBatches < 1) throw new Error(`accumulation steps must be an integer >= 1, got ${microBatches}`);
  }

  /** Micro-batches added since the last take. */
  get count(): number {
    return this.batches;
  }

  get full(): boolean {
    return this.batches >= this.microBatches;
  }

  /**
   * Adds one micro-batch's gradients (of its mean loss over `samples` samples). Without
   * accumulation the map itself is handed on by take(); otherwise its values are copied here.
   */
  add(grads: ParamTensors, samples: number): void {
    if (this.full) throw new Error(`accumulated ${this.batches} micro-batches already; take() them first`);
    if (!(samples > 0)) throw new Error(`a micro-batch needs samples > 0, got ${samples}`);
    if (this.microBatches === 1) this.single = grads;
    else if (this.batches === 0) this.sums = weighted(grads, samples);
    else addWeighted(this.sums as ParamTensors, grads, samples);
    this.samples += samples;
    this.batches++;
  }

  /** The sample-weighted mean gradient of what was added (full or not); resets. */
  take(): ParamTensors {
    if (this.batches === 0) throw new Error('no gradients accumulated');
    const out = this.single ?? scaled(this.sums as ParamTensors, 1 / this.samples);
    this.sums = undefined;
    this.single = undefined;
    this.samples = 0;
    this.batches = 0;
    return out;
  }
}

function weighted(grads: ParamTensors, w: number): ParamTensors {
  return new Map([...grads].map(([name, g]) => [name, Float32Array.from(g, (v) => v * w)]));
}

function addWeighted(into: ParamTensors, grads: ParamTensors, w: number): void {
  if (grads.size !== into.size) throw new Error(`micro-batch has gradients for ${grads.size} parameters, earlier ones for ${into.size}`);
  for (const [name, g] of grads) {
    const sum = into.get(name);
    if (!sum || sum.length !== g.length) throw new Error(`micro-batch gradient ${name} does not match the earlier ones`);
    for (let i = 0; i < g.length; i++) sum[i] += g[i] * w;
  }
}

function scaled(grads: ParamTensors, w: number): ParamTensors {
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= w;
  return grads;
}
