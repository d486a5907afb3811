import { GraphBuilder } from '../graph/builder';
import { attr } from '../graph/types';
import { xavierUniform, zeros } from '../nn/init';
import { softmaxCrossEntropy } from './loss';
import { HeadDims, HeadOutputs, SoftmaxHead } from './types';

/** Plain softmax: logits = x W^T + b on the raw embedding (no normalisation, scale or margin). */
export function softmaxHead(b: GraphBuilder, embedding: string, oneHot: string, spec: SoftmaxHead, dims: HeadDims): HeadOutputs {
  const weight = b.param('weight', [dims.classes, dims.embeddingSize], xavierUniform);
  const bias = b.param('bias', [dims.classes], zeros);
  const logits = b.op1('Gemm', [embedding, weight, bias], { transB: attr.int(1) });
  return { logits, scores: logits, loss: softmaxCrossEntropy(b, logits, oneHot, dims.classes, spec.labelSmoothing) };
}
