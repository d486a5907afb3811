import { InputError } from '../errors';
import { Embedding, cosine } from '../metrics/embedding';
import { IdentificationResult, evaluateIdentification } from '../metrics/identification';
import { DEFAULT_FARS, RocCurve, TarAtFar, summarizeRoc } from '../metrics/roc';
import { FoldResult, contiguousFolds, verifyKFold } from '../metrics/verification';
import { IndexedPair } from './evalSet';

/**
 * The numbers of an evaluation, from the embeddings of a set's images: cosine score per pair,
 * k-fold accuracy with its threshold (a cosine), ROC, AUC, EER, TAR@FAR and, for labelled sets,
 * 1:N identification. Pairs that carry folds (pairs.txt, sampled ImageFolder pairs) keep them;
 * others (.bin, CSV) are split into contiguous folds in file order, as insightface does.
 */

export interface VerificationSummary {
  pairs: number;
  positives: number;
  negatives: number;
  folds: number;
  accuracy: number;
  accuracyStd: number;
  /** Mean of the per-fold thresholds, as a cosine similarity: "same" when cosine >= threshold. */
  threshold: number;
  perFold: FoldResult[];
  auc: number;
  eer: number;
  eerThreshold: number;
  tarAtFar: TarAtFar[];
  roc: RocCurve;
}

export interface ScoreOptions {
  /** Folds for sets whose pairs carry none. */
  folds: number;
  fars?: readonly number[];
}

export function scorePairs(embeddings: readonly Embedding[], pairs: readonly IndexedPair[]): Float64Array {
  return Float64Array.from(pairs, (p) => cosine(embeddings[p.a], embeddings[p.b]));
}

function foldsOf(pairs: readonly IndexedPair[], folds: number): number[] {
  if (pairs.every((p) => p.fold !== undefined)) return pairs.map((p) => p.fold!);
  if (pairs.length < folds) throw new InputError(`${pairs.length} pairs cannot be split into ${folds} folds; lower --folds`);
  return contiguousFolds(pairs.length, folds);
}

export function summarizeVerification(scores: Float64Array, pairs: readonly IndexedPair[], opts: ScoreOptions): VerificationSummary {
  const issame = pairs.map((p) => p.same);
  const positives = issame.filter(Boolean).length;
  const negatives = issame.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new InputError(`verification needs both same and different pairs; got ${positives} same and ${negatives} different`);
  }
  const foldOf = foldsOf(pairs, opts.folds);
  const kfold = verifyKFold(scores, issame, { foldOf });
  const roc = summarizeRoc(scores, issame, opts.fars ?? DEFAULT_FARS);
  return {
    pairs: pairs.length,
    positives,
    negatives,
    folds: kfold.perFold.length,
    accuracy: kfold.accuracy,
    accuracyStd: kfold.accuracyStd,
    threshold: kfold.threshold,
    perFold: kfold.perFold,
    auc: roc.auc,
    eer: roc.eer.eer,
    eerThreshold: roc.eer.threshold,
    tarAtFar: roc.tarAtFar,
    roc: roc.roc,
  };
}

export interface IdentificationSummary extends IdentificationResult {
  galleryPerIdentity: number;
}

export function summarizeIdentification(
  embeddings: readonly Embedding[],
  identities: readonly string[],
  opts: { seed: number; galleryPerIdentity: number },
): IdentificationSummary {
  return { ...evaluateIdentification(embeddings, identities, opts), galleryPerIdentity: opts.galleryPerIdentity };
}
