/**
 * 2-D points and 2x3 affine matrices in OpenCV's convention: M maps a point (x, y) to
 * (M[0][0] x + M[0][1] y + M[0][2], M[1][0] x + M[1][1] y + M[1][2]), x to the right, y down,
 * integer coordinates at pixel centres.
 */

/** [x, y] in pixels. */
export type Point = [number, number];

/** What functions accept: any [x, y] pair, including readonly constants. */
export type PointLike = readonly [number, number];

/** Rows of a 2x3 matrix, as cv2.warpAffine and skimage's params[0:2] hold it. */
export type AffineMatrix = [[number, number, number], [number, number, number]];

export function applyAffine(m: AffineMatrix, p: PointLike): Point {
  return [m[0][0] * p[0] + m[0][1] * p[1] + m[0][2], m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]];
}

/** Determinant of the linear part: > 0 keeps orientation, < 0 mirrors. */
export function affineDeterminant(m: AffineMatrix): number {
  return m[0][0] * m[1][1] - m[0][1] * m[1][0];
}

/** The inverse map; throws when the linear part is singular. */
export function invertAffine(m: AffineMatrix): AffineMatrix {
  const det = affineDeterminant(m);
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) throw new Error(`affine matrix ${JSON.stringify(m)}: expected an invertible linear part, determinant is ${det}`);
  const a = m[1][1] / det;
  const b = -m[0][1] / det;
  const c = -m[1][0] / det;
  const d = m[0][0] / det;
  return [
    [a, b, -(a * m[0][2] + b * m[1][2])],
    [c, d, -(c * m[0][2] + d * m[1][2])],
  ];
}

/** The map that applies `first`, then `second`. */
export function composeAffine(second: AffineMatrix, first: AffineMatrix): AffineMatrix {
  const row = (r: number): [number, number, number] => [
    second[r][0] * first[0][0] + second[r][1] * first[1][0],
    second[r][0] * first[0][1] + second[r][1] * first[1][1],
    second[r][0] * first[0][2] + second[r][1] * first[1][2] + second[r][2],
  ];
  return [row(0), row(1)];
}

/** A similarity: scale, rotate by `angle` radians (clockwise on screen for angle > 0, as y points down), then shift. */
export function similarityMatrix(scale: number, angle: number, shiftX: number, shiftY: number): AffineMatrix {
  const cos = scale * Math.cos(angle);
  const sin = scale * Math.sin(angle);
  return [
    [cos, -sin, shiftX],
    [sin, cos, shiftY],
  ];
}
