import { z } from 'zod';
import { bool, int, num, oneOf } from '../fields';

const probability = num({ min: 0, max: 1 });
const list = (length: number, what: string) =>
  z
    .array(probability)
    .length(length)
    .describe(`a list of ${length} numbers in 0..1 (${what})`);

/** detect-align: which detector, how it searches, and what the aligned crops look like. */
export const detectSection = z.strictObject({
  detector: oneOf(['mtcnn', 'yunet']),
  yunet_model: z.string().min(1).nullable().describe('a path to a YuNet .onnx file, or null'),
  min_face_size: int({ min: 4 }, 'pixels'),
  thresholds: list(3, 'MTCNN P-Net, R-Net, O-Net'),
  scale_factor: num({ above: 0, below: 1 }),
  nms_thresholds: list(4, 'MTCNN P-Net within a scale, across scales, R-Net, O-Net'),
  yunet_score_threshold: probability,
  yunet_nms_threshold: probability,
  size: int({ min: 16, max: 1024 }, 'a multiple of 112 or 128'),
  format: oneOf(['png', 'jpeg']),
  jpeg_quality: int({ min: 1, max: 100 }),
  largest: bool(),
  pad: num({ min: 0, max: 2 }, 'fraction of the side added as black border before detection'),
  max_pixels: int({ min: 1 }),
  workers: int({ min: 0 }, '0 = one worker thread per core, 1 = no worker threads'),
});

export type DetectConfig = z.infer<typeof detectSection>;
