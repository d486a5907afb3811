import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { DecodedImage, ImageError, ImageErrorReason, RgbImage, decodeImage, encodeImage } from '../src/core/image/image';
import { decodeNetpbm } from '../src/core/image/netpbm';
import { padImage, resizeBilinear } from '../src/core/image/ops';
import { toNchw, toNhwc } from '../src/core/image/tensor';

const FACES = path.resolve(__dirname, '..', '..', 'shared', 'data', 'faces');
const haveFaces = fs.existsSync(FACES);
if (!haveFaces) console.warn(`image.test: skipping the real-face decoding tests, ${FACES} is absent`);
const describeWithFaces = haveFaces ? describe : describe.skip;

function pixel(img: RgbImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(i, i + 3));
}

function isGrey(img: RgbImage): boolean {
  for (let i = 0; i < img.data.length; i += 3) if (img.data[i] !== img.data[i + 1] || img.data[i] !== img.data[i + 2]) return false;
  return true;
}

/** Decoding must fail with this reason and a one-line message naming the file. */
async function expectImageError(input: string, reason: ImageErrorReason, message: RegExp, maxPixels?: number): Promise<ImageError> {
  const error = await decodeImage(input, { maxPixels }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageError);
  const imageError = error as ImageError;
  expect(imageError.reason).toBe(reason);
  expect(imageError.file).toBe(input);
  expect(imageError.message.startsWith(`${input}: `)).toBe(true);
  expect(imageError.message).not.toMatch(/\n/);
  expect(imageError.message).toMatch(message);
  return imageError;
}

/** A noisy colour test card, so JPEG truncation and colour conversions have real content. */
function testCard(width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + ((i / 3) | 0) * 11) % 256;
  return data;
}

describeWithFaces('decodeImage on ../shared/data/faces', () => {
  it('turns a greyscale PNG (yalefaces) into 3 equal channels', async () => {
    const file = path.join(FACES, 'yalefaces', 'subject01', 'happy.png');
    const { image, source, warnings } = await decodeImage(file);
    expect([image.width, image.height]).toEqual([320, 243]);
    expect(source).toMatchObject({ format: 'png', channels: 1, space: 'b-w', bitDepth: 8 });
    expect(warnings).toEqual([]);
    expect(isGrey(image)).toBe(true);
    const grey = await sharp(file).extractChannel(0).raw().toBuffer();
    expect(grey.length).toBe(320 * 243);
    for (let i = 0; i < grey.length; i += 997) expect(image.data[i * 3]).toBe(grey[i]);
  });

  it('reads a binary PGM (orl) that sharp cannot, byte for byte', async () => {
    const file = path.join(FACES, 'orl', 's1', '1.pgm');
    const { image, source, warnings } = await decodeImage(file);
    expect([image.width, image.height]).toEqual([92, 112]);
    expect(source).toMatchObject({ format: 'netpbm', channels: 1, bitDepth: 8 });
    expect(warnings).toEqual([]);
    expect(isGrey(image)).toBe(true);
    const bytes = fs.readFileSync(file);
    const raster = bytes.subarray(bytes.length - 92 * 112); // header "P5\n92 112\n255\n" then the raster
    expect(Buffer.from(image.data.filter((_, i) => i % 3 === 0)).equals(raster)).toBe(true);
  });

  it('reads a colour JPEG (dlib_johns)', async () => {
    const dir = path.join(FACES, 'dlib_johns', 'John_Salley');
    const file = path.join(dir, fs.readdirSync(dir).filter((f) => f.endsWith('.jpg'))[0]);
    const { image, source, warnings } = await decodeImage(file);
    expect([image.width, image.height]).toEqual([150, 150]);
    expect(source).toMatchObject({ format: 'jpeg', channels: 3, space: 'srgb' });
    expect(warnings).toEqual([]);
    expect(isGrey(image)).toBe(false);
  });
});

describe('decodeImage on generated edge cases', () => {
  let dir: string;
  const at = (name: string): string => path.join(dir, name);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-image-test-'));
    const flat = { width: 16, height: 16, channels: 3 as const, background: { r: 200, g: 30, b: 60 } };
    await sharp({ create: flat }).toColourspace('cmyk').jpeg().toFile(at('cmyk.jpg'));
    // 16-bit RGB: a ramp over the full 0..65535 range.
    const ramp16 = new Uint16Array(8 * 1 * 3).map((_, i) => Math.round((i / 23) * 65535));
    await sharp(ramp16, { raw: { width: 8, height: 1, channels: 3 } }).toColourspace('rgb16').png().toFile(at('deep.png'));
    // RGBA: half-transparent orange, fully transparent white.
    const rgba = Buffer.from([200, 100, 50, 128, 255, 255, 255, 0]);
    await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } }).png().toFile(at('alpha.png'));
    // 32x16 stored, red 8x8 block at the stored top-left, EXIF orientation 6 (display = rotated 90 degrees clockwise).
    const stored = Buffer.alloc(32 * 16 * 3, 0);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 32; x++) stored[(y * 32 + x) * 3 + 2] = 200;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) stored.set([230, 0, 0], (y * 32 + x) * 3);
    await sharp(stored, { raw: { width: 32, height: 16, channels: 3 } }).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toFile(at('rotated.jpg'));
    const jpeg = await sharp(testCard(64, 64), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
    fs.writeFileSync(at('truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    // Two stray bytes before the start-of-scan marker: libjpeg warns "extraneous bytes", the pixels are intact.
    const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
    fs.writeFileSync(at('stray-bytes.jpg'), Buffer.concat([jpeg.subarray(0, sos), Buffer.from([0x12, 0x34]), jpeg.subarray(sos)]));
    const png = await sharp(testCard(64, 64), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    fs.writeFileSync(at('truncated.png'), png.subarray(0, png.length - 40));
    fs.writeFileSync(at('png-inside.jpg'), png);
    fs.writeFileSync(at('notes.jpg'), 'these are not the pixels you are looking for\n');
    fs.writeFileSync(at('empty.png'), Buffer.alloc(0));
    fs.writeFileSync(at('truncated.pgm'), Buffer.concat([Buffer.from('P5\n10 10\n255\n'), Buffer.alloc(40, 7)]));
    // 16-bit big-endian PGM, and an ASCII PGM with a comment.
    fs.writeFileSync(at('deep.pgm'), Buffer.concat([Buffer.from('P5 2 1 65535\n'), Buffer.from([0xff, 0xff, 0x80, 0x00])]));
    fs.writeFileSync(at('ascii.pgm'), 'P2\n# width height\n3 1\n10\n0 5 10\n');
    await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#808080' } }).png().toFile(at('huge.png'));
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('converts CMYK to RGB', async () => {
    const { image, source } = await decodeImage(at('cmyk.jpg'));
    expect(source).toMatchObject({ format: 'jpeg', space: 'cmyk', channels: 4 });
    expect(image.data.length).toBe(16 * 16 * 3);
    const [r, g, b] = pixel(image, 8, 8);
    // CMYK round trips through ICC profiles are lossy; the colour must stay recognisably (200, 30, 60).
    expect(Math.abs(r - 200)).toBeLessThan(35);
    expect(Math.abs(g - 30)).toBeLessThan(35);
    expect(Math.abs(b - 60)).toBeLessThan(35);
  });

  it('reduces 16-bit PNG to 8 bits (v / 257, within 1)', async () => {
    const { image, source } = await decodeImage(at('deep.png'));
    expect(source).toMatchObject({ format: 'png', bitDepth: 16, space: 'rgb16' });
    for (let i = 0; i < 24; i++) expect(Math.abs(image.data[i] - Math.round((i / 23) * 65535) / 257)).toBeLessThanOrEqual(1);
  });

  it('flattens alpha onto black', async () => {
    const { image, source } = await decodeImage(at('alpha.png'));
    expect(source.hasAlpha).toBe(true);
    const half = 128 / 255;
    pixel(image, 0, 0).forEach((v, c) => expect(Math.abs(v - [200, 100, 50][c] * half)).toBeLessThanOrEqual(1));
    expect(pixel(image, 1, 0)).toEqual([0, 0, 0]);
  });

  it('honours EXIF orientation 6', async () => {
    const { image, source } = await decodeImage(at('rotated.jpg'));
    expect(source).toMatchObject({ width: 32, height: 16, orientation: 6 });
    expect([image.width, image.height]).toEqual([16, 32]);
    // Rotated clockwise, the stored top-left block is now at the top-right.
    const [r, , b] = pixel(image, 12, 3);
    expect(r).toBeGreaterThan(180);
    expect(b).toBeLessThan(60);
    expect(pixel(image, 3, 3)[0]).toBeLessThan(60);
  });

  it('rejects truncated JPEG, PNG and PGM files as corrupt', async () => {
    await expectImageError(at('truncated.jpg'), 'corrupt', /corrupt or truncated JPEG image \(.*premature end/i);
    await expectImageError(at('truncated.png'), 'corrupt', /corrupt or truncated PNG image/);
    await expectImageError(at('truncated.pgm'), 'corrupt', /truncated netpbm: 40 of 100 raster bytes/);
  });

  it('tolerates a JPEG that only makes libjpeg warn (stray bytes before a marker)', async () => {
    const { image, warnings } = await decodeImage(at('stray-bytes.jpg'));
    expect([image.width, image.height, warnings.length]).toEqual([64, 64, 0]);
  });

  it('rejects a text file named .jpg and an empty file as not images', async () => {
    await expectImageError(at('notes.jpg'), 'not-an-image', /not an image \(unrecognised format\)/);
    await expectImageError(at('empty.png'), 'not-an-image', /not an image \(empty file\)/);
  });

  it('decodes a PNG named .jpg but warns about the mismatch', async () => {
    const decoded: DecodedImage = await decodeImage(at('png-inside.jpg'));
    expect([decoded.image.width, decoded.image.height]).toEqual([64, 64]);
    expect(decoded.source.format).toBe('png');
    expect(decoded.warnings).toHaveLength(1);
    expect(decoded.warnings[0]).toBe(`${at('png-inside.jpg')}: contents are PNG, not JPEG as the extension .jpg says (decoded anyway)`);
    // The same bytes as a buffer: checked against `name` when one is given, else not at all.
    const bytes = fs.readFileSync(at('png-inside.jpg'));
    expect((await decodeImage(bytes, { name: 'upload.jpeg' })).warnings[0]).toMatch(/^upload\.jpeg: contents are PNG/);
    expect((await decodeImage(bytes)).warnings).toEqual([]);
  });

  it('refuses an image over the pixel limit with its size and the limit', async () => {
    await expectImageError(at('huge.png'), 'too-large', /image is 3000x2000 \(6\.0 MP\), over the limit of 1\.0 MP/, 1e6);
    const { image } = await decodeImage(at('huge.png'), { maxPixels: 6e6 });
    expect(image.width * image.height).toBe(6e6);
  });

  it('reports a missing file as unreadable', async () => {
    await expectImageError(at('missing.png'), 'unreadable', /cannot read file \(no such file\)/);
  });

  it('reads 16-bit and ASCII netpbm', async () => {
    const deep = await decodeImage(at('deep.pgm'));
    expect(Array.from(deep.image.data)).toEqual([255, 255, 255, 128, 128, 128]);
    expect(deep.source.bitDepth).toBe(16);
    const ascii = decodeNetpbm(fs.readFileSync(at('ascii.pgm')));
    expect(Array.from(ascii.samples)).toEqual([0, 128, 255]);
    expect(decodeNetpbm(Buffer.from('P3\n# colour\n1 1 255\n1 2 3\n')).samples).toEqual(Uint8Array.from([1, 2, 3]));
  });
});

describe('encodeImage', () => {
  const smooth: RgbImage = { width: 32, height: 24, data: new Uint8Array(32 * 24 * 3).map((_, i) => 60 + (((i / 3) | 0) % 32) * 4 + (i % 3) * 20) };

  it('round-trips PNG exactly and JPEG closely', async () => {
    const png = await decodeImage(await encodeImage(smooth, 'png'));
    expect(png.source.format).toBe('png');
    expect(Array.from(png.image.data)).toEqual(Array.from(smooth.data));
    const jpeg = await decodeImage(await encodeImage(smooth, 'jpeg', 95));
    expect(jpeg.source.format).toBe('jpeg');
    const mae = jpeg.image.data.reduce((s, v, i) => s + Math.abs(v - smooth.data[i]), 0) / smooth.data.length;
    expect(mae).toBeLessThan(3);
  });

  it('rejects bad quality and malformed images', async () => {
    await expect(encodeImage(smooth, 'jpeg', 0)).rejects.toThrow(/quality 0/);
    await expect(encodeImage({ width: 2, height: 2, data: new Uint8Array(5) }, 'png')).rejects.toThrow(/expected 2x2x3 = 12 bytes/);
  });
});

describe('padImage and resizeBilinear', () => {
  const twoPixels: RgbImage = { width: 2, height: 1, data: Uint8Array.from([0, 0, 0, 100, 150, 200]) };

  it('pads with a black border and says where the original went', () => {
    const { image, left, top } = padImage(twoPixels, 0.5);
    expect([image.width, image.height, left, top]).toEqual([4, 3, 1, 1]);
    expect(pixel(image, 2, 1)).toEqual([100, 150, 200]);
    expect(pixel(image, 3, 1)).toEqual([0, 0, 0]);
    expect(image.data.reduce((s, v) => s + v, 0)).toBe(450);
    expect(padImage(twoPixels, 0).image.data).toEqual(twoPixels.data);
  });

  it('resizes with pixel-centre alignment and replicated edges (cv2 INTER_LINEAR)', () => {
    expect(resizeBilinear(twoPixels, 2, 1).data).toEqual(twoPixels.data);
    // Source positions (i + 0.5) / 2 - 0.5 = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    const wide = resizeBilinear(twoPixels, 4, 2);
    expect([0, 1, 2, 3].map((x) => pixel(wide, x, 1)[0])).toEqual([0, 25, 75, 100]);
    expect(pixel(wide, 2, 0)).toEqual([75, 113, 150]);
    const flat: RgbImage = { width: 9, height: 7, data: new Uint8Array(9 * 7 * 3).fill(77) };
    expect(resizeBilinear(flat, 4, 3).data.every((v) => v === 77)).toBe(true);
  });
});

describe('toNchw / toNhwc', () => {
  const img: RgbImage = { width: 2, height: 1, data: Uint8Array.from([10, 20, 30, 40, 50, 60]) };

  it('lays out planes or interleaved pixels', () => {
    expect(toNchw([img])).toEqual({ data: Float32Array.from([10, 40, 20, 50, 30, 60]), dims: [1, 3, 1, 2] });
    expect(toNhwc([img])).toEqual({ data: Float32Array.from([10, 20, 30, 40, 50, 60]), dims: [1, 1, 2, 3] });
    expect(toNchw([img, img]).dims).toEqual([2, 3, 1, 2]);
  });

  it('swaps to BGR, normalises, and flips', () => {
    expect(Array.from(toNchw([img], { channelOrder: 'bgr' }).data)).toEqual([30, 60, 20, 50, 10, 40]);
    expect(Array.from(toNchw([img], { flip: true }).data)).toEqual([40, 10, 50, 20, 60, 30]);
    const normalised = toNhwc([img], { mean: 127.5, std: 127.5 }).data;
    expect(normalised[0]).toBeCloseTo((10 - 127.5) / 127.5, 6);
    // Per-channel constants follow the tensor's channel order (here B, G, R).
    const perChannel = toNchw([img], { channelOrder: 'bgr', mean: [30, 20, 10], std: [1, 2, 3] }).data;
    expect(Array.from(perChannel)).toEqual([0, 30, 0, 15, 0, 10]);
  });

  it('rejects mixed sizes, empty batches and zero std', () => {
    const other: RgbImage = { width: 1, height: 1, data: new Uint8Array(3) };
    expect(() => toNchw([img, other])).toThrow(/image 1 is 1x1: expected 2x1/);
    expect(() => toNchw([])).toThrow(/at least one image/);
    expect(() => toNhwc([img], { std: 0 })).toThrow(/non-zero/);
  });
});
