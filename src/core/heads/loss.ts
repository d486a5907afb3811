import { GraphBuilder } from '../graph/builder';
import { attr } from '../graph/types';
import { scalar, sumAlong } from './tensors';

/**
 * Softmax cross-entropy with label smoothing, in PyTorch's form (CrossEntropyLoss's
 * label_smoothing): the target distribution is (1 - eps) * one_hot + eps / C, and the loss is
 * the batch mean of -sum_j target_j * log_softmax(logits)_j. At eps = 0 it is plain CE.
 */
export function softmaxCrossEntropy(b: GraphBuilder, logits: string, oneHot: string, classes: number, smoothing: number): string {
  return b.within('loss', () => {
    const logProbs = b.op1('LogSoftmax', [logits], { axis: attr.int(1) });
    const target = smoothing === 0 ? oneHot : smoothedTargets(b, oneHot, classes, smoothing);
    const perSample = sumAlong(b, b.op1('Mul', [target, logProbs]), 1, false);
    return b.op1('Neg', [b.op1('ReduceMean', [perSample], { keepdims: attr.int(0) })]);
  });
}

function smoothedTargets(b: GraphBuilder, oneHot: string, classes: number, smoothing: number): string {
  const kept = b.op1('Mul', [oneHot, scalar(b, 'keep', 1 - smoothing)]);
  return b.op1('Add', [kept, scalar(b, 'spread', smoothing / classes)]);
}
