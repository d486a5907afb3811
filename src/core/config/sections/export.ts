import { z } from 'zod';
import { OPSET_VERSION } from '../../graph/types';
import { bool, int } from '../fields';

/** What `export-onnx` writes. */
export const exportSection = z.strictObject({
  l2_normalize: bool(),
  opset: int({ min: OPSET_VERSION }),
  verify: bool(),
});

export type ExportConfig = z.infer<typeof exportSection>;
