/** Pixel operations that make a new RgbImage from another: padding and resizing. */
import { RgbImage, assertRgbImage, createRgbImage } from './image';

export interface PaddedImage {
  image: RgbImage;
  /** Where the original's (0, 0) lies in the padded image: subtract to map coordinates back. */
  left: number;
  top: number;
}

/**
 * Adds a black border of round(fraction * width) columns on each side and round(fraction * height)
 * rows above and below. Tight face crops need it: a detector's anchors and pyramid expect some
 * context around a face before they fire.
 */
export function padImage(img: RgbImage, fraction: number): PaddedImage {
  assertRgbImage(img);
  if (!(fraction >= 0) || !Number.isFinite(fraction)) throw new Error(`pad fraction ${fraction}: expected a finite number >= 0`);
  const left = Math.round(fraction * img.width);
  const top = Math.round(fraction * img.height);
  const padded = createRgbImage(img.width + 2 * left, img.height + 2 * top);
  const rowBytes = img.width * 3;
  for (let y = 0; y < img.height; y++) {
    const to = ((y + top) * padded.width + left) * 3;
    padded.data.set(img.data.subarray(y * rowBytes, (y + 1) * rowBytes), to);
  }
  return { image: padded, left, top };
}

/** Per output coordinate: the two source indices and the weight of the second (edges clamped). */
interface AxisTaps {
  low: Int32Array;
  high: Int32Array;
  highWeight: Float32Array;
}

/** Half-pixel-centre mapping, as cv2.resize(INTER_LINEAR): src = (dst + 0.5) * in/out - 0.5. */
function axisTaps(inSize: number, outSize: number): AxisTaps {
  const low = new Int32Array(outSize);
  const high = new Int32Array(outSize);
  const highWeight = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), inSize - 1);
    const lo = Math.floor(src);
    low[i] = lo;
    high[i] = Math.min(lo + 1, inSize - 1);
    highWeight[i] = src - lo;
  }
  return { low, high, highWeight };
}

/**
 * Bilinear resize with cv2.resize's INTER_LINEAR geometry (pixel centres aligned, edges
 * replicated). No antialiasing: shrinking by more than 2x skips pixels, as OpenCV's does.
 */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  assertRgbImage(img);
  const out = createRgbImage(width, height);
  const xs = axisTaps(img.width, width);
  const ys = axisTaps(img.height, height);
  const src = img.data;
  const stride = img.width * 3;
  const outData = out.data;
  let o = 0;
  for (let y = 0; y < height; y++) {
    const row0 = ys.low[y] * stride;
    const row1 = ys.high[y] * stride;
    const wy = ys.highWeight[y];
    for (let x = 0; x < width; x++) {
      const c0 = xs.low[x] * 3;
      const c1 = xs.high[x] * 3;
      const wx = xs.highWeight[x];
      for (let c = 0; c < 3; c++) {
        const top = src[row0 + c0 + c] + (src[row0 + c1 + c] - src[row0 + c0 + c]) * wx;
        const bottom = src[row1 + c0 + c] + (src[row1 + c1 + c] - src[row1 + c0 + c]) * wx;
        outData[o++] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return out;
}
