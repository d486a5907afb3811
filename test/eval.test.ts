import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { DEFAULT_ENGINE, EmbeddingSession } from '../src/core/engines/onnxruntime';
import { InputError } from '../src/core/errors';
import { EmbeddingCache, decodeEntry, encodeEntry, expandHome, modelKey } from '../src/core/eval/cache';
import { embedImages } from '../src/core/eval/embed';
import { ImageRef, IndexedPair, detectFormat, loadEvalSet } from '../src/core/eval/evalSet';
import { runEval, EvalSettings } from '../src/core/eval/evaluate';
import { listImageFolder } from '../src/core/eval/imageFolder';
import { guessedSpecNote, layoutFromShape, resolveInputSpec, InputSpecSources } from '../src/core/eval/inputSpec';
import { loadEvalModel } from '../src/core/eval/model';
import { saveCheckpoint } from '../src/core/checkpoint/checkpoint';
import { loadModelSource } from '../src/core/model/load';
import { scorePairs, summarizeVerification } from '../src/core/eval/scores';
import { InputSpec } from '../src/core/export/metadata';
import { RgbImage, encodeImage } from '../src/core/image/image';
import { resizeBilinear } from '../src/core/image/ops';
import { flipCombine } from '../src/core/metrics/embedding';
import { rocCurve } from '../src/core/metrics/roc';
import { curvePolyline, farAxisFloor, rocSvg, svgToPng } from '../src/core/metrics/rocPlot';
import { flattenModel, insightfaceBinPickle, noiseImage, writeSyntheticFolder } from './helpers/evalFixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-eval-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

const CONFIG_INPUT = { size: 112, color: 'rgb', mean: 127.5, std: 127.5 } as const;

describe('resolveInputSpec', () => {
  const base: InputSpecSources = { model: 'm.onnx', overrides: {}, metadata: {}, inputShape: ['N', 3, 112, 112], config: CONFIG_INPUT };

  test('flags beat metadata, metadata beats the shape and the config; each field says where it came from', () => {
    const r = resolveInputSpec({
      ...base,
      inputShape: ['N', 112, 112, 3],
      metadata: { color: 'rgb', mean: 127.5, std: 128, layout: 'NHWC', size: 112 },
      overrides: { color: 'bgr' },
    });
    expect(r.spec).toEqual({ size: 112, color: 'bgr', mean: 127.5, std: 128, layout: 'NHWC' });
    expect(r.origin).toEqual({ size: 'metadata', color: 'flag', mean: 'metadata', std: 'metadata', layout: 'metadata' });
    expect(guessedSpecNote(r)).toBeUndefined();
  });

  test('without metadata: layout and size from the input shape, normalisation from the config, with a note saying so', () => {
    const r = resolveInputSpec({ ...base, inputShape: ['N', 3, 96, 96] });
    expect(r.spec).toEqual({ size: 96, color: 'rgb', mean: 127.5, std: 127.5, layout: 'NCHW' });
    expect(r.origin.layout).toBe('model-shape');
    expect(guessedSpecNote(r)).toMatch(/metadata does not say how to feed it; using the config's color rgb, mean 127.5, std 127.5: pass --color/);
  });

  test('layout from the shape', () => {
    expect(layoutFromShape(['N', 3, 112, 112])).toBe('NCHW');
    expect(layoutFromShape([1, 112, 112, 3])).toBe('NHWC');
    expect(layoutFromShape(['N', 3, 'H', 3])).toBeUndefined();
  });

  test('clear errors', () => {
    expect(errorOf(() => resolveInputSpec({ ...base, inputShape: ['N', 'C', 'H', 'W'] })).message).toBe(
      'model m.onnx (input shape [N, C, H, W]): cannot tell whether the input is NCHW or NHWC; pass --layout NCHW or --layout NHWC',
    );
    expect(errorOf(() => resolveInputSpec({ ...base, overrides: { size: 160 } })).message).toBe(
      'model m.onnx (input shape [N, 3, 112, 112]): the model takes 112x112 images, but --input-size says 160',
    );
    expect(errorOf(() => resolveInputSpec({ ...base, inputShape: ['N', 1, 112, 112], overrides: { layout: 'NCHW' } })).message).toMatch(
      /a NCHW input needs 3 channels, this one has 1/,
    );
    expect(errorOf(() => resolveInputSpec({ ...base, inputShape: ['N', 3, 112, 96] })).message).toMatch(/expected a square image input, found 112x96/);
    expect(errorOf(() => resolveInputSpec({ ...base, overrides: { std: 0 } }))).toBeInstanceOf(InputError);
  });
});

describe('embedding cache', () => {
  const embedding = Float32Array.from([0.5, -1.25, 3, 1e-8]);

  test('an entry round-trips exactly', () => {
    expect(decodeEntry(encodeEntry(embedding))).toEqual(embedding);
    // A Buffer at an odd offset in a larger pool still decodes.
    const padded = Buffer.concat([Buffer.from([1]), encodeEntry(embedding)]).subarray(1);
    expect(decodeEntry(padded)).toEqual(embedding);
  });

  test('a damaged entry is rejected: truncated, garbled, wrong magic, wrong size, non-finite', () => {
    const good = encodeEntry(embedding);
    expect(decodeEntry(good.subarray(0, good.length - 1))).toBeUndefined();
    const garbled = Buffer.from(good);
    garbled[14] ^= 0x40;
    expect(decodeEntry(garbled)).toBeUndefined();
    const magic = Buffer.from(good);
    magic[0] = 0x41 + 1;
    expect(decodeEntry(magic)).toBeUndefined();
    expect(decodeEntry(good, 5)).toBeUndefined();
    expect(decodeEntry(encodeEntry(Float32Array.from([1, NaN])))).toBeUndefined();
    expect(decodeEntry(Buffer.alloc(0))).toBeUndefined();
  });

  test('get/put; a damaged entry counts as a miss and is rewritten', () => {
    const cache = new EmbeddingCache(path.join(tmp, 'cache1'), 'k');
    expect(cache.get('ab12')).toBeUndefined();
    cache.put('ab12', embedding);
    expect(cache.get('ab12')).toEqual(embedding);
    fs.writeFileSync(cache.entryPath('ab12'), 'junk');
    expect(cache.get('ab12')).toBeUndefined();
    expect(cache.stats).toEqual({ hits: 1, misses: 2, corrupt: 1, writeErrors: 0 });
    cache.put('ab12', embedding);
    expect(cache.get('ab12')).toEqual(embedding);
    // No temporary files are left behind.
    expect(fs.readdirSync(path.dirname(cache.entryPath('ab12')))).toEqual(['ab12.emb']);
  });

  test('an unwritable cache does not stop the work; it is reported once', () => {
    const file = path.join(tmp, 'not-a-dir');
    fs.writeFileSync(file, '');
    const cache = new EmbeddingCache(file, 'k');
    cache.put('ab12', embedding);
    cache.put('cd34', embedding);
    expect(cache.stats.writeErrors).toBe(1);
    expect(cache.writeError).toMatch(/embedding cache .*not-a-dir is not writable \(ENOTDIR\); continuing without caching/);
  });

  test('keys: the model key changes with any preprocessing fact; ~ expands', () => {
    const a = modelKey({ modelSha256: 'x', preprocessing: { flip: false } });
    expect(modelKey({ modelSha256: 'x', preprocessing: { flip: true } })).not.toBe(a);
    expect(modelKey({ modelSha256: 'y', preprocessing: { flip: false } })).not.toBe(a);
    expect(expandHome('~/.cache/arcface')).toBe(path.join(os.homedir(), '.cache/arcface'));
  });
});

describe('embedImages with a model whose embedding is its input', () => {
  const spec: InputSpec = { size: 2, color: 'rgb', mean: 100, std: 50, layout: 'NCHW' };
  const image: RgbImage = { width: 2, height: 2, data: Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]) };
  let session: EmbeddingSession;
  let refs: ImageRef[];
  beforeAll(async () => {
    session = await EmbeddingSession.create(flattenModel({ size: 2 }), DEFAULT_ENGINE, 'flatten');
    refs = [{ kind: 'bytes', name: 'a.png', bytes: await encodeImage(image, 'png') }];
  });
  afterAll(() => session.release());

  /** What the flatten model returns for an RgbImage under a spec (NCHW, optionally mirrored). */
  function expected(img: RgbImage, s: InputSpec, mirror = false): Float32Array {
    const order = s.color === 'bgr' ? [2, 1, 0] : [0, 1, 2];
    const out: number[] = [];
    for (const c of order) {
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < img.width; x++) {
          const sx = mirror ? img.width - 1 - x : x;
          out.push((img.data[(y * img.width + sx) * 3 + c] - s.mean) / s.std);
        }
      }
    }
    return Float32Array.from(out);
  }

  test('colour order, mean and std, NCHW', async () => {
    for (const color of ['rgb', 'bgr'] as const) {
      const r = await embedImages(session, refs, { spec: { ...spec, color }, flip: false, batchSize: 4, model: 'flatten' });
      expect(r.size).toBe(12);
      expect(Array.from(r.embeddings[0])).toEqual(Array.from(expected(image, { ...spec, color })));
    }
  });

  test('flip TTA sums the raw embeddings of the image and its mirror, then L2-normalises', async () => {
    const r = await embedImages(session, refs, { spec, flip: true, batchSize: 4, model: 'flatten' });
    const want = flipCombine(expected(image, spec), expected(image, spec, true));
    r.embeddings[0].forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });

  test('an image of another size is resized to the input size (bilinear)', async () => {
    const big = noiseImage(5, 7);
    const r = await embedImages(session, [{ kind: 'bytes', name: 'big.png', bytes: await encodeImage(big, 'png') }], { spec, flip: false, batchSize: 1, model: 'flatten' });
    expect(Array.from(r.embeddings[0])).toEqual(Array.from(expected(resizeBilinear(big, 2, 2), spec)));
  });

  test('batches, ordering and the cache: the second pass computes nothing and returns the same vectors', async () => {
    const many: ImageRef[] = await Promise.all(
      Array.from({ length: 7 }, async (_, i) => ({ kind: 'bytes' as const, name: `n${i}.png`, bytes: await encodeImage(noiseImage(2, i), 'png') })),
    );
    const cache = new EmbeddingCache(path.join(tmp, 'cache2'), 'flatten');
    const progress: number[] = [];
    const first = await embedImages(session, many, { spec, flip: false, batchSize: 3, cache, model: 'flatten', onProgress: (p) => progress.push(p.done) });
    expect(progress).toEqual([3, 6, 7]);
    expect(first.computed).toBe(7);
    many.forEach((_, i) => expect(Array.from(first.embeddings[i])).toEqual(Array.from(expected(noiseImage(2, i), spec))));
    const second = await embedImages(session, many, { spec, flip: false, batchSize: 3, cache, model: 'flatten' });
    expect(second.computed).toBe(0);
    expect(second.embeddings).toEqual(first.embeddings);
    expect(cache.stats.hits).toBe(7);
  });

  test('an embedding size that disagrees with the metadata; a damaged image', async () => {
    await expect(embedImages(session, refs, { spec, flip: false, batchSize: 1, declaredSize: 512, model: 'flatten.onnx' })).rejects.toThrow(
      'model flatten.onnx: outputs 12-d embeddings, but its metadata embedding_size says 512',
    );
    const broken: ImageRef[] = [{ kind: 'bytes', name: 'lfw.bin[3]', bytes: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]) }];
    const err = await embedImages(session, broken, { spec, flip: false, batchSize: 1, model: 'flatten' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^lfw\.bin\[3\]: corrupt/);
  });
});

describe('eval sets', () => {
  const root = path.join(tmp, 'sets');
  let files: string[];
  beforeAll(async () => {
    files = await writeSyntheticFolder(path.join(root, 'folder'), 3, 3, 4);
    fs.writeFileSync(path.join(root, 'folder', 'README'), 'not an identity');
  });

  test('ImageFolder: identities by sub-folder, non-images skipped, all positives and as many seeded negatives', () => {
    expect(listImageFolder(path.join(root, 'folder')).map((i) => i.identity)).toEqual(['person0', 'person0', 'person0', 'person1', 'person1', 'person1', 'person2', 'person2', 'person2']);
    const set = loadEvalSet(path.join(root, 'folder'), { skipMissing: false, seed: 1, negativesPerPositive: 1, folds: 3 });
    expect(set.format).toBe('folder');
    expect(set.images).toHaveLength(9);
    expect(set.pairs.filter((p) => p.same)).toHaveLength(9);
    expect(set.pairs.filter((p) => !p.same)).toHaveLength(9);
    expect(set.identities).toHaveLength(9);
    for (const p of set.pairs) expect(set.identities![p.a] === set.identities![p.b]).toBe(p.same);
  });

  test('LFW pairs.txt: missing images are listed (the first five) and counted, or skipped on request', () => {
    const lfw = path.join(root, 'lfw');
    fs.mkdirSync(path.join(lfw, 'Ann'), { recursive: true });
    fs.copyFileSync(files[0], path.join(lfw, 'Ann', 'Ann_0001.jpg'));
    fs.copyFileSync(files[1], path.join(lfw, 'Ann', 'Ann_0002.jpg'));
    const lines = ['2 1', 'Ann\t1\t2', 'Ann\t1\tBob\t1', 'Cy\t1\t2', 'Dee\t1\tEve\t3'];
    fs.writeFileSync(path.join(lfw, 'pairs.txt'), lines.join('\n'));
    const err = errorOf(() => loadEvalSet(path.join(lfw, 'pairs.txt'), { skipMissing: false, seed: 0, negativesPerPositive: 1, folds: 10 }));
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe(
      `${path.join(lfw, 'pairs.txt')}: 5 of 7 images missing under ${lfw}: Bob/Bob_0001.jpg, Cy/Cy_0001.jpg, Cy/Cy_0002.jpg, Dee/Dee_0001.jpg, Eve/Eve_0003.jpg (--skip-missing evaluates the pairs whose images exist)`,
    );
    const set = loadEvalSet(lfw, { skipMissing: true, seed: 0, negativesPerPositive: 1, folds: 10 });
    expect(set.format).toBe('lfw');
    expect(set.pairs).toEqual([{ a: 0, b: 1, same: true, fold: 0 }]);
    expect(set.missing).toEqual({ images: 5, pairs: 3, first: ['Bob/Bob_0001.jpg', 'Cy/Cy_0001.jpg', 'Cy/Cy_0002.jpg', 'Dee/Dee_0001.jpg', 'Eve/Eve_0003.jpg'] });
  });

  test('more than five missing: the rest are counted', () => {
    const lines = ['1 3', 'A\t1\t2', 'B\t1\t2', 'C\t1\t2', 'D\t1\tE\t1', 'F\t1\tG\t1', 'H\t1\tI\t1'];
    const file = path.join(root, 'many.txt');
    fs.writeFileSync(file, lines.join('\n'));
    expect(errorOf(() => loadEvalSet(file, { skipMissing: false, seed: 0, negativesPerPositive: 1, folds: 10 })).message).toMatch(
      /: 12 of 12 images missing under .*: A\/A_0001\.jpg, A\/A_0002\.jpg, B\/B_0001\.jpg, B\/B_0002\.jpg, C\/C_0001\.jpg and 7 more \(--skip-missing/,
    );
  });

  test('CSV pairs relative to the CSV folder; .bin pairs as image bytes; format detection', async () => {
    const csv = path.join(root, 'pairs.csv');
    fs.writeFileSync(csv, 'path1,path2,same\nfolder/person0/img0.png,folder/person0/img1.png,1\nfolder/person0/img0.png,folder/person1/img0.png,0\n');
    const set = loadEvalSet(csv, { skipMissing: false, seed: 0, negativesPerPositive: 1, folds: 10 });
    expect(set.images.map((r) => (r.kind === 'file' ? path.relative(root, r.path) : ''))).toEqual(['folder/person0/img0.png', 'folder/person0/img1.png', 'folder/person1/img0.png']);
    expect(set.pairs).toEqual([{ a: 0, b: 1, same: true }, { a: 0, b: 2, same: false }]);

    const bin = path.join(root, 'tiny.bin');
    const bytes = files.slice(0, 4).map((f) => fs.readFileSync(f));
    fs.writeFileSync(bin, insightfaceBinPickle(bytes, [true, false]));
    const b = loadEvalSet(bin, { skipMissing: false, seed: 0, negativesPerPositive: 1, folds: 10 });
    expect(b.images).toHaveLength(4);
    expect(b.pairs).toEqual([{ a: 0, b: 1, same: true }, { a: 2, b: 3, same: false }]);

    expect(detectFormat(path.join(root, 'folder'), {})).toBe('folder');
    expect(detectFormat(csv, { format: 'lfw' })).toBe('lfw');
    fs.writeFileSync(path.join(root, 'x.dat'), '');
    expect(errorOf(() => detectFormat(path.join(root, 'x.dat'), {})).message).toMatch(/cannot tell the dataset format from '\.dat'; expected a \.bin, \.csv, LFW pairs \.txt, or an ImageFolder/);
  });

  test('a .bin that is not the expected pickle: one-line input error with the offset', () => {
    const bad = path.join(root, 'bad.bin');
    fs.writeFileSync(bad, Buffer.from([0x80, 0x04, 0x63, ...Buffer.from('os\nsystem\n'), 0x2e]));
    const err = errorOf(() => loadEvalSet(bad, { skipMissing: false, seed: 0, negativesPerPositive: 1, folds: 10 }));
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe(`${bad}: refusing GLOBAL os.system: the file uses a construct this reader does not accept at offset 2; expected a pickled a tuple (list of image bytes, list of bools)`);
  });
});

describe('scores and verification summary', () => {
  // Unit vectors at angle t: cosine between two of them is cos(t1 - t2).
  const at = (deg: number) => Float32Array.from([Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)]);

  test('cosine per pair, k-fold over the folds the pairs carry, AUC, threshold as a cosine', () => {
    const embeddings = [at(0), at(10), at(60), at(90), at(100), at(170)];
    // Same pairs are 10 degrees apart (cosine 0.985), different ones 60+ (cosine <= 0.5).
    const pairs: IndexedPair[] = [
      { a: 0, b: 1, same: true, fold: 0 },
      { a: 0, b: 2, same: false, fold: 0 },
      { a: 3, b: 4, same: true, fold: 1 },
      { a: 1, b: 5, same: false, fold: 1 },
    ];
    const scores = scorePairs(embeddings, pairs);
    expect(Array.from(scores).map((s) => Number(s.toFixed(4)))).toEqual([0.9848, 0.5, 0.9848, -0.9397]);
    const v = summarizeVerification(scores, pairs, { folds: 10 });
    // Perfectly separable overall (AUC 1), but fold 1's threshold (0.023, midway between its -0.94 and 0.98)
    // accepts fold 0's different pair at 0.5: held-out accuracies 1/2 and 2/2.
    expect(v).toEqual(expect.objectContaining({ pairs: 4, positives: 2, negatives: 2, folds: 2, accuracy: 0.75, accuracyStd: 0.25, auc: 1, eer: 0 }));
    expect(v.perFold.map((f) => f.accuracy)).toEqual([0.5, 1]);
    // Each fold's threshold is the midpoint between the other fold's different and same scores.
    expect(v.perFold[0].threshold).toBeCloseTo((0.9848078 - 0.9396926) / 2, 5);
    expect(v.perFold[1].threshold).toBeCloseTo((0.5 + 0.9848078) / 2, 5);
  });

  test('pairs without folds are split into contiguous folds; too few pairs is a clear error', () => {
    const embeddings = [at(0), at(5), at(90)];
    const pairs: IndexedPair[] = [{ a: 0, b: 1, same: true }, { a: 0, b: 2, same: false }, { a: 1, b: 0, same: true }, { a: 1, b: 2, same: false }];
    expect(summarizeVerification(scorePairs(embeddings, pairs), pairs, { folds: 2 }).folds).toBe(2);
    expect(errorOf(() => summarizeVerification(scorePairs(embeddings, pairs), pairs, { folds: 10 })).message).toBe('4 pairs cannot be split into 10 folds; lower --folds');
  });
});

describe('ROC plot', () => {
  const roc = rocCurve([0.9, 0.8, 0.7, 0.7, 0.2, 0.1], [true, true, false, true, false, false]);

  test('the FAR axis starts at the smallest measurable FAR; ties are drawn sampled along the log axis', () => {
    expect(farAxisFloor([{ label: 'a', roc, auc: 0, eer: 0 }])).toBe(-1);
    expect(farAxisFloor([{ label: 'a', roc: { ...roc, negatives: 3000 }, auc: 0, eer: 0 }])).toBe(-4);
    const line = curvePolyline(roc, 0.01);
    // Monotone in both axes, clamped to the axis, ends at (1, 1).
    for (let i = 1; i < line.length; i++) {
      expect(line[i][0]).toBeGreaterThanOrEqual(line[i - 1][0]);
      expect(line[i][1]).toBeGreaterThanOrEqual(line[i - 1][1] - 1e-12);
    }
    expect(line[0]).toEqual([0.01, 0]);
    expect(line[line.length - 1]).toEqual([1, 1]);
    expect(line.length).toBeGreaterThan(roc.points.length);
  });

  test('SVG escapes labels; sharp renders it to a PNG of the same size', async () => {
    const svg = rocSvg([{ label: 'a<b>&"c"', roc, auc: 0.875, eer: 0.25 }], { title: 'ROC' });
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="640" height="480"/);
    expect(svg).toContain('a&lt;b&gt;&amp;&quot;c&quot;  AUC 0.8750  EER 25.00%');
    expect(svg).not.toContain('a<b>');
    const png = await svgToPng(svg);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 640, 480]);
  });
});

describe('runEval with a tiny model', () => {
  test('an ImageFolder end to end: report, 1:N identification, output files, cache reuse', async () => {
    const folder = path.join(tmp, 'run-folder');
    await writeSyntheticFolder(folder, 4, 4, 8);
    const model = path.join(tmp, 'flatten8.onnx');
    fs.writeFileSync(model, flattenModel({ size: 8, metadata: { embedding_size: '192' } }));
    const settings: EvalSettings = {
      data: folder,
      set: { skipMissing: false, seed: 0, negativesPerPositive: 1, folds: 4 },
      model,
      configSets: [],
      inputOverrides: {},
      inputConfig: CONFIG_INPUT,
      flip: false,
      batchSize: 5,
      fars: [0.1, 0.01],
      galleryPerIdentity: 1,
      seed: 0,
      cacheDir: path.join(tmp, 'run-cache'),
      engine: DEFAULT_ENGINE,
      outDir: path.join(tmp, 'run-out'),
    };
    const r = await runEval(settings);
    expect(r).toEqual(
      expect.objectContaining({ format: 'folder', images: 16, pairs: 48, positives: 24, negatives: 24, folds: 4, embeddingSize: 192, accuracy: 1, auc: 1 }),
    );
    expect(r.input.origin).toEqual({ size: 'model-shape', color: 'config', mean: 'config', std: 'config', layout: 'model-shape' });
    expect(r.notes[0]).toMatch(/metadata does not say how to feed it/);
    // 24 negatives measure FAR down to 1/24: 1e-1 is reported, 1e-2 is not measurable.
    expect(r.tarAtFar.map((t) => t.far)).toEqual([0.1]);
    expect(r.identification).toEqual(expect.objectContaining({ rank1: 1, rank5: 1, probes: 12, galleryImages: 4, galleryIdentities: 4 }));
    expect(r.cache).toEqual(expect.objectContaining({ hits: 0, misses: 16, corrupt: 0 }));
    const saved = JSON.parse(fs.readFileSync(r.outputs!.results, 'utf8'));
    expect(saved.auc).toBe(1);
    expect(saved.outputs.rocPng).toBe(r.outputs!.rocPng);
    expect(fs.readFileSync(r.outputs!.rocCsv, 'utf8').split('\n')[0]).toBe('fpr,tpr,threshold');
    expect((await sharp(r.outputs!.rocPng).metadata()).format).toBe('png');

    const again = await runEval({ ...settings, outDir: undefined });
    expect(again.cache).toEqual(expect.objectContaining({ hits: 16, misses: 0 }));
    expect(again.timing.imagesPerSecond).toBeNull();
    expect(again.threshold).toBe(r.threshold);
  });

  test('our own models: a shipped config and a checkpoint of it evaluate identically, fed per their metadata', async () => {
    const folder = path.join(tmp, 'ours-folder');
    await writeSyntheticFolder(folder, 3, 3, 16);
    const source = loadModelSource('tiny');
    if (source.kind !== 'ours') throw new Error('tiny should be one of our configs');
    const checkpoint = path.join(tmp, 'tiny.safetensors');
    saveCheckpoint(checkpoint, source.backbone, { model: source.config.model, input: source.config.input });
    const base: EvalSettings = {
      data: folder,
      set: { skipMissing: false, seed: 0, negativesPerPositive: 1, folds: 3 },
      model: 'tiny',
      configSets: [],
      inputOverrides: {},
      inputConfig: CONFIG_INPUT,
      flip: true,
      batchSize: 4,
      fars: [0.1],
      galleryPerIdentity: 1,
      seed: 0,
      engine: DEFAULT_ENGINE,
    };
    const fromConfig = await runEval(base);
    const fromCheckpoint = await runEval({ ...base, model: checkpoint });
    expect(fromConfig.input).toEqual({ size: 112, color: 'rgb', mean: 127.5, std: 127.5, layout: 'NCHW', origin: { size: 'metadata', color: 'metadata', mean: 'metadata', std: 'metadata', layout: 'metadata' } });
    expect(fromConfig.notes).toEqual([]);
    expect(fromCheckpoint.modelSha256).toBe(fromConfig.modelSha256);
    expect(fromCheckpoint.perFold).toEqual(fromConfig.perFold);
    expect(fromConfig.embeddingSize).toBe(source.config.model.embedding_size);
  });

  test('the model resolver: pretrained names, unknown names, metadata size checks', () => {
    expect(errorOf(() => loadEvalModel('pretrained:facenet')).message).toBe('model pretrained:facenet: unknown pretrained model; expected one of pretrained:mobilefacenet');
    const bad = path.join(tmp, 'badmeta.onnx');
    fs.writeFileSync(bad, flattenModel({ size: 2, metadata: { embedding_size: 'big' } }));
    expect(errorOf(() => loadEvalModel(bad)).message).toBe("model badmeta.onnx: metadata embedding_size is 'big', expected a positive integer");
    const ours = loadEvalModel('tiny');
    expect(ours.metadata.input_layout).toBe('NCHW');
    expect(ours.declaredEmbeddingSize).toBeGreaterThan(0);
  });
});
