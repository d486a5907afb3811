/**
 * Embedding arithmetic shared by verification and identification: unit-length embeddings,
 * cosine similarity, and insightface's flip test-time augmentation.
 */

/** An embedding as any model returns it (onnxruntime gives Float32Array). */
export type Embedding = ArrayLike<number>;

function assertSameSize(a: Embedding, b: Embedding): void {
  if (a.length !== b.length) throw new Error(`embedding size mismatch: ${a.length} vs ${b.length}`);
}

export function dot(a: Embedding, b: Embedding): number {
  assertSameSize(a, b);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

export function norm(v: Embedding): number {
  return Math.sqrt(dot(v, v));
}

/**
 * v / |v|. A zero vector stays zero (as sklearn's normalize does), so its cosine with anything
 * is 0 rather than NaN; a NaN or infinite component is a model bug and throws.
 */
export function l2Normalize(v: Embedding): Float32Array {
  const n = norm(v);
  if (!Number.isFinite(n)) throw new Error('embedding has a non-finite component');
  const out = new Float32Array(v.length);
  if (n === 0) return out;
  for (let i = 0; i < v.length; i++) out[i] = v[i] / n;
  return out;
}

/** Cosine similarity in [-1, 1], accumulated in float64; 0 when either vector is zero. */
export function cosine(a: Embedding, b: Embedding): number {
  const denominator = norm(a) * norm(b);
  return denominator === 0 ? 0 : dot(a, b) / denominator;
}

/**
 * Flip TTA as insightface does it: embed the image and its horizontal mirror, add the two
 * embeddings, L2-normalise the sum. (Adding raw embeddings, not normalised ones, is what its
 * verification code does; the larger-norm, more confident view weighs more.)
 */
export function flipCombine(embedding: Embedding, mirrored: Embedding): Float32Array {
  assertSameSize(embedding, mirrored);
  const sum = new Float64Array(embedding.length);
  for (let i = 0; i < sum.length; i++) sum[i] = embedding[i] + mirrored[i];
  return l2Normalize(sum);
}
