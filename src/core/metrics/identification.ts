import { Rng } from '../util/rng';
import { Embedding, dot, l2Normalize } from './embedding';

/**
 * 1:N identification on labelled embeddings (closed set): a seeded split puts a few images of
 * each identity in the gallery and the rest become probes; each probe ranks the gallery
 * identities by cosine similarity, and the CMC curve gives the fraction of probes whose true
 * identity is within the top k (rank-1, rank-5).
 */

export type Identity = string | number;

export interface SplitOptions {
  seed: number;
  /** Gallery images per identity; the rest of that identity's images are probes. Default 1. */
  galleryPerIdentity?: number;
}

export interface GalleryProbeSplit {
  gallery: number[];
  probes: number[];
}

export interface IdentificationResult {
  rank1: number;
  rank5: number;
  /** cmc[k - 1] = fraction of probes whose identity ranks within the top k. */
  cmc: number[];
  probes: number;
  galleryImages: number;
  galleryIdentities: number;
}

export interface IdentificationOptions extends SplitOptions {
  /** Length of the CMC curve, at least 5. Default 5. */
  maxRank?: number;
}

function groupByIdentity(identities: readonly Identity[]): Map<Identity, number[]> {
  const groups = new Map<Identity, number[]>();
  identities.forEach((id, i) => {
    const members = groups.get(id);
    if (members) members.push(i);
    else groups.set(id, [i]);
  });
  return groups;
}

/**
 * Seeded gallery/probe split. Identities are visited in order of first appearance, each one's
 * images shuffled by its own draw; an identity with no more than `galleryPerIdentity` images
 * goes wholly to the gallery (a distractor: it can be confused with, but never probed).
 */
export function splitGalleryProbe(identities: readonly Identity[], opts: SplitOptions): GalleryProbeSplit {
  const perIdentity = opts.galleryPerIdentity ?? 1;
  if (!Number.isInteger(perIdentity) || perIdentity < 1) {
    throw new Error(`galleryPerIdentity must be an integer >= 1, got ${perIdentity}`);
  }
  const rng = new Rng(opts.seed, 'identification-split');
  const gallery: number[] = [];
  const probes: number[] = [];
  for (const members of groupByIdentity(identities).values()) {
    const shuffled = rng.shuffled(members);
    gallery.push(...shuffled.slice(0, perIdentity));
    probes.push(...shuffled.slice(perIdentity));
  }
  return { gallery: gallery.sort((a, b) => a - b), probes: probes.sort((a, b) => a - b) };
}

/**
 * Rank of the true identity for one probe: 1 + the number of other gallery identities scoring at
 * least as high (an identity scores its best gallery image). Ties count against the probe, so
 * a degenerate model (all embeddings equal) cannot score rank-1 by luck of ordering. A probe whose
 * identity has no gallery image gets rank Infinity (never a hit).
 */
function rankOfTruth(identityScores: Map<Identity, number>, truth: Identity): number {
  const trueScore = identityScores.get(truth);
  if (trueScore === undefined) return Infinity;
  let rank = 1;
  for (const [id, score] of identityScores) if (id !== truth && score >= trueScore) rank++;
  return rank;
}

/** CMC over a given split. Embeddings are L2-normalised here, so cosine is a dot product. */
export function identify(
  embeddings: readonly Embedding[],
  identities: readonly Identity[],
  split: GalleryProbeSplit,
  maxRank = 5,
): IdentificationResult {
  if (embeddings.length !== identities.length) {
    throw new Error(`${embeddings.length} embeddings but ${identities.length} identity labels`);
  }
  if (!Number.isInteger(maxRank) || maxRank < 5) throw new Error(`maxRank must be an integer >= 5, got ${maxRank}`);
  if (split.gallery.length === 0) throw new Error('identification needs a non-empty gallery');
  if (split.probes.length === 0) throw new Error('identification needs probes: no identity has more images than the gallery takes');
  const unit = embeddings.map(l2Normalize);
  const hitsAtRank = new Array<number>(maxRank).fill(0);
  for (const probe of split.probes) {
    const identityScores = new Map<Identity, number>();
    for (const g of split.gallery) {
      const score = dot(unit[probe], unit[g]);
      const id = identities[g];
      identityScores.set(id, Math.max(score, identityScores.get(id) ?? -Infinity));
    }
    const rank = rankOfTruth(identityScores, identities[probe]);
    if (rank <= maxRank) hitsAtRank[rank - 1]++;
  }
  const cmc: number[] = [];
  let cumulative = 0;
  for (const hits of hitsAtRank) {
    cumulative += hits;
    cmc.push(cumulative / split.probes.length);
  }
  return {
    rank1: cmc[0],
    rank5: cmc[4],
    cmc,
    probes: split.probes.length,
    galleryImages: split.gallery.length,
    galleryIdentities: new Set(split.gallery.map((g) => identities[g])).size,
  };
}

/** Seeded split, then CMC: the whole 1:N evaluation of one labelled embedding set. */
export function evaluateIdentification(
  embeddings: readonly Embedding[],
  identities: readonly Identity[],
  opts: IdentificationOptions,
): IdentificationResult {
  return identify(embeddings, identities, splitGalleryProbe(identities, opts), opts.maxRank ?? 5);
}
