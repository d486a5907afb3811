/**
 * Batches of RgbImages as float32 model inputs: NCHW (ONNX models) or NHWC (TFLite models),
 * with the colour order, per-channel (v - mean) / std on 0..255 values, and an optional
 * horizontal flip (the mirrored copy that verification protocols embed as well).
 */
import { RgbImage, assertRgbImage } from './image';

export type ChannelOrder = 'rgb' | 'bgr';

export interface TensorOptions {
  /** Channel order in the tensor (default 'rgb'). */
  channelOrder?: ChannelOrder;
  /** Subtracted from 0..255 values; one number, or three in the tensor's channel order (default 0). */
  mean?: number | readonly [number, number, number];
  /** Divides after the mean; one number, or three in the tensor's channel order (default 1). */
  std?: number | readonly [number, number, number];
  /** Mirror left-right (default false). */
  flip?: boolean;
}

/** A float32 tensor with its dims, in onnxruntime's vocabulary. */
export interface FloatTensor {
  data: Float32Array;
  dims: [number, number, number, number];
}

type Layout = 'nchw' | 'nhwc';

function perChannel(value: number | readonly [number, number, number], what: string): [number, number, number] {
  const triple: [number, number, number] = typeof value === 'number' ? [value, value, value] : [value[0], value[1], value[2]];
  if (!triple.every(Number.isFinite)) throw new Error(`tensor ${what} ${JSON.stringify(value)}: expected finite numbers`);
  return triple;
}

function commonSize(images: readonly RgbImage[]): { width: number; height: number } {
  if (images.length === 0) throw new Error('tensor batch: expected at least one image');
  const { width, height } = images[0];
  images.forEach((img, i) => {
    assertRgbImage(img, `tensor batch image ${i}`);
    if (img.width !== width || img.height !== height) {
      throw new Error(`tensor batch image ${i} is ${img.width}x${img.height}: expected ${width}x${height} like image 0`);
    }
  });
  return { width, height };
}

function toTensor(images: readonly RgbImage[], layout: Layout, opts: TensorOptions): FloatTensor {
  const { width, height } = commonSize(images);
  const mean = perChannel(opts.mean ?? 0, 'mean');
  const std = perChannel(opts.std ?? 1, 'std');
  if (std.some((s) => s === 0)) throw new Error(`tensor std ${JSON.stringify(opts.std)}: expected non-zero values`);
  // sourceChannel[k]: which RGB byte feeds tensor channel k.
  const sourceChannel = opts.channelOrder === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  // Per tensor channel, (v - mean) / std of each byte value, looked up rather than computed per element.
  const normalised = [0, 1, 2].map((k) => Float32Array.from({ length: 256 }, (_, v) => (v - mean[k]) / std[k]));
  const plane = width * height;
  const data = new Float32Array(images.length * plane * 3);
  // Where a channel's values go: consecutive in NCHW, every third in NHWC.
  const step = layout === 'nchw' ? 1 : 3;
  // Along a row the source walks right, or left when flipped.
  const dx = opts.flip ? -3 : 3;
  images.forEach((img, n) => {
    const src = img.data;
    for (let k = 0; k < 3; k++) {
      const table = normalised[k];
      let to = n * plane * 3 + (layout === 'nchw' ? k * plane : k);
      for (let y = 0; y < height; y++) {
        let from = (y * width + (opts.flip ? width - 1 : 0)) * 3 + sourceChannel[k];
        for (let x = 0; x < width; x++, from += dx, to += step) data[to] = table[src[from]];
      }
    }
  });
  const dims: FloatTensor['dims'] = layout === 'nchw' ? [images.length, 3, height, width] : [images.length, height, width, 3];
  return { data, dims };
}

/** [N, 3, H, W] float32 from same-sized images. */
export function toNchw(images: readonly RgbImage[], opts: TensorOptions = {}): FloatTensor {
  return toTensor(images, 'nchw', opts);
}

/** [N, H, W, 3] float32 from same-sized images. */
export function toNhwc(images: readonly RgbImage[], opts: TensorOptions = {}): FloatTensor {
  return toTensor(images, 'nhwc', opts);
}
