import { Rng } from '../util/rng';

/**
 * A Dropout mask for one training step, drawn from the seeded Rng: each element is kept with
 * probability 1 - ratio and then holds 1/(1 - ratio) (inverted dropout), else 0. The training
 * graph multiplies by it directly.
 */
export function sampleDropoutMask(rng: Rng, count: number, ratio: number): Float32Array {
  const keep = 1 / (1 - ratio);
  const mask = new Float32Array(count);
  for (let i = 0; i < count; i++) mask[i] = rng.uniform() < ratio ? 0 : keep;
  return mask;
}
