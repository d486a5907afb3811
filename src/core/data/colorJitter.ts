/**
 * torchvision's ColorJitter adjustments on 8-bit RGB, each a blend of the image with a
 * "degenerate" image by a factor f (f = 1 leaves the image as it is), clipped to 0..255 and
 * rounded back to 8 bits after each step, as PIL's ImageEnhance (which the seed's pipeline runs
 * on) does between steps:
 *   brightness: blend with black          -> v * f
 *   contrast:   blend with the mean grey   -> mean + (v - mean) * f, mean of the image's luma
 *   saturation: blend with the pixel's grey -> grey + (v - grey) * f
 * Luma is ITU-R 601 (0.299 R + 0.587 G + 0.114 B), PIL's and torchvision's grayscale.
 */
import { RgbImage, createRgbImage } from '../image/image';

export type JitterKind = 'brightness' | 'contrast' | 'saturation';

export const JITTER_KINDS: readonly JitterKind[] = ['brightness', 'contrast', 'saturation'];

function luma(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/** Clip to 0..255 and round half up: one 8-bit sample. */
function toByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
}

/** Applies a per-value map through a 256-entry table (the map sees each byte value once). */
function mapValues(img: RgbImage, fn: (v: number) => number): RgbImage {
  const table = new Uint8Array(256);
  for (let v = 0; v < 256; v++) table[v] = toByte(fn(v));
  const out = createRgbImage(img.width, img.height);
  for (let i = 0; i < img.data.length; i++) out.data[i] = table[img.data[i]];
  return out;
}

export function adjustBrightness(img: RgbImage, factor: number): RgbImage {
  return mapValues(img, (v) => v * factor);
}

/** Mean luma of the whole image, the grey that contrast blends towards. */
export function meanLuma(img: RgbImage): number {
  let sum = 0;
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) sum += luma(d[i], d[i + 1], d[i + 2]);
  return sum / (img.width * img.height);
}

export function adjustContrast(img: RgbImage, factor: number): RgbImage {
  const mean = meanLuma(img);
  return mapValues(img, (v) => mean + (v - mean) * factor);
}

export function adjustSaturation(img: RgbImage, factor: number): RgbImage {
  const out = createRgbImage(img.width, img.height);
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    const grey = luma(d[i], d[i + 1], d[i + 2]);
    for (let c = 0; c < 3; c++) out.data[i + c] = toByte(grey + (d[i + c] - grey) * factor);
  }
  return out;
}

export function adjustColor(img: RgbImage, kind: JitterKind, factor: number): RgbImage {
  if (factor === 1) return img;
  switch (kind) {
    case 'brightness':
      return adjustBrightness(img, factor);
    case 'contrast':
      return adjustContrast(img, factor);
    case 'saturation':
      return adjustSaturation(img, factor);
  }
}
