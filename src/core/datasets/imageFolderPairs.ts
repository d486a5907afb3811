import { Rng } from '../util/rng';
import { ImagePair } from './pair';

/**
 * Verification pairs from labelled images (an ImageFolder: one folder per identity): every
 * positive pair (optionally a seeded subset) and a seeded sample of distinct negative pairs,
 * as many as the positives by default. Pairs are dealt into folds so that every fold holds
 * the same share of positives and negatives; contiguous folds over "all positives, then all
 * negatives" would leave k-fold threshold selection training on one class.
 * Each random step has its own Rng stream, so changing one cap leaves the other draws as they were.
 */

export interface LabelledImage {
  path: string;
  identity: string;
}

export interface ImageFolderPairsOptions {
  seed: number;
  /** Negatives drawn per positive pair. Default 1. */
  negativesPerPositive?: number;
  /** Keep at most this many positives (a seeded subset). Default: all. */
  maxPositives?: number;
  /** Keep at most this many negatives. Default: no cap beyond the ratio. */
  maxNegatives?: number;
  /** Folds to deal the pairs into (the `fold` of each pair). Default 10. */
  folds?: number;
}

type IndexPair = [number, number];

function allPositives(items: readonly LabelledImage[]): IndexPair[] {
  const pairs: IndexPair[] = [];
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) if (items[i].identity === items[j].identity) pairs.push([i, j]);
  }
  return pairs;
}

function countNegatives(items: readonly LabelledImage[]): number {
  const perIdentity = new Map<string, number>();
  for (const item of items) perIdentity.set(item.identity, (perIdentity.get(item.identity) ?? 0) + 1);
  let samePairs = 0;
  for (const c of perIdentity.values()) samePairs += (c * (c - 1)) / 2;
  return (items.length * (items.length - 1)) / 2 - samePairs;
}

/**
 * `count` distinct negative pairs, uniform over all of them. Sparse requests draw random index
 * pairs and reject repeats and same-identity pairs; dense ones (over half of all negatives)
 * enumerate and shuffle, where rejection would stall on repeats.
 */
function sampleNegatives(items: readonly LabelledImage[], count: number, total: number, rng: Rng): IndexPair[] {
  const n = items.length;
  if (count * 2 > total) {
    const every: IndexPair[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) if (items[i].identity !== items[j].identity) every.push([i, j]);
    }
    return rng.shuffled(every).slice(0, count);
  }
  const seen = new Set<number>();
  const picked: IndexPair[] = [];
  while (picked.length < count) {
    const x = rng.int(n);
    const y = rng.int(n);
    if (items[x].identity === items[y].identity) continue;
    const [i, j] = x < y ? [x, y] : [y, x];
    const key = i * n + j;
    if (seen.has(key)) continue;
    seen.add(key);
    picked.push([i, j]);
  }
  return picked;
}

function nonNegativeCap(value: number | undefined, name: string): number {
  if (value === undefined) return Infinity;
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be an integer >= 0, got ${value}`);
  return value;
}

/** Deals each class round-robin into folds after a seeded shuffle; returns pairs ordered by fold. */
function dealIntoFolds(items: readonly LabelledImage[], positives: IndexPair[], negatives: IndexPair[], folds: number, rng: Rng): ImagePair[] {
  const deal = (pairs: IndexPair[], same: boolean): ImagePair[] =>
    rng.shuffled(pairs).map(([i, j], k) => ({ a: items[i].path, b: items[j].path, same, fold: k % folds }));
  const all = [...deal(positives, true), ...deal(negatives, false)];
  // Array.prototype.sort is stable: within a fold, positives first, as in LFW's pairs.txt.
  return all.sort((p, q) => (p.fold ?? 0) - (q.fold ?? 0));
}

export function imageFolderPairs(items: readonly LabelledImage[], opts: ImageFolderPairsOptions): ImagePair[] {
  const folds = opts.folds ?? 10;
  if (!Number.isInteger(folds) || folds < 1) throw new Error(`folds must be an integer >= 1, got ${folds}`);
  const ratio = opts.negativesPerPositive ?? 1;
  if (!(ratio > 0)) throw new Error(`negativesPerPositive must be > 0, got ${ratio}`);
  const maxPositives = nonNegativeCap(opts.maxPositives, 'maxPositives');
  const maxNegatives = nonNegativeCap(opts.maxNegatives, 'maxNegatives');

  let positives = allPositives(items);
  if (positives.length === 0) throw new Error('no positive pairs: every identity has a single image');
  const totalNegatives = countNegatives(items);
  if (totalNegatives === 0) throw new Error('no negative pairs: all images have one identity');
  if (positives.length > maxPositives) {
    positives = new Rng(opts.seed, 'pairs-positives').shuffled(positives).slice(0, maxPositives);
  }
  const negativeCount = Math.min(Math.round(positives.length * ratio), maxNegatives, totalNegatives);
  const negatives = sampleNegatives(items, negativeCount, totalNegatives, new Rng(opts.seed, 'pairs-negatives'));
  return dealIntoFolds(items, positives, negatives, folds, new Rng(opts.seed, 'pairs-folds'));
}
