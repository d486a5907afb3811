/**
 * Affine warp with bilinear sampling and a constant black border, matching
 * cv2.warpAffine(img, M, (outW, outH), flags=INTER_LINEAR, borderValue=0):
 * output pixel (x, y) takes the source value at M^-1 (x, y), integer coordinates at pixel
 * centres, and each of the four bilinear taps that falls outside the source counts as 0 (so
 * edges fade into black over one pixel, as OpenCV's do). OpenCV quantises the sample position
 * to 1/32 pixel; this samples at full precision, so values can differ from OpenCV's by about 1.
 */
import { AffineMatrix, invertAffine } from './affine';
import { RgbImage, assertRgbImage, createRgbImage } from './image';

/** Warps `img` by `m` (source -> output coordinates) into an outWidth x outHeight image. */
export function warpAffine(img: RgbImage, m: AffineMatrix, outWidth: number, outHeight: number): RgbImage {
  assertRgbImage(img);
  const out = createRgbImage(outWidth, outHeight);
  const inverse = invertAffine(m);
  const [[a, b, c], [d, e, f]] = inverse;
  const { width, height, data } = img;
  const stride = width * 3;
  const outData = out.data;
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const sx = a * x + b * y + c;
      const sy = d * x + e * y + f;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      // Entirely outside: all four taps are border, the output stays black.
      if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) continue;
      const fx = sx - x0;
      const fy = sy - y0;
      const w00 = (1 - fx) * (1 - fy);
      const w10 = fx * (1 - fy);
      const w01 = (1 - fx) * fy;
      const w11 = fx * fy;
      const inX0 = x0 >= 0;
      const inX1 = x0 + 1 < width;
      const inY0 = y0 >= 0;
      const inY1 = y0 + 1 < height;
      const at00 = y0 * stride + x0 * 3;
      const at01 = at00 + stride;
      const o = (y * outWidth + x) * 3;
      if (inX0 && inX1 && inY0 && inY1) {
        // All four taps inside (almost every pixel): the same sums without the border tests.
        for (let ch = 0; ch < 3; ch++) {
          outData[o + ch] = Math.round(data[at00 + ch] * w00 + data[at00 + 3 + ch] * w10 + data[at01 + ch] * w01 + data[at01 + 3 + ch] * w11);
        }
        continue;
      }
      for (let ch = 0; ch < 3; ch++) {
        const v00 = inY0 && inX0 ? data[at00 + ch] : 0;
        const v10 = inY0 && inX1 ? data[at00 + 3 + ch] : 0;
        const v01 = inY1 && inX0 ? data[at01 + ch] : 0;
        const v11 = inY1 && inX1 ? data[at01 + 3 + ch] : 0;
        outData[o + ch] = Math.round(v00 * w00 + v10 * w10 + v01 * w01 + v11 * w11);
      }
    }
  }
  return out;
}
