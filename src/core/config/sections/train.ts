import { z } from 'zod';
import { bool, int } from '../fields';

/**
 * A training run: how long, where its files go, how often it checkpoints and logs, and what it
 * starts from. Steps are optimiser steps (micro-batches / data.batch_size accumulate into one).
 * The number of classes is not set here: it is the dataset's.
 */
export const trainSection = z.strictObject({
  epochs: int({ min: 1 }),
  max_steps: int({ min: 1 })
    .nullable()
    .describe('an integer >= 1, or empty: a cap on optimiser steps (quick runs); the schedule then spans the capped run'),
  output_dir: z.string().min(1).describe('a folder for checkpoints, metrics.jsonl and the exported model (created if missing)'),
  checkpoint_every: int({ min: 0 }, 'optimiser steps between checkpoints; 0 = only at the end'),
  log_every: int({ min: 1 }, 'optimiser steps between metrics.jsonl lines'),
  init_from: z
    .string()
    .min(1)
    .nullable()
    .describe('a .safetensors checkpoint or an .onnx backbone (ours or a third party\'s) to fine-tune from, or empty to train from scratch'),
  freeze: z.array(z.string().min(1)).describe('a list of parameter-name prefixes that are not trained, e.g. [backbone.conv1, backbone.layer1]'),
  export_onnx: bool(),
  resume: z
    .union([z.boolean(), z.literal('auto')])
    .describe('false (refuse an output_dir that holds a run), true (continue it; it must exist) or auto (continue when there is one)'),
});

export type TrainConfig = z.infer<typeof trainSection>;
