import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { applyAugmentation, drawAugmentation, flipHorizontal, NO_AUGMENTATION, rotate } from '../src/core/data/augment';
import { adjustBrightness, adjustContrast, adjustSaturation, meanLuma } from '../src/core/data/colorJitter';
import { fitToSquare, halve } from '../src/core/data/fit';
import { scanImageFolder } from '../src/core/data/imageFolder';
import { parseListLine, readListFile } from '../src/core/data/listFile';
import { openDataset } from '../src/core/data/open';
import { batchesPerEpoch, epochOrder } from '../src/core/data/order';
import { loadConfig } from '../src/core/config';
import { loaderOptions } from '../src/core/data/settings';
import { workersYieldToEngine } from '../src/core/data/pool';
import { InputError } from '../src/core/errors';
import { RgbImage, createRgbImage, encodeImage } from '../src/core/image/image';
import { Rng } from '../src/core/util/rng';

/**
 * Datasets (ImageFolder, list file) with their bad-input messages, and the augmentation: its
 * draws (bounds, switches, determinism) and its effect on known images. The loader is in
 * data.loader.test.ts.
 */

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-data-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

function expectInputError(fn: () => unknown, message: RegExp): void {
  const err = errorOf(fn);
  expect(err).toBeInstanceOf(InputError);
  expect(err.message).not.toMatch(/\n/);
  expect(err.message).toMatch(message);
}

/** An image whose every pixel differs: value depends on x, y and channel. */
function pattern(width: number, height: number): RgbImage {
  const img = createRgbImage(width, height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) img.data[(y * width + x) * 3 + c] = (x * 7 + y * 13 + c * 50) % 256;
  return img;
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(i, i + 3));
}

async function writePng(file: string, img: RgbImage): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, await encodeImage(img, 'png'));
}

function folder(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

describe('ImageFolder', () => {
  let root: string;
  beforeAll(async () => {
    root = folder('folder');
    // Created out of order: classes must come out sorted by name.
    await writePng(path.join(root, 'carol', 'b.png'), pattern(30, 20));
    await writePng(path.join(root, 'carol', 'a.png'), pattern(200, 150));
    await writePng(path.join(root, 'alice', '1.png'), pattern(8, 8));
    await writePng(path.join(root, 'Bob', 'x.PNG'), pattern(8, 8));
    fs.writeFileSync(path.join(root, 'carol', 'notes.txt'), 'not an image');
    fs.writeFileSync(path.join(root, 'carol', '.hidden.png'), 'hidden');
    fs.mkdirSync(path.join(root, '.git', 'objects'), { recursive: true });
    fs.writeFileSync(path.join(root, '.git', 'x.png'), 'hidden folder');
    fs.writeFileSync(path.join(root, 'README'), 'a loose file beside the identities');
    fs.mkdirSync(path.join(root, 'dave'));
    fs.writeFileSync(path.join(root, 'dave', 'readme.md'), 'no images here');
  });

  test('classes by sorted folder name, files sorted, hidden and non-image entries ignored', () => {
    const ds = scanImageFolder(root);
    expect(ds.classes).toEqual(['Bob', 'alice', 'carol']);
    expect(ds.samples.map((s) => [path.relative(root, s.path), s.label])).toEqual([
      [path.join('Bob', 'x.PNG'), 0],
      [path.join('alice', '1.png'), 1],
      [path.join('carol', 'a.png'), 2],
      [path.join('carol', 'b.png'), 2],
    ]);
  });

  test('an identity folder without images is skipped with a warning naming it, not a class', () => {
    const ds = scanImageFolder(root);
    expect(ds.warnings).toEqual([`${path.join(root, 'dave')}: identity folder has no images (expected .jpg .jpeg .png .webp .gif .tif .tiff .pgm .ppm .pnm files); skipped`]);
    expect(ds.classes).not.toContain('dave');
  });

  test('bad folders: missing, a file, empty, only empty identities', () => {
    expectInputError(() => scanImageFolder(path.join(tmp, 'nope')), /nope: no such folder \(expected an ImageFolder: one sub-folder per identity\)$/);
    expectInputError(() => scanImageFolder(path.join(root, 'README')), /README: expected a folder with one sub-folder per identity, got a file$/);
    const empty = folder('empty');
    fs.writeFileSync(path.join(empty, 'stray.png'), 'loose files are not identities');
    expectInputError(() => scanImageFolder(empty), /empty: empty dataset folder \(expected one sub-folder per identity holding \.jpg .* files\)$/);
    const hollow = folder('hollow');
    fs.mkdirSync(path.join(hollow, 'a'));
    fs.mkdirSync(path.join(hollow, 'b'));
    expectInputError(() => scanImageFolder(hollow), /hollow: none of its 2 identity folders holds images/);
  });
});

describe('list file', () => {
  test('"path label" and "path,label" lines, relative to the list, comments and blanks ignored, name labels sorted', async () => {
    const dir = folder('list');
    await writePng(path.join(dir, 'img', 'a b.png'), pattern(8, 8));
    await writePng(path.join(dir, 'img', 'c.png'), pattern(8, 8));
    const abs = path.join(dir, 'img', 'c.png');
    const list = path.join(dir, 'train.txt');
    fs.writeFileSync(list, `# training list\nimg/a b.png   zed\r\n\n${abs},amy\nimg/c.png amy\n`);
    const ds = readListFile(list);
    expect(ds.classes).toEqual(['amy', 'zed']);
    expect(ds.samples).toEqual([
      { path: path.join(dir, 'img', 'a b.png'), label: 1 },
      { path: abs, label: 0 },
      { path: abs, label: 0 },
    ]);
    expect(ds.warnings).toEqual([]);
    expect(openDataset({ trainDir: null, listFile: list })).toEqual(ds);
  });

  test('integer labels are class indices as written; unused ones are warned about', async () => {
    const dir = folder('intlist');
    await writePng(path.join(dir, 'a.png'), pattern(8, 8));
    const list = path.join(dir, 'l.lst');
    fs.writeFileSync(list, 'a.png 0\na.png 3\n');
    const ds = readListFile(list);
    expect(ds.classes).toEqual(['0', '1', '2', '3']);
    expect(ds.samples.map((s) => s.label)).toEqual([0, 3]);
    expect(ds.warnings).toEqual([`${list}: integer labels leave 2 of the classes 0..3 without images`]);
  });

  test('bad lists name the file, the line and what was expected', () => {
    const dir = folder('badlist');
    const list = path.join(dir, 'l.txt');
    fs.writeFileSync(list, '# c\nmissing.png 1\n');
    expectInputError(() => readListFile(list), /l\.txt:2: missing\.png: no such file \(relative paths are resolved against .*badlist\)$/);
    fs.writeFileSync(list, 'a.png 1\nnolabel.png\n');
    expectInputError(() => readListFile(list), /l\.txt:2: expected "path label" or "path,label", got "nolabel\.png"$/);
    fs.writeFileSync(list, '# only comments\n\n');
    expectInputError(() => readListFile(list), /l\.txt: empty list file/);
    expectInputError(() => readListFile(path.join(dir, 'none.txt')), /none\.txt: cannot read the list file \(no such file\)/);
    expect(parseListLine('a,b/c d.png,7', 'x')).toEqual({ file: 'a,b/c d.png', label: '7' });
  });

  test('the config must name exactly one source', () => {
    expectInputError(() => openDataset({ trainDir: null, listFile: null }), /no training data: set data\.train_dir .* or data\.list_file/);
    expectInputError(() => openDataset({ trainDir: 'a', listFile: 'b' }), /data\.train_dir \(a\) and data\.list_file \(b\) are both set/);
  });
});

describe('order', () => {
  test('each epoch is a seeded permutation, different per epoch, identity without shuffle', () => {
    const e0 = Array.from(epochOrder(50, 3, 0, true));
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(epochOrder(50, 3, 0, true))).toEqual(e0);
    expect(Array.from(epochOrder(50, 3, 1, true))).not.toEqual(e0);
    expect(Array.from(epochOrder(50, 4, 0, true))).not.toEqual(e0);
    expect(Array.from(epochOrder(5, 3, 7, false))).toEqual([0, 1, 2, 3, 4]);
    expect([batchesPerEpoch(10, 4, true), batchesPerEpoch(10, 4, false), batchesPerEpoch(8, 4, false)]).toEqual([2, 3, 2]);
  });
});

const SEED_AUGMENT = { flip: true, rotation_degrees: 15, brightness: 0.2, contrast: 0.2, saturation: 0.2 };

describe('augmentation draws', () => {
  const plans = Array.from({ length: 2000 }, (_, i) => drawAugmentation(new Rng(9, `t${i}`), SEED_AUGMENT));

  test('within the seed bounds: flip about half the time, angles in [-15, 15], factors in [0.8, 1.2], every order', () => {
    const flips = plans.filter((p) => p.flip).length / plans.length;
    expect(flips).toBeGreaterThan(0.45);
    expect(flips).toBeLessThan(0.55);
    const angles = plans.map((p) => p.angle);
    expect(Math.min(...angles)).toBeGreaterThanOrEqual(-15);
    expect(Math.max(...angles)).toBeLessThanOrEqual(15);
    expect(Math.min(...angles)).toBeLessThan(-14);
    expect(Math.max(...angles)).toBeGreaterThan(14);
    const factors = plans.flatMap((p) => p.jitter.map((j) => j.factor));
    expect(Math.min(...factors)).toBeGreaterThanOrEqual(0.8);
    expect(Math.max(...factors)).toBeLessThanOrEqual(1.2);
    expect(Math.min(...factors)).toBeLessThan(0.81);
    expect(Math.max(...factors)).toBeGreaterThan(1.19);
    const orders = new Set(plans.map((p) => p.jitter.map((j) => j.kind).join(',')));
    expect(orders.size).toBe(6);
  });

  test('the same Rng stream gives the same plan; switching one part off leaves the others as drawn', () => {
    expect(drawAugmentation(new Rng(9, 't5'), SEED_AUGMENT)).toEqual(plans[5]);
    const noFlip = drawAugmentation(new Rng(9, 't5'), { ...SEED_AUGMENT, flip: false });
    expect(noFlip).toEqual({ ...plans[5], flip: false });
    const noContrast = drawAugmentation(new Rng(9, 't5'), { ...SEED_AUGMENT, contrast: 0 });
    expect(noContrast.jitter).toEqual(plans[5].jitter.map((j) => (j.kind === 'contrast' ? { ...j, factor: 1 } : j)));
    const none = drawAugmentation(new Rng(9, 't5'), NO_AUGMENTATION);
    expect(none.flip).toBe(false);
    expect(none.angle).toBe(0);
    expect(none.jitter.every((j) => j.factor === 1)).toBe(true);
    const img = pattern(9, 7);
    expect(applyAugmentation(img, none)).toEqual(img);
  });
});

describe('augmentation effects', () => {
  test('flip mirrors exactly and twice is the identity', () => {
    const img = pattern(7, 5);
    const flipped = flipHorizontal(img);
    for (let y = 0; y < 5; y++) for (let x = 0; x < 7; x++) expect(pixel(flipped, x, y)).toEqual(pixel(img, 6 - x, y));
    expect(flipHorizontal(flipped)).toEqual(img);
  });

  test('rotation turns a known pattern about the centre: 90 degrees counter-clockwise is exact on a square', () => {
    const img = pattern(9, 9);
    const turned = rotate(img, 90);
    // Counter-clockwise on screen: the pixel right of centre goes above it; (x, y) -> (y, 8 - x).
    for (let y = 0; y < 9; y++) for (let x = 0; x < 9; x++) expect(pixel(turned, y, 8 - x)).toEqual(pixel(img, x, y));
    expect(rotate(rotate(img, 180), 180)).toEqual(img);
  });

  test('a small rotation keeps the centre, moves a marker along the circle and blackens the corners', () => {
    const img = createRgbImage(41, 41);
    img.data.fill(200);
    const marked = createRgbImage(41, 41);
    marked.data.set(img.data);
    // A bright 3x3 marker 15 px right of the centre (20, 20).
    for (let y = 19; y <= 21; y++) for (let x = 34; x <= 36; x++) marked.data.set([255, 0, 0], (y * 41 + x) * 3);
    const turned = rotate(marked, 15);
    expect(pixel(turned, 20, 20)).toEqual([200, 200, 200]);
    expect(pixel(turned, 0, 0)).toEqual([0, 0, 0]);
    const a = (15 * Math.PI) / 180;
    const mx = Math.round(20 + 15 * Math.cos(a));
    const my = Math.round(20 - 15 * Math.sin(a));
    expect(pixel(turned, mx, my)[1]).toBeLessThan(60);
    expect(pixel(turned, 35, 20)).toEqual([200, 200, 200]);
  });

  test('colour jitter: brightness scales, contrast keeps the mean grey, saturation 0 is grey, results stay in 0..255', () => {
    const img = pattern(16, 16);
    const bright = adjustBrightness(img, 1.2);
    for (let i = 0; i < img.data.length; i++) expect(bright.data[i]).toBe(Math.min(255, Math.round(img.data[i] * 1.2)));
    const flat = adjustContrast(img, 0);
    const mean = Math.round(meanLuma(img));
    expect(new Set(flat.data)).toEqual(new Set([mean]));
    expect(Math.abs(meanLuma(adjustContrast(img, 0.8)) - meanLuma(img))).toBeLessThan(1);
    const grey = adjustSaturation(img, 0);
    for (let i = 0; i < grey.data.length; i += 3) expect(grey.data[i]).toBe(grey.data[i + 1]);
    expect(adjustSaturation(img, 1)).toEqual(img);
  });
});

describe('fit to the model input', () => {
  test('any size becomes size x size; large images are halved by 2x2 means first', () => {
    expect([fitToSquare(pattern(92, 112), 112).width, fitToSquare(pattern(92, 112), 112).height]).toEqual([112, 112]);
    const img = createRgbImage(4, 2);
    img.data.set([0, 0, 0, 4, 4, 4, 8, 8, 8, 12, 12, 12, 100, 100, 100, 104, 104, 104, 108, 108, 108, 112, 112, 112]);
    expect(Array.from(halve(img).data)).toEqual([52, 52, 52, 60, 60, 60]);
    const big = fitToSquare(pattern(1000, 800), 32);
    expect([big.width, big.height]).toEqual([32, 32]);
  });
});

describe('config', () => {
  test('the data defaults are the seed\'s augmentation; the loader settings come from data, input and model.seed', () => {
    const config = loadConfig(undefined, ['data.workers=3', 'model.seed=7', 'input.color=bgr']);
    expect(config.data.augment).toEqual(SEED_AUGMENT);
    expect(loaderOptions(config)).toEqual({
      batchSize: 64,
      dropLast: true,
      shuffle: true,
      seed: 7,
      augment: SEED_AUGMENT,
      input: { size: 112, color: 'bgr', mean: 127.5, std: 127.5 },
      workers: 3,
      prefetchBatches: 2,
      onSkip: undefined,
    });
    expect(loaderOptions(loadConfig()).workers).toBe(Math.max(0, os.availableParallelism() - 1));
  });

  test('workers hold off during steps only when the engine\'s threads take every core', () => {
    const cores = os.availableParallelism();
    expect(workersYieldToEngine(cores)).toBe(true);
    expect(workersYieldToEngine(cores + 1)).toBe(true);
    expect(workersYieldToEngine(cores - 1)).toBe(false);
  });
});
