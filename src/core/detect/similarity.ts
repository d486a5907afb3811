/**
 * Least-squares similarity transform between two point sets (Umeyama 1991, "Least-squares
 * estimation of transformation parameters between two point patterns"), the estimate behind
 * skimage's SimilarityTransform and so behind insightface's face alignment. 2-D only, with the
 * 2x2 SVD in closed form.
 */
import { AffineMatrix, Point, PointLike } from '../image/affine';

/** Rows of a 2x2 matrix. */
export type Mat2 = [[number, number], [number, number]];

export interface Svd2 {
  /** Orthogonal; det +1 or -1. */
  u: Mat2;
  /** Singular values, s[0] >= s[1] >= 0. */
  s: [number, number];
  /** Orthogonal, a rotation (det +1). */
  vt: Mat2;
}

function rotation(angle: number): Mat2 {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return [
    [cos, -sin],
    [sin, cos],
  ];
}

export function det2(m: Mat2): number {
  return m[0][0] * m[1][1] - m[0][1] * m[1][0];
}

export function mul2(p: Mat2, q: Mat2): Mat2 {
  return [
    [p[0][0] * q[0][0] + p[0][1] * q[1][0], p[0][0] * q[0][1] + p[0][1] * q[1][1]],
    [p[1][0] * q[0][0] + p[1][1] * q[1][0], p[1][0] * q[0][1] + p[1][1] * q[1][1]],
  ];
}

/**
 * Closed-form SVD of a 2x2 matrix: A = U diag(s) V^T. Any 2x2 matrix splits into a scaled
 * rotation plus a scaled reflection, [[E, -H], [H, E]] + [[F, G], [G, -F]] with
 * E = (a+d)/2, F = (a-d)/2, G = (c+b)/2, H = (c-b)/2; then A = Rot(phi) diag(Q+R, Q-R) Rot(theta)
 * with Q = |(E, H)|, R = |(F, G)|, phi = (atan2(H,E) + atan2(G,F))/2, theta = (atan2(H,E) - atan2(G,F))/2.
 * When Q - R < 0 (det A < 0) its sign moves into U's second column so that s stays >= 0.
 */
export function svd2x2(m: Mat2): Svd2 {
  const [[a, b], [c, d]] = m;
  const e = (a + d) / 2;
  const f = (a - d) / 2;
  const g = (c + b) / 2;
  const h = (c - b) / 2;
  const q = Math.hypot(e, h);
  const r = Math.hypot(f, g);
  const rotationAngle = Math.atan2(h, e);
  const reflectionAngle = Math.atan2(g, f);
  const phi = (rotationAngle + reflectionAngle) / 2;
  const theta = (rotationAngle - reflectionAngle) / 2;
  const u = rotation(phi);
  const second = q - r;
  if (second < 0) {
    u[0][1] = -u[0][1];
    u[1][1] = -u[1][1];
  }
  return { u, s: [q + r, Math.abs(second)], vt: rotation(theta) };
}

function checkPoints(src: readonly PointLike[], dst: readonly PointLike[]): void {
  if (src.length !== dst.length) throw new Error(`similarity estimate: ${src.length} source points but ${dst.length} destination points, expected equal counts`);
  if (src.length < 2) throw new Error(`similarity estimate: ${src.length} point pairs, expected at least 2`);
  const finite = (p: PointLike): boolean => p.length === 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]);
  if (!src.every(finite) || !dst.every(finite)) throw new Error('similarity estimate: expected finite [x, y] points');
}

function centroid(points: readonly PointLike[]): Point {
  let x = 0;
  let y = 0;
  for (const p of points) {
    x += p[0];
    y += p[1];
  }
  return [x / points.length, y / points.length];
}

/**
 * The similarity (rotation, uniform scale, translation; never a reflection) that maps `src`
 * onto `dst` with the least sum of squared distances, as a 2x3 matrix.
 */
export function estimateSimilarity(src: readonly PointLike[], dst: readonly PointLike[]): AffineMatrix {
  checkPoints(src, dst);
  const n = src.length;
  const srcMean = centroid(src);
  const dstMean = centroid(dst);
  // Cross-covariance (1/n) sum dst_c src_c^T and the variance of the centred source.
  const cov: Mat2 = [
    [0, 0],
    [0, 0],
  ];
  let srcVariance = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i][0] - srcMean[0];
    const sy = src[i][1] - srcMean[1];
    const dx = dst[i][0] - dstMean[0];
    const dy = dst[i][1] - dstMean[1];
    cov[0][0] += (dx * sx) / n;
    cov[0][1] += (dx * sy) / n;
    cov[1][0] += (dy * sx) / n;
    cov[1][1] += (dy * sy) / n;
    srcVariance += (sx * sx + sy * sy) / n;
  }
  if (!(srcVariance > 1e-12)) throw new Error('similarity estimate: the source points all coincide, expected distinct points');
  const { u, s, vt } = svd2x2(cov);
  // Reflection fix: when the best orthogonal map would mirror (det U * det V^T < 0), flip the
  // last singular direction so the rotation stays proper (Umeyama's S = diag(1, -1)).
  const sign = det2(u) * det2(vt) < 0 ? -1 : 1;
  const rot = mul2(
    [
      [u[0][0], sign * u[0][1]],
      [u[1][0], sign * u[1][1]],
    ],
    vt,
  );
  const scale = (s[0] + sign * s[1]) / srcVariance;
  const tx = dstMean[0] - scale * (rot[0][0] * srcMean[0] + rot[0][1] * srcMean[1]);
  const ty = dstMean[1] - scale * (rot[1][0] * srcMean[0] + rot[1][1] * srcMean[1]);
  return [
    [scale * rot[0][0], scale * rot[0][1], tx],
    [scale * rot[1][0], scale * rot[1][1], ty],
  ];
}
