/**
 * The project's in-memory image (8-bit RGB, interleaved) and its file IO through sharp.
 *
 * Decoding normalises every readable input to the one form the detectors and recognisers take:
 * EXIF orientation applied, alpha flattened onto black, greyscale / CMYK / 16-bit converted to
 * 8-bit sRGB with 3 channels. Failures are an `ImageError` with a one-line message naming the
 * file and the reason, and a `reason` code that manifests can record.
 *
 * A file whose contents are a different format than its extension says is still decoded (the
 * pixels are what the user meant); the mismatch is reported in `DecodedImage.warnings`, so the
 * caller can record it without losing the image. Animated GIF/WebP give their first frame.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { decodeNetpbm, isNetpbm } from './netpbm';

/** 8-bit RGB, interleaved, row-major: pixel (x, y) channel c is data[(y * width + x) * 3 + c]. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A black image of the given size. */
export function createRgbImage(width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`image size ${width}x${height}: expected positive integers`);
  }
  return { width, height, data: new Uint8Array(width * height * 3) };
}

/** Throws unless `img` holds exactly width * height * 3 bytes. */
export function assertRgbImage(img: RgbImage, what = 'image'): void {
  const expected = img.width * img.height * 3;
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1 || img.data.length !== expected) {
    throw new Error(`${what}: expected ${img.width}x${img.height}x3 = ${expected} bytes of RGB, got ${img.data.length}`);
  }
}

export type ImageErrorReason =
  /** The file could not be read from disk. */
  | 'unreadable'
  /** Empty, or not in any format that sharp or the netpbm reader recognises. */
  | 'not-an-image'
  /** Recognised format, but the header or pixel data is damaged or cut short. */
  | 'corrupt'
  /** Width x height exceeds `maxPixels`. */
  | 'too-large';

export class ImageError extends Error {
  constructor(
    /** The path (or the name given for a buffer). */
    readonly file: string,
    readonly reason: ImageErrorReason,
    detail: string,
  ) {
    super(`${file}: ${detail}`.replace(/\s*\n\s*/g, ' '));
    this.name = 'ImageError';
  }
}

export const DEFAULT_MAX_PIXELS = 50e6;

export interface DecodeOptions {
  /** Refuse images with more pixels than this before decoding them (default 50e6). */
  maxPixels?: number;
  /** Name used in messages and for the extension check when the input is a Buffer. */
  name?: string;
}

/** What the file was before normalisation, so callers can log what was converted. */
export interface SourceInfo {
  /** Detected from the contents: 'jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'svg', 'netpbm', ... */
  format: string;
  /** Stored size, before EXIF orientation is applied. */
  width: number;
  height: number;
  channels: number;
  /** sharp's interpretation, e.g. 'srgb', 'b-w', 'cmyk', 'rgb16', 'grey16'. */
  space: string;
  /** Bits per sample. */
  bitDepth: number;
  hasAlpha: boolean;
  /** EXIF orientation 1..8 (1 when absent). */
  orientation: number;
}

export interface DecodedImage {
  image: RgbImage;
  source: SourceInfo;
  /** One-line notes that did not stop decoding, e.g. contents that do not match the extension. */
  warnings: string[];
}

/** File extension (lower case, no dot) -> the format sharp reports for such contents. */
const FORMAT_BY_EXTENSION: Record<string, string> = {
  jpg: 'jpeg',
  jpeg: 'jpeg',
  jpe: 'jpeg',
  jfif: 'jpeg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  tif: 'tiff',
  tiff: 'tiff',
  heic: 'heif',
  heif: 'heif',
  avif: 'heif',
  svg: 'svg',
  pgm: 'netpbm',
  ppm: 'netpbm',
  pnm: 'netpbm',
};

/** Bits per sample for sharp's depth names. */
const BITS_BY_DEPTH: Record<string, number> = { uchar: 8, char: 8, ushort: 16, short: 16, uint: 32, int: 32, float: 32, double: 64 };

/** The warning for contents that do not match the extension, or undefined when they match or the extension is unknown. */
export function extensionMismatch(file: string, detectedFormat: string): string | undefined {
  const extension = path.extname(file).slice(1).toLowerCase();
  const expected = FORMAT_BY_EXTENSION[extension];
  if (expected === undefined || expected === detectedFormat) return undefined;
  return `${file}: contents are ${detectedFormat.toUpperCase()}, not ${expected.toUpperCase()} as the extension .${extension} says (decoded anyway)`;
}

function describeSize(width: number, height: number): string {
  return `${width}x${height} (${((width * height) / 1e6).toFixed(1)} MP)`;
}

function checkPixelLimit(file: string, width: number, height: number, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new ImageError(file, 'too-large', `image is ${describeSize(width, height)}, over the limit of ${(maxPixels / 1e6).toFixed(1)} MP (maxPixels)`);
  }
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (code ?? String(err));
    throw new ImageError(file, 'unreadable', `cannot read file (${why})`);
  }
}

/** sharp's error text without its stack or libvips prefixes, on one line. */
function sharpDetail(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0].replace(/^Input (buffer|file) has corrupt header: /, '').trim();
}

function netpbmToRgb(file: string, bytes: Buffer, maxPixels: number): DecodedImage {
  let raster;
  try {
    raster = decodeNetpbm(bytes);
  } catch (err) {
    throw new ImageError(file, 'corrupt', `corrupt or truncated netpbm image (${sharpDetail(err)})`);
  }
  checkPixelLimit(file, raster.width, raster.height, maxPixels);
  const image = createRgbImage(raster.width, raster.height);
  const pixels = raster.width * raster.height;
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < 3; c++) image.data[i * 3 + c] = raster.samples[i * raster.channels + (raster.channels === 3 ? c : 0)];
  }
  const bitDepth = raster.maxval < 256 ? 8 : 16;
  const source: SourceInfo = {
    format: 'netpbm',
    width: raster.width,
    height: raster.height,
    channels: raster.channels,
    space: raster.channels === 1 ? (bitDepth === 8 ? 'b-w' : 'grey16') : bitDepth === 8 ? 'srgb' : 'rgb16',
    bitDepth,
    hasAlpha: false,
    orientation: 1,
  };
  return { image, source, warnings: [] };
}

async function sharpToRgb(file: string, bytes: Buffer, maxPixels: number): Promise<DecodedImage> {
  let metadata: sharp.Metadata;
  try {
    // No pixel limit here: the header is read only to learn the size and report it.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    const detail = sharpDetail(err);
    if (/unsupported image format|buffer is empty/i.test(detail)) {
      throw new ImageError(file, 'not-an-image', bytes.length === 0 ? 'not an image (empty file)' : 'not an image (unrecognised format)');
    }
    throw new ImageError(file, 'corrupt', `corrupt image header (${detail})`);
  }
  const width = metadata.width ?? 0;
  const height = metadata.height ?? 0;
  checkPixelLimit(file, width, height, maxPixels);
  const format = String(metadata.format);
  let decoded: { data: Buffer; info: sharp.OutputInfo };
  try {
    // failOn 'error' rejects truncated or damaged data but tolerates libjpeg's benign warnings
    // (e.g. extraneous bytes before a marker) that sharp's default 'warning' would refuse.
    const limitInputPixels = Number.isFinite(maxPixels) ? Math.max(1, Math.floor(maxPixels)) : false;
    decoded = await sharp(bytes, { failOn: 'error', limitInputPixels })
      .rotate()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new ImageError(file, 'corrupt', `corrupt or truncated ${format.toUpperCase()} image (${sharpDetail(err)})`);
  }
  const { data, info } = decoded;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new ImageError(file, 'corrupt', `decoded to ${info.channels} channels, expected 3`);
  }
  const source: SourceInfo = {
    format,
    width,
    height,
    channels: metadata.channels ?? 0,
    space: String(metadata.space ?? 'unknown'),
    bitDepth: BITS_BY_DEPTH[String(metadata.depth)] ?? 8,
    hasAlpha: metadata.hasAlpha ?? false,
    orientation: metadata.orientation ?? 1,
  };
  const image: RgbImage = { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  return { image, source, warnings: [] };
}

/**
 * Decodes a file or buffer to 8-bit sRGB RGB. Rejects with an ImageError (see ImageErrorReason);
 * resolves with the image, what it was before conversion, and warnings such as an extension
 * that does not match the contents.
 */
export async function decodeImage(input: string | Buffer, opts: DecodeOptions = {}): Promise<DecodedImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const file = typeof input === 'string' ? input : (opts.name ?? 'image buffer');
  if (!(maxPixels > 0)) throw new Error(`${file}: maxPixels ${maxPixels}: expected a positive number`);
  const bytes = typeof input === 'string' ? await readBytes(input) : input;
  const decoded = isNetpbm(bytes) ? netpbmToRgb(file, bytes, maxPixels) : await sharpToRgb(file, bytes, maxPixels);
  const mismatch = typeof input === 'string' || opts.name !== undefined ? extensionMismatch(file, decoded.source.format) : undefined;
  return mismatch === undefined ? decoded : { ...decoded, warnings: [...decoded.warnings, mismatch] };
}

export type EncodeFormat = 'png' | 'jpeg';

/** Encodes to PNG (lossless; `quality` unused) or JPEG at `quality` 1..100. */
export async function encodeImage(img: RgbImage, format: EncodeFormat, quality = 95): Promise<Buffer> {
  assertRgbImage(img);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new Error(`JPEG quality ${quality}: expected an integer 1..100`);
  const pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  return format === 'png' ? pipeline.png().toBuffer() : pipeline.jpeg({ quality }).toBuffer();
}
