/**
 * Which sample goes where: the per-epoch order, the batches it is cut into, and the Rng each
 * slot's augmentation draws from. All of it is a function of (seed, epoch, slot) only, never of
 * timing, so the stream is the same whichever thread prepares a sample and however far ahead,
 * and training can resume at any batch.
 */
import { InputError } from '../errors';
import { Rng } from '../util/rng';

/** Dataset indices in the order epoch `epoch` visits them: a seeded shuffle, or 0..n-1. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  const identity = Array.from({ length: n }, (_, i) => i);
  return Int32Array.from(shuffle ? new Rng(seed, `data/shuffle/epoch-${epoch}`).shuffled(identity) : identity);
}

/** The Rng for the augmentation of position `slot` of epoch `epoch`. */
export function augmentRng(seed: number, epoch: number, slot: number): Rng {
  return new Rng(seed, `data/augment/epoch-${epoch}/slot-${slot}`);
}

export function batchesPerEpoch(samples: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(samples / batchSize) : Math.ceil(samples / batchSize);
}

/** Positions [start, end) of the epoch order that batch `index` covers. */
export function batchRange(samples: number, batchSize: number, index: number): { start: number; end: number } {
  const start = index * batchSize;
  return { start, end: Math.min(start + batchSize, samples) };
}

/** A batch must fit in the dataset: with fewer images than one batch there is nothing to train on. */
export function checkBatchSize(batchSize: number, samples: number, source: string): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError(`data.batch_size ${batchSize}: expected an integer >= 1`);
  if (batchSize > samples) {
    throw new InputError(`data.batch_size ${batchSize} is larger than the dataset: ${source} has ${samples} images (use a batch size of at most ${samples})`);
  }
}
