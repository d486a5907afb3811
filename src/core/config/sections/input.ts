import { z } from 'zod';
import { INPUT_SIZE } from '../../nn/backbone';
import { exactly, num, oneOf } from '../fields';

/** How images are fed to the model: pixels 0..255 become (x - mean) / std, in `color` channel order. */
export const inputSection = z.strictObject({
  size: exactly(INPUT_SIZE, 'the backbones take 112x112 aligned faces'),
  color: oneOf(['rgb', 'bgr']),
  mean: num({ min: 0, max: 255 }),
  std: num({ above: 0 }),
});

export type InputConfig = z.infer<typeof inputSection>;
