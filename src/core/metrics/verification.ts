import { Scores, assertScoresAndLabels, sweepThresholds } from './roc';

/**
 * k-fold verification accuracy, the LFW protocol as insightface computes it: the pairs are split
 * into folds in file order (sklearn KFold(n_splits=10, shuffle=False): contiguous blocks, the
 * first n % k folds one pair longer); for each fold the threshold that maximises accuracy on the
 * other folds is applied to the held-out fold; the report is the mean and the population
 * standard deviation (numpy's default) of the held-out accuracies.
 *
 * Scores are cosine similarities and a pair is called "same" when score >= threshold, so the
 * threshold reported is the cosine a user deploys (insightface reports squared-L2 distances).
 *
 * Threshold search: insightface scans a fixed grid (0..4 in steps of 0.01 of squared distance).
 * We search exactly instead: accuracy only changes between adjacent distinct training scores,
 * so the candidates are the midpoints between them plus "accept all" (the lowest score) and
 * "reject all" (just above the highest). That finds the true training optimum, is free of grid
 * resolution, and the midpoint keeps the most margin to both neighbouring scores. Ties in
 * training accuracy go to the highest (strictest) threshold, as insightface's argmax over an
 * ascending distance grid picks its strictest candidate: fewer false accepts.
 */

export interface VerifyOptions {
  /** Number of contiguous folds when `foldOf` is not given. Default 10. */
  folds?: number;
  /** Explicit fold index of every pair (e.g. from pairs.txt); overrides `folds`. */
  foldOf?: readonly number[];
}

export interface FoldResult {
  /** Cosine threshold chosen on the other folds. */
  threshold: number;
  /** Accuracy on this fold at that threshold. */
  accuracy: number;
}

export interface VerificationResult {
  accuracy: number;
  accuracyStd: number;
  /** Mean of the per-fold thresholds, as a cosine similarity. */
  threshold: number;
  perFold: FoldResult[];
}

export interface BestThreshold {
  threshold: number;
  /** Accuracy on the scores the threshold was chosen on. */
  accuracy: number;
}

/** Fold index per item for sklearn's KFold(shuffle=False): contiguous, sizes differ by at most one. */
export function contiguousFolds(count: number, folds: number): number[] {
  if (!Number.isInteger(folds) || folds < 2) throw new Error(`folds must be an integer >= 2, got ${folds}`);
  if (count < folds) throw new Error(`cannot split ${count} pairs into ${folds} folds`);
  const base = Math.floor(count / folds);
  const longer = count % folds;
  const foldOf: number[] = [];
  for (let fold = 0; fold < folds; fold++) {
    const size = fold < longer ? base + 1 : base;
    for (let i = 0; i < size; i++) foldOf.push(fold);
  }
  return foldOf;
}

/** Fraction of pairs classified correctly when "same" means score >= threshold. */
export function accuracyAt(scores: Scores, issame: readonly boolean[], threshold: number): number {
  assertScoresAndLabels(scores, issame);
  if (scores.length === 0) throw new Error('accuracy of an empty set of pairs');
  let correct = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] >= threshold === issame[i]) correct++;
  return correct / scores.length;
}

/** Midpoint of two adjacent distinct scores, nudged to `upper` if rounding lands on `lower`. */
function midpoint(lower: number, upper: number): number {
  const mid = lower + (upper - lower) / 2;
  return mid > lower ? mid : upper;
}

/** The accuracy-maximising threshold on these pairs (exact search; see the module comment). */
export function bestThreshold(scores: Scores, issame: readonly boolean[]): BestThreshold {
  if (scores.length === 0) throw new Error('cannot choose a threshold on zero pairs');
  const { steps, negatives } = sweepThresholds(scores, issame);
  let best: BestThreshold = { threshold: steps[0].threshold, accuracy: -1 };
  for (let k = 0; k < steps.length; k++) {
    const correct = steps[k].truePositives + negatives - steps[k].falsePositives;
    const accuracy = correct / scores.length;
    // Step k accepts scores >= steps[k].threshold; any threshold above the next lower distinct
    // score gives the same decisions, and the midpoint is the one with the most margin.
    const isInner = k > 0 && k + 1 < steps.length;
    const threshold = isInner ? midpoint(steps[k + 1].threshold, steps[k].threshold) : steps[k].threshold;
    // Strictly greater: scanning strictest first, ties keep the strictest threshold.
    if (accuracy > best.accuracy) best = { threshold, accuracy };
  }
  return best;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Population standard deviation (divides by n, like numpy.std by default). */
function populationStd(values: readonly number[]): number {
  const m = mean(values);
  return Math.sqrt(mean(values.map((v) => (v - m) ** 2)));
}

function resolveFolds(count: number, opts: VerifyOptions): number[] {
  if (opts.foldOf === undefined) return contiguousFolds(count, opts.folds ?? 10);
  if (opts.foldOf.length !== count) {
    throw new Error(`foldOf has ${opts.foldOf.length} entries for ${count} pairs`);
  }
  for (const fold of opts.foldOf) {
    if (!Number.isInteger(fold) || fold < 0) throw new Error(`fold indices must be integers >= 0, got ${fold}`);
  }
  return opts.foldOf.slice();
}

function select<T>(values: ArrayLike<T>, keep: readonly number[]): T[] {
  return keep.map((i) => values[i]);
}

/** k-fold verification accuracy and threshold (see the module comment for the protocol). */
export function verifyKFold(scores: Scores, issame: readonly boolean[], opts: VerifyOptions = {}): VerificationResult {
  assertScoresAndLabels(scores, issame);
  const foldOf = resolveFolds(scores.length, opts);
  const foldIds = Array.from(new Set(foldOf)).sort((x, y) => x - y);
  if (foldIds.length < 2) throw new Error(`k-fold verification needs at least 2 folds, got ${foldIds.length}`);
  const perFold = foldIds.map((fold): FoldResult => {
    const train: number[] = [];
    const test: number[] = [];
    foldOf.forEach((f, i) => (f === fold ? test : train).push(i));
    const { threshold } = bestThreshold(select(scores, train), select(issame, train));
    return { threshold, accuracy: accuracyAt(select(scores, test), select(issame, test), threshold) };
  });
  const accuracies = perFold.map((f) => f.accuracy);
  return {
    accuracy: mean(accuracies),
    accuracyStd: populationStd(accuracies),
    threshold: mean(perFold.map((f) => f.threshold)),
    perFold,
  };
}
