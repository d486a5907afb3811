/**
 * The loader's settings from a config: the `data` section for batching and augmentation, the
 * `input` section for what the model takes, `model.seed` for every random choice.
 */
import { Config } from '../config';
import { LoaderOptions } from './loader';
import { resolveWorkers } from './pool';

export function loaderOptions(config: Pick<Config, 'data' | 'input' | 'model'>, onSkip?: LoaderOptions['onSkip']): LoaderOptions {
  const { data, input } = config;
  return {
    batchSize: data.batch_size,
    dropLast: data.drop_last,
    shuffle: data.shuffle,
    seed: config.model.seed,
    augment: data.augment,
    input: { size: input.size, color: input.color, mean: input.mean, std: input.std },
    workers: resolveWorkers(data.workers),
    prefetchBatches: data.prefetch_batches,
    onSkip,
  };
}
