import { z } from 'zod';
import { bool, int, num } from '../fields';

const path = z.string().min(1).nullable();
const jitter = num({ min: 0, max: 1 }, 'factors are drawn from [1 - x, 1 + x]; 0 turns it off');

/** The seed's augmentation (RandomHorizontalFlip, RandomRotation(15), ColorJitter(0.2, 0.2, 0.2)), each part switchable. */
const augmentSection = z.strictObject({
  flip: bool(),
  rotation_degrees: num({ min: 0, max: 180 }, 'angles are drawn from [-x, x]; 0 turns it off'),
  brightness: jitter,
  contrast: jitter,
  saturation: jitter,
});

/** Training data: where the images are, how they are batched, decoded ahead and augmented. */
export const dataSection = z.strictObject({
  train_dir: path.describe('an ImageFolder (one sub-folder per identity), or null'),
  list_file: path.describe('a list file of "path label" or "path,label" lines, or null'),
  batch_size: int({ min: 1 }),
  workers: z
    .union([z.literal('auto'), z.int().gte(0)])
    .describe('auto (one worker thread per core but one) or an integer >= 0 (0 = decode in the main thread)'),
  prefetch_batches: int({ min: 1 }, 'batches decoded ahead of the one being trained on'),
  drop_last: bool(),
  shuffle: bool(),
  augment: augmentSection,
});

export type DataConfig = z.infer<typeof dataSection>;
