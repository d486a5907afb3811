import { z } from 'zod';
import { bool, int, num, oneOf } from '../fields';

/** What `quantize` (and the int8 calibration of `export-tflite`) does by default. */
export const quantizeSection = z.strictObject({
  mode: oneOf(['static', 'dynamic', 'float16']),
  calibration_images: int({ min: 1 }),
  method: oneOf(['minmax', 'percentile', 'entropy']),
  percentile: num({ above: 50, max: 100 }),
  symmetric: bool(),
  activation_type: oneOf(['uint8', 'int8']),
  per_channel: bool(),
  reduce_range: bool(),
  equalize: bool(),
  dynamic_form: oneOf(['integer', 'qdq']),
  batch_size: int({ min: 1 }),
});

export type QuantizeConfig = z.infer<typeof quantizeSection>;
