import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Dataset } from '../src/core/data/dataset';
import { scanImageFolder } from '../src/core/data/imageFolder';
import { Batch, DataLoader, LoaderOptions, SkippedImage } from '../src/core/data/loader';
import { drawAugmentation } from '../src/core/data/augment';
import { augmentRng, epochOrder } from '../src/core/data/order';
import { prepareSample } from '../src/core/data/sample';
import { InputError } from '../src/core/errors';
import { RgbImage, createRgbImage, encodeImage } from '../src/core/image/image';

/**
 * The loader: batch layout and normalisation, seeded order, identical bytes with and without
 * worker threads, exact resume with startAt, and corrupt images skipped, listed and replaced
 * deterministically.
 */

const SIZE = 24;
const CLASSES = 4;
const PER_CLASS = 5;
let tmp: string;
let root: string;
let dataset: Dataset;
/** The dataset index of the corrupt file. */
let corruptIndex: number;

/** A flat colour per image, so each image can be recognised in a batch by its first value. */
function flat(value: number, width: number, height: number): RgbImage {
  const img = createRgbImage(width, height);
  for (let i = 0; i < img.data.length; i += 3) img.data.set([value, 255 - value, (value * 3) % 256], i);
  return img;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-loader-'));
  root = path.join(tmp, 'faces');
  for (let c = 0; c < CLASSES; c++) {
    const dir = path.join(root, `p${c}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let k = 0; k < PER_CLASS; k++) {
      // Sizes differ (resized to SIZE), the content has structure so augmentation changes it.
      const img = flat(10 * (c * PER_CLASS + k) + 5, 20 + 3 * k, 30 - k);
      for (let x = 0; x < img.width / 2; x++) img.data[x * 3] = 0;
      fs.writeFileSync(path.join(dir, `${k}.png`), await encodeImage(img, 'png'));
    }
  }
  // A truncated PNG: decodable header, broken data.
  const good = await encodeImage(flat(99, 20, 20), 'png');
  fs.writeFileSync(path.join(root, 'p2', '9-corrupt.png'), good.subarray(0, good.length - 30));
  dataset = scanImageFolder(root);
  corruptIndex = dataset.samples.findIndex((s) => s.path.endsWith('9-corrupt.png'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const base: LoaderOptions = {
  batchSize: 4,
  dropLast: true,
  shuffle: true,
  seed: 11,
  augment: { flip: true, rotation_degrees: 15, brightness: 0.2, contrast: 0.2, saturation: 0.2 },
  input: { size: SIZE, color: 'rgb', mean: 127.5, std: 127.5 },
  workers: 0,
};

async function take(loader: DataLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  return out;
}

async function withLoader<T>(options: Partial<LoaderOptions>, fn: (loader: DataLoader, skipped: SkippedImage[]) => Promise<T>, ds = dataset): Promise<T> {
  const skipped: SkippedImage[] = [];
  const loader = DataLoader.create(ds, { ...base, ...options, onSkip: (s) => skipped.push(s) });
  try {
    return await fn(loader, skipped);
  } finally {
    await loader.close();
  }
}

/** Batches as comparable plain data (bytes of the images). */
function fingerprint(batches: Batch[]): unknown[] {
  return batches.map((b) => ({ epoch: b.epoch, index: b.index, samples: Array.from(b.samples), labels: Array.from(b.labels), images: Buffer.from(b.images.data.buffer).toString('base64') }));
}

const withoutCorrupt = (): Dataset => ({ ...dataset, samples: dataset.samples.filter((_, i) => i !== corruptIndex) });

test('batch layout: NCHW floats normalised as the input spec says, labels and one-hot rows', async () => {
  const ds = withoutCorrupt();
  const options = { augment: { flip: false, rotation_degrees: 0, brightness: 0, contrast: 0, saturation: 0 }, shuffle: false };
  const [rgb] = await withLoader(options, (l) => take(l, 1), ds);
  expect(rgb.images.dims).toEqual([4, 3, SIZE, SIZE]);
  expect(rgb.images.data.length).toBe(4 * 3 * SIZE * SIZE);
  expect(Array.from(rgb.labels)).toEqual([0, 0, 0, 0]);
  expect(Array.from(rgb.oneHot)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
  // Sample 0 is flat (5, 250, 15) on its right half: check the last pixel of each plane.
  const plane = SIZE * SIZE;
  expect([rgb.images.data[plane - 1], rgb.images.data[2 * plane - 1], rgb.images.data[3 * plane - 1]]).toEqual([(5 - 127.5) / 127.5, (250 - 127.5) / 127.5, (15 - 127.5) / 127.5].map(Math.fround));
  const [bgr] = await withLoader({ ...options, input: { ...base.input, color: 'bgr', mean: 0, std: 1 } }, (l) => take(l, 1), ds);
  expect([bgr.images.data[plane - 1], bgr.images.data[3 * plane - 1]]).toEqual([15, 5]);
});

test('the order is seeded per epoch; each epoch visits every image once (drop_last off)', async () => {
  const ds = withoutCorrupt();
  const n = ds.samples.length;
  const batches = await withLoader({ dropLast: false, batchSize: 3 }, (l) => take(l, 14), ds);
  expect(batches.map((b) => [b.epoch, b.index])).toEqual(Array.from({ length: 14 }, (_, i) => [Math.floor(i / 7), i % 7]));
  expect(batches[6].labels.length).toBe(n - 18);
  for (const epoch of [0, 1]) {
    const seen = batches.filter((b) => b.epoch === epoch).flatMap((b) => Array.from(b.samples));
    expect(seen).toEqual(Array.from(epochOrder(n, base.seed, epoch, true)));
  }
  const labels = batches.flatMap((b) => Array.from(b.labels));
  const samples = batches.flatMap((b) => Array.from(b.samples));
  expect(labels).toEqual(samples.map((s) => ds.samples[s].label));
});

test('same config, same bytes: inline and with 2 worker threads, across epochs and a corrupt image', async () => {
  const inline = await withLoader({ workers: 0 }, async (l, skipped) => ({ batches: fingerprint(await take(l, 12)), skipped, stats: l.stats() }));
  const workers = await withLoader({ workers: 2 }, async (l, skipped) => {
    expect(l.workers).toBe(2);
    return { batches: fingerprint(await take(l, 12)), skipped, stats: l.stats() };
  });
  expect(workers.batches).toEqual(inline.batches);
  // 21 files, 5 batches of 4 per epoch: 12 batches cross into epoch 2.
  expect((inline.batches[11] as { epoch: number }).epoch).toBe(2);
  // The corrupt image is reported once, listed in the stats, and never served.
  for (const run of [inline, workers]) {
    expect(run.skipped).toHaveLength(1);
    expect(run.skipped[0].path).toBe(dataset.samples[corruptIndex].path);
    expect(run.skipped[0].message).toMatch(/9-corrupt\.png: corrupt or truncated PNG image/);
    expect(run.stats.skipped).toEqual(run.skipped);
    expect(run.stats.batches).toBe(12);
    expect(run.stats.images).toBe(48);
  }
  expect(inline.batches.flatMap((b) => (b as { samples: number[] }).samples)).not.toContain(corruptIndex);
});

test('held during a step, workers finish the batch the next step needs and start no later one until released', async () => {
  const unheld = await withLoader({ workers: 1 }, async (l) => fingerprint(await take(l, 3)));
  const held = await withLoader({ workers: 1, prefetchBatches: 2 }, async (l) => {
    const first = await l.next();
    l.hold(true); // a step on batch 0 runs: batch 1 may still be prepared, batch 2 may not start
    const second = await l.next();
    let done = false;
    const third = l.next().then((b) => ((done = true), b));
    // Long enough for a worker to prepare 4 tiny images many times over.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(done).toBe(false);
    l.hold(false);
    return fingerprint([first, second, await third]);
  });
  expect(held).toEqual(unheld);
});

test('a corrupt image is replaced by the next image of the epoch order, with its own position\'s augmentation', async () => {
  const order = Array.from(epochOrder(dataset.samples.length, base.seed, 0, true));
  const position = order.indexOf(corruptIndex);
  const batch = Math.floor(position / 4);
  const [b] = await withLoader({ dropLast: false }, async (l) => {
    l.startAt(0, batch);
    return take(l, 1);
  });
  const expected = order.slice(batch * 4, batch * 4 + 4).map((s, i) => (s === corruptIndex ? order[(batch * 4 + i + 1) % order.length] : s));
  expect(Array.from(b.samples)).toEqual(expected);
  const slot = position - batch * 4;
  const plan = drawAugmentation(augmentRng(base.seed, 0, position), base.augment);
  const own = await prepareSample(dataset.samples[expected[slot]].path, plan, base.input);
  const plane = 3 * SIZE * SIZE;
  expect(b.images.data.subarray(slot * plane, (slot + 1) * plane)).toEqual(own);
});

test('startAt resumes the exact stream, also across an epoch boundary', async () => {
  const straight = await withLoader({}, (l) => take(l, 9));
  const resumed = await withLoader({}, async (l) => {
    await take(l, 2);
    l.startAt(0, 3);
    const first = await take(l, 4);
    expect(l.position).toEqual({ epoch: 1, batch: 2 });
    l.startAt(1, 2);
    return [...first, ...(await take(l, 2))];
  });
  expect(fingerprint(resumed)).toEqual(fingerprint(straight.slice(3, 9)));
  await withLoader({}, async (l) => {
    expect(() => l.startAt(0, 5)).toThrow('start batch 5: expected an integer in 0..4 (5 batches per epoch)');
    expect(() => l.startAt(-1, 0)).toThrow(InputError);
  });
});

test('a batch larger than the dataset names both numbers', () => {
  expect(() => DataLoader.create(dataset, { ...base, batchSize: 64 })).toThrow(
    new InputError(`data.batch_size 64 is larger than the dataset: ${root} has 21 images (use a batch size of at most 21)`),
  );
});

test('a dataset of only corrupt images stops with a message', async () => {
  const only: Dataset = { ...dataset, samples: [dataset.samples[corruptIndex]] };
  await withLoader({ batchSize: 1 }, async (l) => {
    await expect(l.next()).rejects.toThrow(/faces: none of its 1 images could be decoded \(e\.g\. .*9-corrupt\.png: corrupt/);
  }, only);
});
