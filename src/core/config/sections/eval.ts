import { z } from 'zod';
import { bool, int, nonEmptyList, num } from '../fields';

/** How `eval` runs: batching, flip TTA, folds, pair sampling for ImageFolder sets, 1:N split, the embedding cache. */
export const evalSection = z.strictObject({
  batch_size: int({ min: 1 }),
  flip: bool(),
  folds: int({ min: 2 }, 'used when the pairs carry no folds of their own'),
  negatives_per_positive: num({ above: 0 }),
  seed: int({ min: 0, max: 0xffffffff }),
  fars: nonEmptyList(num({ above: 0, below: 1 })),
  gallery_per_identity: int({ min: 1 }),
  cache: bool(),
  cache_dir: z.string().min(1).describe('a folder path (a leading ~ is your home folder)'),
});

export type EvalConfig = z.infer<typeof evalSection>;
