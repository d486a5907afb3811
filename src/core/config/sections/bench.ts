import { z } from 'zod';
import { int, nonEmptyList } from '../fields';

/** How `bench` measures: throughput per batch size, latency at batch 1, medians over repeats. */
export const benchSection = z.strictObject({
  batch_sizes: nonEmptyList(int({ min: 1 })),
  warmup: int({ min: 0 }),
  repeats: int({ min: 1 }),
  latency_iterations: int({ min: 1 }),
});

export type BenchConfig = z.infer<typeof benchSection>;
