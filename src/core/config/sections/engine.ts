import { z } from 'zod';
import { int, oneOf } from '../fields';

/** onnxruntime session settings. */
export const engineSection = z.strictObject({
  provider: oneOf(['cpu', 'cuda', 'tensorrt']),
  threads: int({ min: 0 }, "0 lets onnxruntime choose"),
  graph_optimization: oneOf(['disabled', 'basic', 'extended', 'all']),
});

export type EngineConfig = z.infer<typeof engineSection>;
