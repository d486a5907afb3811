import { z } from 'zod';
import { bool } from '../fields';

/** What `export-onnx` writes. */
export const exportSection = z.strictObject({
  l2_normalize: bool(),
  verify: bool(),
});

export type ExportConfig = z.infer<typeof exportSection>;
