import { cosine, flipCombine, l2Normalize } from '../src/core/metrics/embedding';
import { evaluateIdentification, identify, splitGalleryProbe } from '../src/core/metrics/identification';
import {
  areaUnderCurve,
  equalErrorRate,
  nextUp,
  rocCurve,
  summarizeRoc,
  sweepThresholds,
  tarAtFar,
} from '../src/core/metrics/roc';
import { accuracyAt, bestThreshold, contiguousFolds, verifyKFold } from '../src/core/metrics/verification';
import { Rng } from '../src/core/util/rng';

const T = true;
const F = false;

describe('verifyKFold', () => {
  // 7 pairs in 3 contiguous folds of sizes 3, 2, 2 (KFold gives the first n % k folds one more).
  const scores = [0.9, 0.1, 0.35, 0.8, 0.2, 0.7, 0.6];
  const issame = [T, F, T, T, F, T, F];

  it('splits folds like sklearn KFold(shuffle=False)', () => {
    expect(contiguousFolds(7, 3)).toEqual([0, 0, 0, 1, 1, 2, 2]);
    expect(contiguousFolds(10, 3)).toEqual([0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
    expect(() => contiguousFolds(2, 3)).toThrow('cannot split 2 pairs into 3 folds');
  });

  it('matches the hand-worked 3-fold case', () => {
    const result = verifyKFold(scores, issame, { folds: 3 });
    // Fold 0 held out: train {0.8T 0.7T 0.6F 0.2F} separates at mid(0.6, 0.7) = 0.65;
    //   test {0.9T ok, 0.1F ok, 0.35T missed} = 2/3.
    // Fold 1 held out: train {0.9T 0.7T 0.6F 0.35T 0.1F}: 4/5 at 0.65 and at mid(0.1, 0.35) = 0.225;
    //   the tie goes to the stricter 0.65; test {0.8T ok, 0.2F ok} = 1.
    // Fold 2 held out: train {0.9T 0.8T 0.35T 0.2F 0.1F} separates at mid(0.2, 0.35) = 0.275;
    //   test {0.7T ok, 0.6F accepted} = 1/2.
    expect(result.perFold.map((f) => f.threshold)).toEqual([
      expect.closeTo(0.65, 12),
      expect.closeTo(0.65, 12),
      expect.closeTo(0.275, 12),
    ]);
    expect(result.perFold.map((f) => f.accuracy)).toEqual([2 / 3, 1, 1 / 2]);
    expect(result.accuracy).toBeCloseTo(13 / 18, 12);
    // Population std of (2/3, 1, 1/2): deviations -1/18, 5/18, -4/18 -> sqrt(42/3) / 18.
    expect(result.accuracyStd).toBeCloseTo(Math.sqrt(14) / 18, 12);
    expect(result.threshold).toBeCloseTo((0.65 + 0.65 + 0.275) / 3, 12);
  });

  it('gives the same result with explicit fold indices in any order', () => {
    const permutation = [6, 3, 0, 5, 1, 4, 2];
    const foldOf = [0, 0, 0, 1, 1, 2, 2];
    const result = verifyKFold(
      permutation.map((i) => scores[i]),
      permutation.map((i) => issame[i]),
      { foldOf: permutation.map((i) => foldOf[i]) },
    );
    expect(result.perFold.map((f) => f.accuracy)).toEqual([2 / 3, 1, 1 / 2]);
    expect(result.accuracy).toBeCloseTo(13 / 18, 12);
  });

  it('reports a perfect, separable set as accuracy 1, std 0', () => {
    const s = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.95, 0.05];
    const same = [T, F, T, F, T, F, T, F];
    const result = verifyKFold(s, same, { folds: 4 });
    expect(result.accuracy).toBe(1);
    expect(result.accuracyStd).toBe(0);
    for (const fold of result.perFold) expect(fold.threshold).toBeGreaterThan(0.3);
  });

  it('rejects bad input', () => {
    expect(() => verifyKFold([0.1, 0.2], [T], {})).toThrow('differ in length');
    expect(() => verifyKFold([0.1, NaN, 0.3, 0.4], [T, F, T, F], { folds: 2 })).toThrow('not a finite number');
    expect(() => verifyKFold([0.1, 0.2], [T, F], { foldOf: [0, 0] })).toThrow('at least 2 folds');
    expect(() => verifyKFold([0.1, 0.2], [T, F], { foldOf: [0] })).toThrow('foldOf has 1 entries for 2 pairs');
  });
});

describe('bestThreshold', () => {
  it('breaks accuracy ties toward the strictest threshold', () => {
    // Accept-all (0.1) and mid(0.5, 0.9) = 0.7 both get 2/3 right.
    expect(bestThreshold([0.1, 0.5, 0.9], [T, F, T])).toEqual({ threshold: expect.closeTo(0.7, 12), accuracy: 2 / 3 });
  });

  it('rejects everything when every pair is different', () => {
    const best = bestThreshold([0.3, 0.5], [F, F]);
    expect(best.accuracy).toBe(1);
    expect(best.threshold).toBeGreaterThan(0.5);
    expect(best.threshold).toBe(nextUp(0.5));
  });

  it('finds the true optimum on random tied scores (brute force over every threshold)', () => {
    const rng = new Rng(7, 'best-threshold-test');
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + rng.int(40);
      const issame = Array.from({ length: n }, () => rng.uniform() < 0.5);
      // Two decimals make ties; same pairs score higher on average.
      const scores = issame.map((s) => Math.round((rng.normal() * 0.3 + (s ? 0.4 : 0)) * 100) / 100);
      const candidates = [...scores, nextUp(Math.max(...scores))];
      const bruteForce = Math.max(...candidates.map((t) => accuracyAt(scores, issame, t)));
      const best = bestThreshold(scores, issame);
      expect(best.accuracy).toBeCloseTo(bruteForce, 12);
      expect(accuracyAt(scores, issame, best.threshold)).toBeCloseTo(best.accuracy, 12);
    }
  });
});

describe('ROC', () => {
  /** P(same score > different score) + P(equal) / 2, by counting every (same, different) couple. */
  function mannWhitney(scores: number[], issame: boolean[]): number {
    let wins = 0;
    let couples = 0;
    scores.forEach((s, i) => {
      if (!issame[i]) return;
      scores.forEach((d, j) => {
        if (issame[j]) return;
        couples++;
        wins += s > d ? 1 : s === d ? 0.5 : 0;
      });
    });
    return wins / couples;
  }

  it('AUC equals the Mann-Whitney probability with ties counting 1/2', () => {
    const rng = new Rng(3, 'auc-test');
    for (let trial = 0; trial < 10; trial++) {
      const n = 20 + rng.int(200);
      const issame = Array.from({ length: n }, (_, i) => i % 3 === 0);
      const scores = issame.map((s) => Math.round((rng.normal() + (s ? 0.8 : 0)) * 10) / 10);
      expect(areaUnderCurve(rocCurve(scores, issame).points)).toBeCloseTo(mannWhitney(scores, issame), 12);
    }
  });

  it('AUC of a hand case with a tie', () => {
    // same {0.9, 0.5}, different {0.5, 0.1}: wins 1 + 1 + 1/2 + 1 of 4.
    expect(areaUnderCurve(rocCurve([0.9, 0.5, 0.5, 0.1], [T, T, F, F]).points)).toBe(0.875);
  });

  it('runs from (0, 0) to (1, 1) with one point per distinct score', () => {
    const { points } = rocCurve([0.9, 0.5, 0.5, 0.1], [T, T, F, F]);
    expect(points).toEqual([
      { fpr: 0, tpr: 0, threshold: nextUp(0.9) },
      { fpr: 0, tpr: 0.5, threshold: 0.9 },
      { fpr: 0.5, tpr: 1, threshold: 0.5 },
      { fpr: 1, tpr: 1, threshold: 0.1 },
    ]);
    expect(() => rocCurve([0.1, 0.2], [T, T])).toThrow('both kinds of pairs');
  });

  it('EER on a vertex', () => {
    // same {0.9, 0.8, 0.4}, different {0.7, 0.3, 0.2}: at threshold 0.7, fpr = 1/3 = 1 - tpr.
    const { points } = rocCurve([0.9, 0.8, 0.4, 0.7, 0.3, 0.2], [T, T, T, F, F, F]);
    expect(equalErrorRate(points)).toEqual({ eer: expect.closeTo(1 / 3, 12), threshold: 0.7 });
  });

  it('EER interpolated along a tie segment', () => {
    // Curve (0,0) -> (0,0.5) -> (0.5,1) -> (1,1): fnr - fpr goes 0.5 -> -0.5 on the middle
    // segment, crossing halfway at fpr = 0.25. Both ends are equally near; the stricter (0.9) wins.
    const { points } = rocCurve([0.9, 0.5, 0.5, 0.1], [T, T, F, F]);
    expect(equalErrorRate(points)).toEqual({ eer: 0.25, threshold: 0.9 });
  });

  const same = [0.99, 0.9, 0.6, 0.45];
  const different = [0.95, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05];
  const scores = [...same, ...different];
  const labels = [...same.map(() => T), ...different.map(() => F)];

  it('TAR@FAR takes the most lenient threshold within the allowed false accepts', () => {
    const results = tarAtFar(sweepThresholds(scores, labels), [0.3, 0.1, 0.01]);
    // 10 negatives: FAR 0.3 allows 3 false accepts (0.95, 0.5, 0.4) -> threshold 0.4 accepts all 4 same;
    // FAR 0.1 allows 1 (0.95) -> threshold 0.6 accepts 0.99, 0.9, 0.6; FAR 0.01 (< 1/10) is not measurable.
    expect(results).toEqual([
      { far: 0.3, tar: 1, threshold: 0.4, achievedFar: 0.3 },
      { far: 0.1, tar: 0.75, threshold: 0.6, achievedFar: 0.1 },
    ]);
  });

  it('TAR@FAR never splits a tie that would exceed the FAR', () => {
    // Two negatives tie with a positive at the top: FAR 0.1 of 10 negatives allows one false accept,
    // the tie brings two, so nothing can be accepted.
    const tied = [0.8, 0.8, 0.8, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
    const tiedLabels = [T, F, F, T, F, F, F, F, F, F, F, F];
    expect(tarAtFar(sweepThresholds(tied, tiedLabels), [0.1])).toEqual([
      { far: 0.1, tar: 0, threshold: nextUp(0.8), achievedFar: 0 },
    ]);
  });

  it('reports FAR down to 1 / negatives (LFW: 1e-3 of 3000, not 1e-4)', () => {
    const rng = new Rng(5, 'lfw-like');
    const issame = Array.from({ length: 6000 }, (_, i) => i % 2 === 0);
    const s = issame.map((v) => rng.normal() + (v ? 3 : 0));
    const summary = summarizeRoc(s, issame);
    expect(summary.tarAtFar.map((r) => r.far)).toEqual([1e-1, 1e-2, 1e-3]);
    for (const r of summary.tarAtFar) expect(r.achievedFar).toBeLessThanOrEqual(r.far);
    expect(summary.auc).toBeGreaterThan(0.95);
    expect(summary.eer.eer).toBeLessThan(0.1);
  });
});

describe('embedding', () => {
  it('normalises, compares and combines flips', () => {
    expect(Array.from(l2Normalize([3, 4]))).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    expect(Array.from(l2Normalize([0, 0]))).toEqual([0, 0]);
    expect(cosine([1, 0], [1, 1])).toBeCloseTo(Math.SQRT1_2, 12);
    expect(cosine([0, 0], [1, 1])).toBe(0);
    expect(() => cosine([1, 0], [1, 0, 0])).toThrow('embedding size mismatch: 2 vs 3');
    // Raw embeddings are summed before normalising (insightface), so the longer one weighs more.
    expect(Array.from(flipCombine([3, 0], [0, 1]))).toEqual([
      expect.closeTo(3 / Math.sqrt(10), 6),
      expect.closeTo(1 / Math.sqrt(10), 6),
    ]);
  });
});

describe('identification', () => {
  it('ranks probes against gallery identities (hand case)', () => {
    // Gallery: six identities, one image each.
    const gallery: [string, number[]][] = [
      ['A', [1, 0]],
      ['B', [0, 1]],
      ['C', [-1, 0]],
      ['D', [0, -1]],
      ['E', [1, 1]],
      ['G', [-1, 1]],
    ];
    const probes: [string, number[]][] = [
      ['A', [1, 0.05]], // nearest A: rank 1
      ['B', [0.6, 0.8]], // E (0.99) beats B (0.8): rank 2
      ['C', [0.2, -1]], // D 0.98, A 0.20, then C -0.20: rank 3
      ['G', [0, -1]], // D 1, A 0, C 0, then E and G tie at -0.71 (tie counts against): rank 5
      ['B', [0, -1]], // B is the farthest of six: rank 6
    ];
    const all = [...gallery, ...probes];
    const split = { gallery: gallery.map((_, i) => i), probes: probes.map((_, i) => gallery.length + i) };
    const result = identify(
      all.map(([, e]) => e),
      all.map(([id]) => id),
      split,
    );
    expect(result.cmc).toEqual([1 / 5, 2 / 5, 3 / 5, 3 / 5, 4 / 5]);
    expect(result.rank1).toBe(0.2);
    expect(result.rank5).toBe(0.8);
    expect(result.galleryIdentities).toBe(6);
    expect(result.probes).toBe(5);
  });

  it('scores an identity by its best gallery image', () => {
    const embeddings = [[0, 1], [1, 0], [0.6, 0.8], [0, 1]];
    const ids = ['A', 'A', 'B', 'A'];
    // Probe A [0,1]: A's images score 1 and 0 (best 1), B scores 0.8. A mean, or the last image, would rank B first.
    expect(identify(embeddings, ids, { gallery: [0, 1, 2], probes: [3] }).rank1).toBe(1);
  });

  it('splits one gallery image per identity, deterministically for a seed', () => {
    const ids = ['a', 'a', 'a', 'b', 'b', 'c'];
    const split = splitGalleryProbe(ids, { seed: 1 });
    expect(split.gallery.map((i) => ids[i]).sort()).toEqual(['a', 'b', 'c']);
    expect(split.probes.map((i) => ids[i]).sort()).toEqual(['a', 'a', 'b']);
    expect(splitGalleryProbe(ids, { seed: 1 })).toEqual(split);
    const galleries = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => splitGalleryProbe(ids, { seed }).gallery.join()));
    expect(galleries.size).toBeGreaterThan(1);
    expect(splitGalleryProbe(ids, { seed: 1, galleryPerIdentity: 2 }).probes.map((i) => ids[i])).toEqual(['a']);
  });

  it('reaches rank-1 = 1 on well separated clusters, and fails cleanly without probes', () => {
    const rng = new Rng(11, 'clusters');
    const centres = Array.from({ length: 8 }, () => Array.from({ length: 16 }, () => rng.normal()));
    const ids: number[] = [];
    const embeddings: number[][] = [];
    centres.forEach((c, id) => {
      for (let k = 0; k < 4; k++) {
        ids.push(id);
        embeddings.push(c.map((v) => v + 0.01 * rng.normal()));
      }
    });
    const result = evaluateIdentification(embeddings, ids, { seed: 2 });
    expect(result.rank1).toBe(1);
    expect(result.probes).toBe(24);
    expect(() => evaluateIdentification([[1], [2]], ['x', 'y'], { seed: 0 })).toThrow('needs probes');
  });
});
