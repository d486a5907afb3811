import { Graph } from '../graph/types';
import { groupedConvsAsDepthwise } from './groupedAsDepthwise';
import { preluAsDepthwiseConvs } from './preluAsConvs';

/** How many nodes each rewrite of rewriteForOnnxRuntime changed. */
export interface OnnxRuntimeRewrites {
  /** PRelu nodes written as depthwise convolutions (preluAsConvs.ts). */
  preluAsConvs: number;
  /** Narrow grouped Conv nodes written as depthwise convolutions (groupedAsDepthwise.ts). */
  groupedAsDepthwise: number;
}

export const NO_REWRITES: OnnxRuntimeRewrites = { preluAsConvs: 0, groupedAsDepthwise: 0 };

/**
 * The float graph in the form onnxruntime runs fastest, in place: the same function, with PRelu
 * and narrow grouped convolutions as depthwise convolutions. What export-onnx writes, and the
 * float baseline static quantization is measured against.
 */
export function rewriteForOnnxRuntime(graph: Graph): OnnxRuntimeRewrites {
  return { preluAsConvs: preluAsDepthwiseConvs(graph), groupedAsDepthwise: groupedConvsAsDepthwise(graph) };
}
