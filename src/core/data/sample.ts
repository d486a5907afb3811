/**
 * One training sample, from file to model input: decode (sharp), stretch to the model's square
 * input, augment by a drawn plan, and lay out as normalised float32 CHW. A pure function of the
 * file and the plan, so it gives the same bytes in the main thread and in any worker.
 */
import { decodeImage } from '../image/image';
import { ChannelOrder, toNchw } from '../image/tensor';
import { AugmentPlan, applyAugmentation } from './augment';
import { fitToSquare } from './fit';

/** How the model takes its input (the config's `input` section). */
export interface SampleSpec {
  size: number;
  color: ChannelOrder;
  mean: number;
  std: number;
}

/** Rejects with the decoder's ImageError for an unreadable or corrupt file. */
export async function prepareSample(file: string, plan: AugmentPlan, spec: SampleSpec): Promise<Float32Array> {
  const { image } = await decodeImage(file);
  const augmented = applyAugmentation(fitToSquare(image, spec.size), plan);
  return toNchw([augmented], { channelOrder: spec.color, mean: spec.mean, std: spec.std }).data;
}
