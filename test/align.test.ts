import { AffineMatrix, Point, PointLike, affineDeterminant, applyAffine, composeAffine, invertAffine, similarityMatrix } from '../src/core/image/affine';
import { RgbImage, createRgbImage } from '../src/core/image/image';
import { warpAffine } from '../src/core/image/warp';
import { alignFace, arcfaceTemplate, estimateAlignment } from '../src/core/detect/align';
import { ARCFACE_TEMPLATE_112 } from '../src/core/detect/template';
import { Mat2, det2, estimateSimilarity, mul2, svd2x2 } from '../src/core/detect/similarity';
import { Rng } from '../src/core/util/rng';

const DEG = Math.PI / 180;
/** Template space -> source image: rotate 20 degrees, scale 1.3, shift. */
const KNOWN = similarityMatrix(1.3, 20 * DEG, 60, 40);

function expectMatrixClose(actual: AffineMatrix, expected: AffineMatrix, tolerance: number): void {
  for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) expect(Math.abs(actual[r][c] - expected[r][c])).toBeLessThan(tolerance);
}

function distance(p: PointLike, q: PointLike): number {
  return Math.hypot(p[0] - q[0], p[1] - q[1]);
}

/** Independent oracle: a proper similarity is [[a, -b], [b, a]]; fit a, b by linear least squares (complex division). */
function linearLeastSquaresSimilarity(src: readonly PointLike[], dst: readonly PointLike[]): AffineMatrix {
  const mean = (ps: readonly PointLike[]): Point => [ps.reduce((s, p) => s + p[0], 0) / ps.length, ps.reduce((s, p) => s + p[1], 0) / ps.length];
  const ms = mean(src);
  const md = mean(dst);
  let re = 0;
  let im = 0;
  let norm = 0;
  src.forEach((p, i) => {
    const sx = p[0] - ms[0];
    const sy = p[1] - ms[1];
    const dx = dst[i][0] - md[0];
    const dy = dst[i][1] - md[1];
    re += sx * dx + sy * dy;
    im += sx * dy - sy * dx;
    norm += sx * sx + sy * sy;
  });
  const a = re / norm;
  const b = im / norm;
  return [
    [a, -b, md[0] - (a * ms[0] - b * ms[1])],
    [b, a, md[1] - (b * ms[0] + a * ms[1])],
  ];
}

/** A smooth colour pattern defined in continuous coordinates, so it can be rendered under any transform without resampling. */
function pattern(x: number, y: number): [number, number, number] {
  return [128 + 70 * Math.sin(x / 6) * Math.cos(y / 8), 128 + 60 * Math.cos((x + y) / 9), 40 + 1.5 * x];
}

/** Renders `pattern` seen through `toPattern` (image pixel -> pattern coordinates). */
function render(width: number, height: number, toPattern: AffineMatrix, paint = pattern): RgbImage {
  const img = createRgbImage(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [px, py] = applyAffine(toPattern, [x, y]);
      const rgb = paint(px, py);
      for (let c = 0; c < 3; c++) img.data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(rgb[c])));
    }
  }
  return img;
}

function meanAbsDiffInterior(a: RgbImage, b: RgbImage, margin: number): number {
  let sum = 0;
  let count = 0;
  for (let y = margin; y < a.height - margin; y++) {
    for (let x = margin; x < a.width - margin; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * a.width + x) * 3 + c;
        sum += Math.abs(a.data[i] - b.data[i]);
        count++;
      }
    }
  }
  return sum / count;
}

describe('svd2x2', () => {
  const rng = new Rng(7, 'svd2x2');
  const matrices: Mat2[] = [
    [
      [3, 0],
      [0, 2],
    ],
    [
      [0, 0],
      [0, 0],
    ],
    [
      [1, 2],
      [2, 4],
    ],
    [
      [-1, 0],
      [0, 1],
    ],
    ...Array.from({ length: 50 }, (): Mat2 => [
      [rng.range(-5, 5), rng.range(-5, 5)],
      [rng.range(-5, 5), rng.range(-5, 5)],
    ]),
  ];

  it('reconstructs 54 matrices (diagonal, zero, rank 1, mirror, random) with orthogonal factors and sorted non-negative values', () => {
    for (const m of matrices) {
      const { u, s, vt } = svd2x2(m);
      const rebuilt = mul2(
        mul2(u, [
          [s[0], 0],
          [0, s[1]],
        ]),
        vt,
      );
      for (let r = 0; r < 2; r++) for (let c = 0; c < 2; c++) expect(rebuilt[r][c]).toBeCloseTo(m[r][c], 10);
      for (const q of [u, vt]) {
        const qtq = mul2(
          [
            [q[0][0], q[1][0]],
            [q[0][1], q[1][1]],
          ],
          q,
        );
        expect(qtq[0][0]).toBeCloseTo(1, 12);
        expect(qtq[1][1]).toBeCloseTo(1, 12);
        expect(qtq[0][1]).toBeCloseTo(0, 12);
      }
      expect(s[0]).toBeGreaterThanOrEqual(s[1]);
      expect(s[1]).toBeGreaterThanOrEqual(0);
      expect(s[0] * s[1]).toBeCloseTo(Math.abs(det2(m)), 10);
    }
  });
});

describe('estimateSimilarity (Umeyama)', () => {
  const template = ARCFACE_TEMPLATE_112;
  const landmarks = template.map((p) => applyAffine(KNOWN, p));

  it('recovers the inverse of a known rotation/scale/shift within 1e-6', () => {
    const estimated = estimateSimilarity(landmarks, template);
    expectMatrixClose(estimated, invertAffine(KNOWN), 1e-6);
    landmarks.forEach((p, i) => expect(distance(applyAffine(estimated, p), template[i])).toBeLessThan(0.5));
    landmarks.forEach((p, i) => expect(distance(applyAffine(estimated, p), template[i])).toBeLessThan(1e-9));
  });

  it('stays close under landmark noise (sigma 1 px) and agrees with a linear least-squares oracle', () => {
    const rng = new Rng(11, 'landmark-noise');
    const errors: number[] = [];
    for (let trial = 0; trial < 200; trial++) {
      const noisy = landmarks.map(([x, y]): Point => [x + rng.normal(), y + rng.normal()]);
      const estimated = estimateSimilarity(noisy, template);
      expectMatrixClose(estimated, linearLeastSquaresSimilarity(noisy, template), 1e-9);
      // Where the true (noise-free) landmarks land under the estimate.
      landmarks.forEach((p, i) => errors.push(distance(applyAffine(estimated, p), template[i])));
    }
    const meanError = errors.reduce((s, e) => s + e, 0) / errors.length;
    expect(meanError).toBeLessThan(0.8);
    expect(meanError).toBeGreaterThan(0.1); // the noise is really there
  });

  it('never returns a reflection, even for mirrored points', () => {
    const mirrored = template.map(([x, y]): Point => [112 - x, y]);
    const estimated = estimateSimilarity(mirrored, template);
    expect(affineDeterminant(estimated)).toBeGreaterThan(0);
    expectMatrixClose(estimated, linearLeastSquaresSimilarity(mirrored, template), 1e-9);
    // A reflection would fit exactly; the proper similarity cannot, so residuals remain.
    const residual = mirrored.reduce((s, p, i) => s + distance(applyAffine(estimated, p), template[i]), 0);
    expect(residual).toBeGreaterThan(10);
  });

  it('agrees with the oracle on random point sets, mirrored or not', () => {
    const rng = new Rng(3, 'random-sets');
    for (let trial = 0; trial < 100; trial++) {
      const src = Array.from({ length: 2 + rng.int(6) }, (): Point => [rng.range(-50, 50), rng.range(-50, 50)]);
      const dst = src.map(([x, y]): Point => [(trial % 2 ? -x : x) * 0.7 + rng.range(-5, 5) + 10, y * 0.7 + rng.range(-5, 5)]);
      const estimated = estimateSimilarity(src, dst);
      expect(affineDeterminant(estimated)).toBeGreaterThanOrEqual(0);
      expectMatrixClose(estimated, linearLeastSquaresSimilarity(src, dst), 1e-8);
    }
  });

  it('rejects mismatched, too few or coincident points', () => {
    expect(() => estimateSimilarity([[0, 0]], [[1, 1]])).toThrow(/at least 2/);
    expect(() => estimateSimilarity(template, template.slice(1))).toThrow(/equal counts/);
    expect(() => estimateSimilarity([[1, 1], [1, 1]], [[0, 0], [1, 0]])).toThrow(/coincide/);
    expect(() => estimateSimilarity([[NaN, 1], [1, 1]], [[0, 0], [1, 0]])).toThrow(/finite/);
  });
});

describe('arcfaceTemplate (insightface estimate_norm rule)', () => {
  it('is the 112 template at 112, scaled for multiples of 112, scaled and shifted for multiples of 128', () => {
    expect(arcfaceTemplate(112)).toEqual(ARCFACE_TEMPLATE_112);
    expect(arcfaceTemplate(224)[0][0]).toBeCloseTo(2 * 38.2946, 10);
    expect(arcfaceTemplate(224)[4][1]).toBeCloseTo(2 * 92.2041, 10);
    expect(arcfaceTemplate(128)[0]).toEqual([38.2946 + 8, 51.6963]);
    expect(arcfaceTemplate(256)[1][0]).toBeCloseTo(73.5318 * 2 + 16, 10);
    expect(arcfaceTemplate(256)[1][1]).toBeCloseTo(51.5014 * 2, 10);
    expect(() => arcfaceTemplate(100)).toThrow(/multiple of 112 or 128/);
  });
});

describe('warpAffine', () => {
  const source = render(9, 7, [
    [1, 0, 0],
    [0, 1, 0],
  ]);

  it('returns the same image for the identity', () => {
    const out = warpAffine(source, [
      [1, 0, 0],
      [0, 1, 0],
    ], 9, 7);
    expect(Array.from(out.data)).toEqual(Array.from(source.data));
  });

  it('shifts by one pixel with a black border for a 1 px translation', () => {
    const out = warpAffine(source, [
      [1, 0, 1],
      [0, 1, 0],
    ], 9, 7);
    for (let y = 0; y < 7; y++) {
      expect(Array.from(out.data.subarray(y * 27, y * 27 + 3))).toEqual([0, 0, 0]);
      for (let x = 1; x < 9; x++) {
        for (let c = 0; c < 3; c++) expect(out.data[(y * 9 + x) * 3 + c]).toBe(source.data[(y * 9 + x - 1) * 3 + c]);
      }
    }
  });

  it('samples at pixel centres like cv2.warpAffine, fading into the black border', () => {
    // A 3x1 ramp upscaled 2x: output x maps to source x / 2 (integer coordinates at centres).
    const ramp: RgbImage = { width: 3, height: 1, data: Uint8Array.from([0, 0, 0, 100, 100, 100, 200, 200, 200]) };
    const out = warpAffine(ramp, [
      [2, 0, 0],
      [0, 1, 0],
    ], 6, 1);
    // x = 5 samples source 2.5: half of the last pixel, half border black.
    expect(Array.from(out.data.filter((_, i) => i % 3 === 0))).toEqual([0, 50, 100, 150, 200, 100]);
    // Half-pixel shift: every value averages two neighbours, the first one with the black border.
    const half = warpAffine(ramp, [
      [1, 0, 0.5],
      [0, 1, 0],
    ], 3, 1);
    expect(Array.from(half.data.filter((_, i) => i % 3 === 0))).toEqual([0, 50, 150]);
  });

  it('rejects a singular matrix', () => {
    expect(() => warpAffine(source, [
      [1, 2, 0],
      [2, 4, 0],
    ], 4, 4)).toThrow(/invertible/);
  });
});

describe('alignFace', () => {
  const landmarks = ARCFACE_TEMPLATE_112.map((p) => applyAffine(KNOWN, p));

  it('undoes a known similarity on a rendered pattern (one resampling)', () => {
    // The source shows the pattern through KNOWN: source pixel s shows pattern point KNOWN^-1 s.
    const source = render(260, 260, invertAffine(KNOWN));
    const aligned = alignFace(source, landmarks);
    const truth = render(112, 112, [
      [1, 0, 0],
      [0, 1, 0],
    ]);
    const error = meanAbsDiffInterior(aligned, truth, 2);
    expect(error).toBeLessThan(1.0);
    // Without alignment (the raw top-left 112x112 of the source) the same comparison is far off.
    const unaligned = warpAffine(source, [
      [1, 0, 0],
      [0, 1, 0],
    ], 112, 112);
    expect(meanAbsDiffInterior(unaligned, truth, 2)).toBeGreaterThan(20);
  });

  it('aligns back an image warped by a known transform (two resamplings)', () => {
    const face = render(112, 112, [
      [1, 0, 0],
      [0, 1, 0],
    ]);
    const warped = warpAffine(face, KNOWN, 260, 260);
    const aligned = alignFace(warped, landmarks);
    expect(meanAbsDiffInterior(aligned, face, 3)).toBeLessThan(2.0);
  });

  it('puts bright landmark dots onto the template within 0.5 px (pixel-centre convention end to end)', () => {
    const template = ARCFACE_TEMPLATE_112;
    const dots = (x: number, y: number): [number, number, number] => {
      const v = template.reduce((s, [tx, ty]) => s + 250 * Math.exp(-((x - tx) ** 2 + (y - ty) ** 2) / (2 * 1.5 ** 2)), 0);
      return [v, v, v];
    };
    const source = render(260, 260, invertAffine(KNOWN), dots);
    const aligned = alignFace(source, landmarks);
    for (const [tx, ty] of template) {
      let sum = 0;
      let cx = 0;
      let cy = 0;
      for (let y = Math.round(ty) - 5; y <= Math.round(ty) + 5; y++) {
        for (let x = Math.round(tx) - 5; x <= Math.round(tx) + 5; x++) {
          const v = aligned.data[(y * 112 + x) * 3];
          sum += v;
          cx += v * x;
          cy += v * y;
        }
      }
      expect(distance([cx / sum, cy / sum], [tx, ty])).toBeLessThan(0.5);
    }
  });

  it('maps landmarks onto the scaled template for other output sizes', () => {
    for (const size of [128, 224]) {
      const m = estimateAlignment(landmarks, size);
      const target = arcfaceTemplate(size);
      landmarks.forEach((p, i) => expect(distance(applyAffine(m, p), target[i])).toBeLessThan(1e-6));
      // Composed with KNOWN it is the pure template-to-template scaling.
      const composed = composeAffine(m, KNOWN);
      expect(affineDeterminant(composed)).toBeCloseTo((target[1][0] - target[0][0]) ** 2 / (73.5318 - 38.2946) ** 2, 6);
      expect(alignFace(render(260, 260, invertAffine(KNOWN)), landmarks, size).width).toBe(size);
    }
  });

  it('rejects a landmark count other than 5', () => {
    expect(() => estimateAlignment(landmarks.slice(0, 4))).toThrow(/expected 5/);
  });
});
