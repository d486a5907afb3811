import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DetectedFace, largestFace, shiftFace } from '../src/core/detect/detector';
import { ManifestRecord, ManifestWriter, isDone, readManifest } from '../src/core/detect/manifest';
import { CropSource, cropBatch, decodeLandmarks, decodePnet, pickSource, pyramidScales, writeMtcnnInput } from '../src/core/detect/mtcnn';
import { DEFAULT_ALIGN, checkAlignSettings, outputName } from '../src/core/detect/pipeline';
import { resampleRegion, resizeArea, resizeFast } from '../src/core/detect/resample';
import { commonFolder, listSources, outputStems } from '../src/core/detect/sources';
import { decodeYunet, yunetInput, yunetScale } from '../src/core/detect/yunet';
import { InputError } from '../src/core/errors';
import { RgbImage, createRgbImage } from '../src/core/image/image';

/** Unit tests of the detection pipeline's pure parts: pyramid, decoding, crops, manifest, inputs. */

function imageOf(width: number, height: number, value: (x: number, y: number, c: number) => number): RgbImage {
  const img = createRgbImage(width, height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) img.data[(y * width + x) * 3 + c] = value(x, y, c);
  return img;
}

const at = (img: RgbImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

describe('MTCNN pyramid', () => {
  test('starts at 12 / min face, steps by the factor, stops when the short side would drop under 12 px', () => {
    const scales = pyramidScales(1920, 1080, 80, 0.709);
    expect(scales[0]).toBeCloseTo(0.15, 12);
    for (let k = 1; k < scales.length; k++) expect(scales[k] / scales[k - 1]).toBeCloseTo(0.709, 12);
    expect(1080 * scales[scales.length - 1]).toBeGreaterThanOrEqual(12);
    expect(1080 * scales[scales.length - 1] * 0.709).toBeLessThan(12);
    expect(scales).toHaveLength(8);
  });

  test('an image smaller than the min face has no scales; bad parameters throw', () => {
    expect(pyramidScales(30, 30, 40, 0.709)).toEqual([]);
    expect(() => pyramidScales(100, 100, 0, 0.709)).toThrow(/min face size 0/);
    expect(() => pyramidScales(100, 100, 20, 1)).toThrow(/scale factor 1/);
  });
});

describe('MTCNN transposed input and outputs', () => {
  test('writeMtcnnInput lays out [W, H, 3] with (v - 127.5) / 128', () => {
    const img = imageOf(3, 2, (x, y, c) => 10 * x + 100 * y + c);
    const out = new Float32Array(3 * 2 * 3);
    writeMtcnnInput([img], out);
    // Element (x, y, c) of the transposed tensor sits at (x * H + y) * 3 + c.
    for (let x = 0; x < 3; x++) for (let y = 0; y < 2; y++) for (let c = 0; c < 3; c++) expect(out[(x * 2 + y) * 3 + c]).toBeCloseTo((10 * x + 100 * y + c - 127.5) / 128, 6);
  });

  test('decodePnet reads [x][y] maps and maps window (x, y) to pixels (2x .. 2x + 11) / scale', () => {
    const mapWidth = 4;
    const mapHeight = 3;
    const prob = new Float32Array(mapWidth * mapHeight * 2);
    const reg = new Float32Array(mapWidth * mapHeight * 4);
    const cell = 2 * mapHeight + 1; // x = 2, y = 1
    prob[cell * 2 + 1] = 0.9;
    reg.set([0.1, -0.1, 0.2, 0.05], cell * 4);
    prob[(0 * mapHeight + 2) * 2 + 1] = 0.5; // under the threshold
    const found = decodePnet(prob, reg, mapWidth, mapHeight, 0.5, 0.6);
    expect(found).toHaveLength(1);
    expect(found[0].score).toBeCloseTo(0.9, 6);
    expect(found[0].box).toEqual({ x1: 8, y1: 4, x2: 30, y2: 26 });
    found[0].reg.forEach((v, i) => expect(v).toBeCloseTo([0.1, -0.1, 0.2, 0.05][i], 6));
  });

  test('decodeLandmarks: 5 x fractions then 5 y fractions of the inclusive box', () => {
    const points = decodeLandmarks([0, 0.25, 0.5, 0.75, 1, 0, 0.1, 0.2, 0.3, 0.4], { x1: 10, y1: 20, x2: 49, y2: 69 });
    expect(points).toEqual([
      [10, 20],
      [20, 25],
      [30, 30],
      [40, 35],
      [50, 40],
    ]);
  });
});

describe('resampling', () => {
  test('area averaging shrinks exactly: 4x2 -> 2x1 averages 2x2 blocks', () => {
    const img = imageOf(4, 2, (x, y) => [0, 100, 40, 80][x] + 10 * y);
    const out = resizeArea(img, 2, 1);
    expect(at(out, 0, 0)).toEqual([55, 55, 55]);
    expect(at(out, 1, 0)).toEqual([65, 65, 65]);
  });

  test('the same size is the identity; outside the image is black', () => {
    const img = imageOf(5, 4, (x, y, c) => 30 * x + 7 * y + c);
    expect(resampleRegion(img, { x: 0, y: 0, width: 5, height: 4 }, 5, 4).data).toEqual(img.data);
    const shifted = resampleRegion(img, { x: -2, y: 0, width: 5, height: 4 }, 5, 4);
    expect(at(shifted, 0, 0)).toEqual([0, 0, 0]);
    expect(at(shifted, 1, 0)).toEqual([0, 0, 0]);
    expect(at(shifted, 2, 1)).toEqual(at(img, 0, 1));
  });

  test('growing is bilinear between pixel centres', () => {
    const img = imageOf(2, 1, (x) => [0, 200][x]);
    const out = resampleRegion(img, { x: 0, y: 0, width: 2, height: 1 }, 4, 1);
    // Output centres fall at source -0.25, 0.25, 0.75, 1.25: the middle two mix pixels 0 and 1 by 3:1 and 1:3.
    expect(at(out, 1, 0)[0]).toBe(50);
    expect(at(out, 2, 0)[0]).toBe(150);
  });

  test('resizeFast (libvips) agrees with area averaging on a smooth image', async () => {
    const img = imageOf(640, 480, (x, y, c) => Math.round(127 + 100 * Math.sin(x / 40 + c) * Math.cos(y / 50)));
    const fast = await resizeFast(img, 96, 72);
    const area = resizeArea(img, 96, 72);
    let worst = 0;
    for (let i = 0; i < fast.data.length; i++) worst = Math.max(worst, Math.abs(fast.data[i] - area.data[i]));
    expect(worst).toBeLessThanOrEqual(6);
  });

  test('crops come from the smallest pyramid level that still holds the crop size', () => {
    const photo = imageOf(400, 400, (x, y) => Math.round((x + y) / 4));
    const half = resizeArea(photo, 200, 200);
    const sources: CropSource[] = [
      { image: half, scaleX: 0.5, scaleY: 0.5 },
      { image: photo, scaleX: 1, scaleY: 1 },
    ];
    expect(pickSource(sources, 100, 48).image).toBe(half);
    expect(pickSource(sources, 80, 48).image).toBe(photo);
    // Cropping a smooth ramp from the half-size level or from the photo gives nearly the same input.
    const box = { x1: 100, y1: 120, x2: 299, y2: 319 };
    const fromLevel = cropBatch(sources, [box], 24);
    const fromPhoto = cropBatch([sources[1]], [box], 24);
    let worst = 0;
    for (let i = 0; i < fromLevel.length; i++) worst = Math.max(worst, Math.abs(fromLevel[i] - fromPhoto[i]));
    expect(worst * 128).toBeLessThanOrEqual(2);
  });
});

describe('YuNet decoding', () => {
  test('score = sqrt(cls * obj); box from the cell centre offset and exp sizes; landmarks per cell', () => {
    const columns = 4;
    const i = 1 * columns + 2; // row 1, column 2
    const n = 8;
    const cls = new Float32Array(n);
    const obj = new Float32Array(n);
    const bbox = new Float32Array(n * 4);
    const kps = new Float32Array(n * 10);
    cls[i] = 0.9;
    obj[i] = 0.9;
    bbox.set([0.5, 0.25, Math.log(2), Math.log(3)], i * 4);
    kps.set([0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1], i * 10);
    cls[0] = 0.9; // obj 0: no face
    const faces = decodeYunet({ stride: 8, cls, obj, bbox, kps }, columns, 0.5);
    expect(faces).toHaveLength(1);
    expect(faces[0].score).toBeCloseTo(0.9, 6);
    // centre (2.5 * 8, 1.25 * 8) = (20, 10); size 16 x 24.
    expect(faces[0].box.x1).toBeCloseTo(12, 5);
    expect(faces[0].box.y1).toBeCloseTo(-2, 5);
    expect(faces[0].box.x2).toBeCloseTo(27, 5);
    expect(faces[0].box.y2).toBeCloseTo(21, 5);
    expect(faces[0].landmarks).toEqual([
      [16, 8],
      [24, 8],
      [20, 12],
      [16, 16],
      [24, 16],
    ]);
  });

  test('input is BGR planes padded to multiples of 32; larger min faces shrink the search', () => {
    const img = imageOf(40, 33, (_x, _y, c) => [10, 20, 30][c]);
    const input = yunetInput(img);
    expect([input.width, input.height]).toEqual([64, 64]);
    const plane = 64 * 64;
    expect([input.data[0], input.data[plane], input.data[2 * plane]]).toEqual([30, 20, 10]);
    expect(input.data[40]).toBe(0);
    expect(yunetScale(20)).toBe(1);
    expect(yunetScale(80)).toBe(0.25);
  });
});

describe('faces', () => {
  const face = (x1: number, size: number, score: number): DetectedFace => ({
    box: { x1, y1: 0, x2: x1 + size - 1, y2: size - 1 },
    score,
    landmarks: [
      [x1, 1],
      [x1 + 1, 1],
      [x1, 2],
      [x1, 3],
      [x1 + 1, 3],
    ],
  });

  test('largestFace picks by area, not score', () => {
    expect(largestFace([face(0, 10, 0.99), face(50, 30, 0.8)])?.box.x1).toBe(50);
    expect(largestFace([])).toBeUndefined();
  });

  test('shiftFace moves the box and every landmark', () => {
    const moved = shiftFace(face(10, 10, 0.9), -5, 2);
    expect(moved.box).toEqual({ x1: 5, y1: 2, x2: 14, y2: 11 });
    expect(moved.landmarks[0]).toEqual([5, 3]);
  });
});

describe('inputs and outputs', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-detect-unit-'));
    for (const f of ['alice/1.jpg', 'alice/1.png', 'alice/2.JPG', 'bob/x.pgm', 'bob/README', '.hidden/y.png', 'top.webp', 'out/old.png']) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), 'x');
    }
    fs.writeFileSync(path.join(dir, 'list.txt'), '# faces\nalice/2.JPG\n\nbob/x.pgm  \nalice/2.JPG\n/abs/elsewhere.png\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a folder walk keeps subfolders, skips hidden entries, non-images and a nested output folder', () => {
    const s = listSources(dir, path.join(dir, 'out'));
    expect(s.kind).toBe('folder');
    expect(s.images.map((i) => [i.relative, i.stem])).toEqual([
      ['alice/1.jpg', 'alice/1_jpg'],
      ['alice/1.png', 'alice/1_png'],
      ['alice/2.JPG', 'alice/2'],
      ['bob/x.pgm', 'bob/x'],
      ['top.webp', 'top'],
    ]);
    expect(s.skipped).toEqual(['bob/README', 'list.txt']);
  });

  test('a list file: paths relative to it, comments and duplicates dropped, root = common folder', () => {
    const s = listSources(path.join(dir, 'list.txt'));
    expect(s.kind).toBe('list');
    expect(s.root).toBe('/');
    expect(s.images.map((i) => i.file)).toEqual([path.join(dir, 'alice/2.JPG'), path.join(dir, 'bob/x.pgm'), '/abs/elsewhere.png']);
    expect(commonFolder([path.join(dir, 'a/b/1.png'), path.join(dir, 'a/c/2.png')])).toBe(path.join(dir, 'a'));
  });

  test('a single image; a missing input is an InputError', () => {
    const s = listSources(path.join(dir, 'top.webp'));
    expect(s.images).toEqual([{ file: path.join(dir, 'top.webp'), relative: 'top.webp', stem: 'top' }]);
    expect(() => listSources(path.join(dir, 'nope'))).toThrow(InputError);
    expect(() => listSources(path.join(dir, 'nope'))).toThrow(/no such file or folder/);
  });

  test('output stems and names', () => {
    expect(outputStems(['a/1.jpg', 'a/1.png', 'b/1.jpg'])).toEqual(['a/1_jpg', 'a/1_png', 'b/1']);
    expect(outputName('a/1', 2, DEFAULT_ALIGN)).toBe('a/1_2.png');
    expect(outputName('a/1', 0, { ...DEFAULT_ALIGN, largest: true, format: 'jpeg' })).toBe('a/1.jpg');
  });

  test('settings that would fail on every image are refused up front', () => {
    expect(() => checkAlignSettings({ ...DEFAULT_ALIGN, size: 100 })).toThrow(/aligned size 100: expected a multiple of 112 or 128/);
    expect(() => checkAlignSettings({ ...DEFAULT_ALIGN, size: 224 })).not.toThrow();
  });
});

describe('manifest', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-manifest-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const record = (source: string, status: ManifestRecord['status'], output?: string): ManifestRecord => ({
    source,
    status,
    faces: output ? [{ score: 0.99, box: [0, 0, 9, 9], landmarks: [], output }] : [],
    settings: 's1',
  });

  test('appends one line per record; reading back keeps the last line per source and skips a torn line', () => {
    const file = path.join(dir, 'm.jsonl');
    const w = ManifestWriter.open(file);
    w.append(record('a.png', 'error'));
    w.append(record('b.png', 'no-face'));
    w.close();
    fs.appendFileSync(file, '{"source":"c.png","sta'); // a crash mid-line
    const w2 = ManifestWriter.open(file);
    w2.append(record('a.png', 'ok', 'a_0.png'));
    w2.close();
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines[2]).toBe('{"source":"c.png","sta');
    const back = readManifest(file);
    expect([...back.keys()]).toEqual(['a.png', 'b.png']);
    expect(back.get('a.png')?.status).toBe('ok');
    expect(readManifest(path.join(dir, 'missing.jsonl')).size).toBe(0);
  });

  test('done means: same settings, and no face or every output still there; errors are retried', () => {
    const exists = (p: string) => p === 'a_0.png';
    expect(isDone(record('a', 'ok', 'a_0.png'), 's1', exists)).toBe(true);
    expect(isDone(record('a', 'ok', 'a_1.png'), 's1', exists)).toBe(false);
    expect(isDone(record('a', 'ok', 'a_0.png'), 's2', exists)).toBe(false);
    expect(isDone(record('a', 'no-face'), 's1', exists)).toBe(true);
    expect(isDone(record('a', 'error'), 's1', exists)).toBe(false);
    expect(isDone(undefined, 's1', exists)).toBe(false);
  });

  test('a manifest that cannot be opened is one clear InputError', () => {
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    expect(() => ManifestWriter.open(path.join(dir, 'file', 'm.jsonl'))).toThrow(/cannot write the manifest \(a path component is not a directory\)/);
  });
});
