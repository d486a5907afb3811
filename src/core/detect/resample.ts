/**
 * Crop-and-resize for detectors: a rectangle of the image (which may reach outside it; the
 * outside reads as black, as MTCNN's zero-padded crops do) resampled to a fixed size.
 * Shrinking averages every source pixel under each output pixel (cv2's INTER_AREA, which MTCNN
 * uses for its pyramid and crops); a bilinear resize would skip pixels and alias when shrinking
 * 1080p by 7x. Growing is bilinear. Separable: a vertical pass into one float row, then a
 * horizontal pass from it.
 */
import sharp from 'sharp';
import { RgbImage, assertRgbImage, createRgbImage } from '../image/image';

/** A rectangle in pixel-edge coordinates: pixel p covers [p, p + 1), so x1..x2 inclusive is {x: x1, width: x2 - x1 + 1}. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** For each output index i, the source indices taps[offset[i] .. offset[i + 1]) and their weights. */
interface AxisTaps {
  offset: Int32Array;
  index: Int32Array;
  weight: Float32Array;
}

/**
 * Taps along one axis from [start, start + length) onto `outSize` pixels. Source indices outside
 * 0..srcSize-1 are dropped, so they weigh in as black.
 */
function axisTaps(start: number, length: number, outSize: number, srcSize: number): AxisTaps {
  const scale = length / outSize;
  const index: number[] = [];
  const weight: number[] = [];
  const offset = new Int32Array(outSize + 1);
  const push = (p: number, w: number): void => {
    if (p >= 0 && p < srcSize && w > 0) {
      index.push(p);
      weight.push(w);
    }
  };
  for (let i = 0; i < outSize; i++) {
    offset[i] = index.length;
    if (scale >= 1) {
      const a = start + i * scale;
      const b = a + scale;
      for (let p = Math.floor(a); p < b; p++) push(p, (Math.min(b, p + 1) - Math.max(a, p)) / scale);
    } else {
      const centre = start + (i + 0.5) * scale - 0.5;
      const lo = Math.floor(centre);
      const frac = centre - lo;
      push(lo, 1 - frac);
      push(lo + 1, frac);
    }
  }
  offset[outSize] = index.length;
  return { offset, index: Int32Array.from(index), weight: Float32Array.from(weight) };
}

/** The part of `region` resampled to outWidth x outHeight (outside the image is black). */
export function resampleRegion(img: RgbImage, region: Region, outWidth: number, outHeight: number): RgbImage {
  assertRgbImage(img);
  if (!(region.width > 0 && region.height > 0)) throw new Error(`resample region ${JSON.stringify(region)}: expected a positive width and height`);
  const out = createRgbImage(outWidth, outHeight);
  const xs = axisTaps(region.x, region.width, outWidth, img.width);
  const ys = axisTaps(region.y, region.height, outHeight, img.height);
  if (ys.index.length === 0 || xs.index.length === 0) return out;
  // Only the source columns some output pixel reads.
  const firstColumn = xs.index.reduce((m, v) => Math.min(m, v), Infinity);
  const lastColumn = xs.index.reduce((m, v) => Math.max(m, v), -1);
  const span = (lastColumn - firstColumn + 1) * 3;
  // Vertical pass first: when shrinking a photo, it reduces the rows with contiguous, cache-friendly
  // loops before the gathering horizontal pass runs on the few rows left.
  const src = img.data;
  const srcStride = img.width * 3;
  const row = new Float32Array(span);
  const outData = out.data;
  for (let y = 0; y < outHeight; y++) {
    row.fill(0);
    for (let t = ys.offset[y]; t < ys.offset[y + 1]; t++) {
      const from = ys.index[t] * srcStride + firstColumn * 3;
      const w = ys.weight[t];
      for (let k = 0; k < span; k++) row[k] += src[from + k] * w;
    }
    let o = y * outWidth * 3;
    for (let x = 0; x < outWidth; x++) {
      let red = 0;
      let green = 0;
      let blue = 0;
      for (let t = xs.offset[x]; t < xs.offset[x + 1]; t++) {
        const at = (xs.index[t] - firstColumn) * 3;
        const w = xs.weight[t];
        red += row[at] * w;
        green += row[at + 1] * w;
        blue += row[at + 2] * w;
      }
      outData[o++] = Math.round(red);
      outData[o++] = Math.round(green);
      outData[o++] = Math.round(blue);
    }
  }
  return out;
}

/** The whole image resized to width x height (area averaging when shrinking). */
export function resizeArea(img: RgbImage, width: number, height: number): RgbImage {
  return resampleRegion(img, { x: 0, y: 0, width: img.width, height: img.height }, width, height);
}

/**
 * The whole image resized by libvips (sharp): several times faster than resizeArea on a photo,
 * which matters for the first pyramid level of a 1080p image. Its kernel widens with the shrink
 * factor, so it averages like INTER_AREA rather than skipping pixels.
 */
export async function resizeFast(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  assertRgbImage(img);
  const out = createRgbImage(width, height);
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  out.data.set(data);
  return out;
}
