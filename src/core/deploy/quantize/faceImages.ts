import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../errors';
import { InputSpec } from '../../export/metadata';
import { ImageError, RgbImage, createRgbImage, decodeImage } from '../../image/image';
import { resizeBilinear } from '../../image/ops';
import { toNchw, toNhwc } from '../../image/tensor';

/**
 * Face images for calibration and accuracy checks: every image file under a folder, decoded,
 * brought to the model's input size and turned into the model's input tensor.
 *
 * Images should be aligned face crops (what detect-align writes). An image of another size
 * is centre-cropped to a square and resized bilinearly: right for face chips that are already
 * centred (dlib chips, ORL, tight crops), an approximation of alignment otherwise.
 */

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.pgm', '.ppm', '.pnm', '.bmp']);

export interface FaceImage {
  path: string;
  /** The folder directly above the file, relative to the root: the identity of an ImageFolder. */
  identity: string;
  image: RgbImage;
}

/** Every image file under `dir`, recursively, in a stable (sorted) order. */
export function listImageFiles(dir: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new InputError(`${dir}: no such folder (expected a folder of face images)`);
  }
  if (!stat.isDirectory()) throw new InputError(`${dir}: not a folder (expected a folder of face images)`);
  const found: string[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) found.push(full);
    }
  };
  walk(dir);
  return found;
}

/** The largest centred square of `img`. */
export function centreSquare(img: RgbImage): RgbImage {
  const side = Math.min(img.width, img.height);
  if (img.width === side && img.height === side) return img;
  const left = Math.floor((img.width - side) / 2);
  const top = Math.floor((img.height - side) / 2);
  const out = createRgbImage(side, side);
  for (let y = 0; y < side; y++) out.data.set(img.data.subarray(((y + top) * img.width + left) * 3, ((y + top) * img.width + left + side) * 3), y * side * 3);
  return out;
}

/** `img` at size x size: unchanged when it already is, else centre square then bilinear resize. */
export function toInputSize(img: RgbImage, size: number): RgbImage {
  if (img.width === size && img.height === size) return img;
  return resizeBilinear(centreSquare(img), size, size);
}

/** Decodes every image under `dir` at the model's input size; an empty folder is an input error. */
export async function loadFaceImages(dir: string, size: number): Promise<FaceImage[]> {
  const files = listImageFiles(dir);
  if (files.length === 0) throw new InputError(`${dir}: no image files found (expected aligned face crops: ${[...IMAGE_EXTENSIONS].join(' ')})`);
  const images: FaceImage[] = [];
  for (const file of files) images.push({ path: file, identity: path.relative(dir, path.dirname(file)) || '.', image: await decodeFace(file, size) });
  return images;
}

/** Decodes one image (a file, or encoded bytes named `name`) at `size`; unreadable images are input errors. */
export async function decodeFace(input: string | Buffer, size: number, name?: string): Promise<RgbImage> {
  try {
    const { image } = await decodeImage(input, { name });
    return toInputSize(image, size);
  } catch (e) {
    if (e instanceof ImageError) throw new InputError(e.message);
    throw e;
  }
}

/** A batch of images as the model's float input, per its input spec. */
export function inputTensor(images: readonly RgbImage[], spec: InputSpec): Float32Array {
  const opts = { channelOrder: spec.color, mean: spec.mean, std: spec.std };
  return (spec.layout === 'NHWC' ? toNhwc(images, opts) : toNchw(images, opts)).data;
}
