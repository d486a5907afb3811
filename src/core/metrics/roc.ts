/**
 * ROC analysis of verification scores: the curve, AUC, EER and TAR@FAR.
 *
 * Scores are similarities (higher = more likely the same person); a threshold t accepts a pair
 * when score >= t. Equal scores cannot be separated by any threshold, so each distinct score is
 * one step of the curve (a diagonal segment when it holds both kinds of pairs). With that, the
 * trapezoidal AUC equals the Mann-Whitney probability P(same score > different score) with
 * ties counting 1/2.
 */

export type Scores = Float64Array | Float32Array | readonly number[];

/** One operating point, as counts: every pair with score >= threshold is accepted. */
export interface SweepStep {
  threshold: number;
  truePositives: number;
  falsePositives: number;
}

export interface ThresholdSweep {
  /** Strictest first: step 0 accepts nothing, the last step accepts every pair. */
  steps: SweepStep[];
  positives: number;
  negatives: number;
}

export interface RocPoint {
  fpr: number;
  tpr: number;
  threshold: number;
}

export interface RocCurve {
  points: RocPoint[];
  positives: number;
  negatives: number;
}

export interface EqualErrorRate {
  eer: number;
  /** A real operating point: the end of the crossing segment nearer to fpr = fnr. */
  threshold: number;
}

export interface TarAtFar {
  /** The requested false accept rate. */
  far: number;
  tar: number;
  threshold: number;
  /** The false accept rate this threshold actually gives (<= far). */
  achievedFar: number;
}

export interface RocSummary {
  roc: RocCurve;
  auc: number;
  eer: EqualErrorRate;
  tarAtFar: TarAtFar[];
}

export const DEFAULT_FARS: readonly number[] = [1e-1, 1e-2, 1e-3, 1e-4];

export function assertScoresAndLabels(scores: Scores, issame: readonly boolean[]): void {
  if (scores.length !== issame.length) {
    throw new Error(`scores and labels differ in length: ${scores.length} scores, ${issame.length} labels`);
  }
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw new Error(`score ${i} is not a finite number: ${scores[i]}`);
  }
}

/** The smallest double greater than x: a threshold that rejects a score equal to x and nothing lower. */
export function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Infinity) return x;
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigInt64(0);
  // IEEE-754 doubles of one sign are ordered like their bit patterns.
  view.setBigInt64(0, x > 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}

/**
 * Every distinct operating point, strictest first. Step 0's threshold is just above the
 * highest score (accepts nothing); step k accepts every score >= the k-th highest distinct score.
 */
export function sweepThresholds(scores: Scores, issame: readonly boolean[]): ThresholdSweep {
  assertScoresAndLabels(scores, issame);
  const order = Array.from(scores.keys()).sort((i, j) => scores[j] - scores[i]);
  const positives = issame.filter(Boolean).length;
  const negatives = issame.length - positives;
  const highest = order.length > 0 ? scores[order[0]] : 0;
  const steps: SweepStep[] = [{ threshold: nextUp(highest), truePositives: 0, falsePositives: 0 }];
  let truePositives = 0;
  let falsePositives = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (issame[i]) truePositives++;
    else falsePositives++;
    const endOfTie = k + 1 === order.length || scores[order[k + 1]] !== scores[i];
    if (endOfTie) steps.push({ threshold: scores[i], truePositives, falsePositives });
  }
  return { steps, positives, negatives };
}

function ratesOf(sweep: ThresholdSweep): RocCurve {
  const { steps, positives, negatives } = sweep;
  if (positives === 0 || negatives === 0) {
    throw new Error(`ROC needs both kinds of pairs; got ${positives} same and ${negatives} different`);
  }
  const points = steps.map((s) => ({
    fpr: s.falsePositives / negatives,
    tpr: s.truePositives / positives,
    threshold: s.threshold,
  }));
  return { points, positives, negatives };
}

/** ROC points from (0, 0) to (1, 1), thresholds decreasing. */
export function rocCurve(scores: Scores, issame: readonly boolean[]): RocCurve {
  return ratesOf(sweepThresholds(scores, issame));
}

/** Trapezoidal area under the curve (ties are diagonal steps, so they count 1/2). */
export function areaUnderCurve(points: readonly RocPoint[]): number {
  let area = 0;
  for (let k = 1; k < points.length; k++) {
    area += ((points[k].fpr - points[k - 1].fpr) * (points[k].tpr + points[k - 1].tpr)) / 2;
  }
  return area;
}

/**
 * The rate where false accepts equal false rejects (fpr = 1 - tpr), interpolated linearly along
 * the curve segment where fnr - fpr changes sign. fnr - fpr falls from 1 at the first point to
 * -1 at the last, so the crossing always exists.
 */
export function equalErrorRate(points: readonly RocPoint[]): EqualErrorRate {
  const gap = (p: RocPoint) => 1 - p.tpr - p.fpr;
  for (let k = 1; k < points.length; k++) {
    const before = points[k - 1];
    const after = points[k];
    if (gap(after) > 0) continue;
    // gap(before) > 0 >= gap(after): every earlier segment was skipped for ending above zero.
    const fraction = gap(before) / (gap(before) - gap(after));
    const eer = before.fpr + fraction * (after.fpr - before.fpr);
    // Points between two vertices are only reachable by breaking ties at random, so the
    // threshold reported is the vertex nearer the crossing (the stricter one on a tie).
    const threshold = Math.abs(gap(before)) <= Math.abs(gap(after)) ? before.threshold : after.threshold;
    return { eer, threshold };
  }
  throw new Error('ROC curve does not reach fpr = 1');
}

/**
 * TAR at each requested FAR: the most lenient operating point whose false accepts stay within
 * far x negatives. A FAR below 1 / negatives cannot be measured (it would allow less than one
 * false accept), so it is left out of the result rather than reported as a misleading number;
 * callers learn what was measurable from which `far` values are present.
 */
export function tarAtFar(sweep: ThresholdSweep, fars: readonly number[] = DEFAULT_FARS): TarAtFar[] {
  const { steps, positives, negatives } = sweep;
  if (positives === 0 || negatives === 0) {
    throw new Error(`TAR@FAR needs both kinds of pairs; got ${positives} same and ${negatives} different`);
  }
  const results: TarAtFar[] = [];
  for (const far of fars) {
    // The epsilon absorbs products like 1e-3 * 3000 = 2.9999999999999996.
    const allowedFalseAccepts = Math.floor(far * negatives + 1e-9);
    if (allowedFalseAccepts < 1) continue;
    let chosen = steps[0];
    for (const step of steps) {
      if (step.falsePositives > allowedFalseAccepts) break;
      chosen = step;
    }
    results.push({
      far,
      tar: chosen.truePositives / positives,
      threshold: chosen.threshold,
      achievedFar: chosen.falsePositives / negatives,
    });
  }
  return results;
}

/** Everything ROC-derived that an evaluation reports, from one sort of the scores. */
export function summarizeRoc(scores: Scores, issame: readonly boolean[], fars: readonly number[] = DEFAULT_FARS): RocSummary {
  const sweep = sweepThresholds(scores, issame);
  const roc = ratesOf(sweep);
  return { roc, auc: areaUnderCurve(roc.points), eer: equalErrorRate(roc.points), tarAtFar: tarAtFar(sweep, fars) };
}
