import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { arcfaceTemplate, estimateAlignment } from '../src/core/detect/align';
import { ManifestRecord } from '../src/core/detect/manifest';
import { DEFAULT_ENGINE, EmbeddingSession } from '../src/core/engines/onnxruntime';
import { applyAffine } from '../src/core/image/affine';
import { RgbImage, decodeImage } from '../src/core/image/image';
import { toNchw } from '../src/core/image/tensor';
import { cosine } from '../src/core/metrics/embedding';
import { summarizeRoc } from '../src/core/metrics/roc';
import { resampleRegion } from '../src/core/detect/resample';

/**
 * detect-align end to end through the built CLI (`npm test` builds first): yalefaces aligned and
 * then recognised by a third-party MobileFaceNet (AUC against a plain centre crop), resuming,
 * every bad-input case recorded while the run goes on, unwritable outputs, the input forms.
 */

const BIN = path.resolve(__dirname, '../bin/run.js');
const SHARED = path.resolve(__dirname, '..', '..', 'shared');
const YALE = path.join(SHARED, 'data', 'faces', 'yalefaces');
const RECOGNIZER = path.join(SHARED, 'models', 'mobilefacenet-paddlex-128d.onnx');
const YUNET = path.join(SHARED, 'models', 'yunet_n_dynamic.onnx');
const haveShared = fs.existsSync(YALE) && fs.existsSync(RECOGNIZER);
if (!haveShared) console.warn(`detect-align.test: skipping, ${YALE} or ${RECOGNIZER} is absent`);
const describeWithShared = haveShared ? describe : describe.skip;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-detect-align-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const report: string[] = [];
afterAll(() => {
  if (report.length > 0) process.stdout.write(`${report.join('\n')}\n`);
});

function arcface(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'detect-align', ...args], { encoding: 'utf8', cwd: tmp, timeout: 300000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function jsonRun(...args: string[]) {
  const r = arcface(...args, '--json');
  let summary;
  try {
    summary = JSON.parse(r.stdout);
  } catch {
    throw new Error(`detect-align ${args.join(' ')} printed no JSON (exit ${r.code}): ${r.stderr}`);
  }
  return { ...r, summary };
}

function manifestOf(file: string): ManifestRecord[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ManifestRecord);
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(dir, f)).isFile());
}

function hashTree(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((f) => [f, createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')]));
}

/** Cosine scores and same-person labels over every pair; identity = first path component. */
function allPairs(embeddings: Float32Array[], identities: string[]): { scores: number[]; issame: boolean[] } {
  const scores: number[] = [];
  const issame: boolean[] = [];
  for (let i = 0; i < embeddings.length; i++) {
    for (let j = i + 1; j < embeddings.length; j++) {
      scores.push(cosine(embeddings[i], embeddings[j]));
      issame.push(identities[i] === identities[j]);
    }
  }
  return { scores, issame };
}

/** 112x112 faces through the PaddleX MobileFaceNet: BGR, (x - 127.5) / 127.5, NCHW. */
async function embedAll(session: EmbeddingSession, faces: RgbImage[]): Promise<Float32Array[]> {
  const tensor = toNchw(faces, { channelOrder: 'bgr', mean: 127.5, std: 127.5 });
  const { embeddings, size } = await session.embed(tensor.data, faces.length, 32);
  return faces.map((_, i) => embeddings.slice(i * size, (i + 1) * size));
}

/** The baseline: the centre square of the photo, shrunk to 112x112, no detection. */
function centreCrop(img: RgbImage): RgbImage {
  const side = Math.min(img.width, img.height);
  return resampleRegion(img, { x: (img.width - side) / 2, y: (img.height - side) / 2, width: side, height: side }, 112, 112);
}

describeWithShared('detect-align on yalefaces, then recognition', () => {
  const out = path.join(tmp, 'yale');
  let records: ManifestRecord[];

  test('finds a face in every image and writes one aligned 112x112 crop per identity folder', () => {
    const r = jsonRun(YALE, '-o', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.summary).toMatchObject({ images: 155, processed: 155, faces: 155, imagesWithFaces: 155, noFace: 0, errors: 0, alreadyDone: 0 });
    records = manifestOf(path.join(out, 'manifest.jsonl'));
    expect(records).toHaveLength(155);
    for (const rec of records) {
      expect(rec.status).toBe('ok');
      expect(rec.faces).toHaveLength(1);
      expect(rec.faces[0].output).toBe(`${rec.source.replace(/\.png$/, '')}_0.png`);
      expect(fs.existsSync(path.join(out, rec.faces[0].output!))).toBe(true);
    }
    expect(fs.readdirSync(out).filter((f) => f.startsWith('subject'))).toHaveLength(15);
    report.push(`detect-align yalefaces (MTCNN): ${r.summary.faces}/155 faces, ${r.summary.imagesPerSecond.toFixed(1)} img/s with ${r.summary.workers} workers`);
  });

  test('the recorded landmarks put the eyes within a few pixels of the template after alignment', () => {
    const template = arcfaceTemplate(112);
    const eyeErrors = records.flatMap((rec) => {
      const m = estimateAlignment(rec.faces[0].landmarks);
      return [0, 1].map((k) => {
        const [x, y] = applyAffine(m, rec.faces[0].landmarks[k]);
        return Math.hypot(x - template[k][0], y - template[k][1]);
      });
    });
    eyeErrors.sort((a, b) => a - b);
    const median = eyeErrors[Math.floor(eyeErrors.length / 2)];
    const p95 = eyeErrors[Math.floor(eyeErrors.length * 0.95)];
    report.push(`aligned eye centres vs the template: median ${median.toFixed(2)} px, 95th percentile ${p95.toFixed(2)} px`);
    expect(median).toBeLessThan(2);
    expect(p95).toBeLessThan(4);
  });

  test('a second run skips everything the manifest says is done', () => {
    const r = jsonRun(YALE, '-o', out);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ images: 155, alreadyDone: 155, processed: 0, errors: 0 });
    expect(manifestOf(path.join(out, 'manifest.jsonl'))).toHaveLength(155);
  });

  test('aligned faces separate same from different people (AUC ~1), far better than a centre crop', async () => {
    const session = await EmbeddingSession.create(RECOGNIZER, DEFAULT_ENGINE);
    const sources = records.map((r) => r.source);
    const identities = sources.map((s) => s.split('/')[0]);
    const aligned = await Promise.all(records.map(async (r) => (await decodeImage(path.join(out, r.faces[0].output!))).image));
    const centred = await Promise.all(sources.map(async (s) => centreCrop((await decodeImage(path.join(YALE, s))).image)));
    const alignedPairs = allPairs(await embedAll(session, aligned), identities);
    const centredPairs = allPairs(await embedAll(session, centred), identities);
    await session.release();
    const auc = summarizeRoc(alignedPairs.scores, alignedPairs.issame).auc;
    const baseline = summarizeRoc(centredPairs.scores, centredPairs.issame).auc;
    const mean = (p: typeof alignedPairs, same: boolean) => {
      const v = p.scores.filter((_, i) => p.issame[i] === same);
      return v.reduce((a, b) => a + b) / v.length;
    };
    report.push(
      `PaddleX MobileFaceNet on ${alignedPairs.scores.length} yalefaces pairs: AUC ${auc.toFixed(5)} aligned vs ${baseline.toFixed(5)} centre crop; ` +
        `mean cosine same ${mean(alignedPairs, true).toFixed(3)}, different ${mean(alignedPairs, false).toFixed(3)}`,
    );
    expect(mean(alignedPairs, true)).toBeGreaterThan(mean(alignedPairs, false) + 0.3);
    expect(auc).toBeGreaterThan(0.995);
    expect(auc).toBeGreaterThan(baseline);
  });

  (fs.existsSync(YUNET) ? test : test.skip)('YuNet from a user-supplied ONNX file behind the same command', () => {
    const r = jsonRun(YALE, '-o', path.join(tmp, 'yale-yunet'), '--detector', 'yunet', '--yunet-model', YUNET, '--largest');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ detector: 'yunet', faces: 155, noFace: 0, errors: 0 });
    // --largest: no index suffix.
    expect(fs.existsSync(path.join(tmp, 'yale-yunet', 'subject01', 'normal.png'))).toBe(true);
  });
});

describeWithShared('detect-align on bad input', () => {
  const input = path.join(tmp, 'cases');
  const out = path.join(tmp, 'cases-out');
  let before: Record<string, string>;

  beforeAll(async () => {
    const face = path.join(YALE, 'subject06', 'normal.png');
    const at = (name: string): string => {
      fs.mkdirSync(path.dirname(path.join(input, name)), { recursive: true });
      return path.join(input, name);
    };
    await sharp(face).toColourspace('cmyk').jpeg().toFile(at('person/cmyk.jpg'));
    await sharp(face).greyscale().png().toFile(at('person/grey.png'));
    await sharp(face).toColourspace('rgb16').png().toFile(at('person/deep16.png'));
    await sharp(face).ensureAlpha(0.9).png().toFile(at('person/alpha.png'));
    // Stored on its side; EXIF orientation 6 turns it upright for display.
    await sharp(face).rotate(-90).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toFile(at('person/rotated.jpg'));
    fs.copyFileSync(face, at('person/png-inside.jpg'));
    const jpeg = await sharp(face).jpeg().toBuffer();
    fs.writeFileSync(at('bad/truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    fs.writeFileSync(at('bad/notes.jpg'), 'not an image\n');
    fs.writeFileSync(at('bad/empty.png'), Buffer.alloc(0));
    await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#808080' } }).png().toFile(at('bad/huge.png'));
    await sharp({ create: { width: 320, height: 240, channels: 3, background: '#606060' } }).png().toFile(at('bad/blank.png'));
    fs.copyFileSync(face, at('blocked/face.png'));
    fs.writeFileSync(at('README.txt'), 'notes');
    // A file where the output folder for identity "blocked" should go.
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'blocked'), 'in the way');
    before = hashTree(input);
  });

  test('every case is recorded, the run goes on, the exit code says something failed', () => {
    const r = jsonRun(input, '-o', out, '--max-pixels', '5000000');
    expect(r.code).toBe(1);
    expect(r.summary).toMatchObject({
      images: 12,
      skippedFiles: 1,
      processed: 12,
      faces: 6,
      imagesWithFaces: 6,
      noFace: 1,
      errors: 5,
      warnings: 1,
    });
    expect(r.summary.errorsByReason).toEqual({ corrupt: 1, 'not-an-image': 2, 'too-large': 1, unwritable: 1 });
    expect(r.summary.errorSamples).toHaveLength(5);
    const bySource = new Map(manifestOf(path.join(out, 'manifest.jsonl')).map((rec) => [rec.source, rec]));
    for (const name of ['cmyk.jpg', 'grey.png', 'deep16.png', 'alpha.png', 'rotated.jpg', 'png-inside.jpg']) {
      expect(bySource.get(`person/${name}`)).toMatchObject({ status: 'ok', width: 320, height: 243 });
    }
    expect(bySource.get('person/png-inside.jpg')?.warnings?.[0]).toMatch(/contents are PNG, not JPEG/);
    expect(bySource.get('bad/blank.png')).toMatchObject({ status: 'no-face', faces: [] });
    const error = (source: string) => bySource.get(source)?.error;
    expect(error('bad/truncated.jpg')).toMatchObject({ reason: 'corrupt', message: expect.stringMatching(/truncated\.jpg: corrupt or truncated JPEG/) });
    expect(error('bad/notes.jpg')).toMatchObject({ reason: 'not-an-image' });
    expect(error('bad/empty.png')).toMatchObject({ reason: 'not-an-image', message: expect.stringMatching(/empty file/) });
    expect(error('bad/huge.png')).toMatchObject({ reason: 'too-large', message: expect.stringMatching(/3000x2000 \(6\.0 MP\), over the limit of 5\.0 MP/) });
    expect(error('blocked/face.png')).toMatchObject({ reason: 'unwritable', message: expect.stringMatching(/cannot create folder .*blocked \(a file is in the way\)/) });
    // The face was still found; only its crop could not be written.
    expect(bySource.get('blocked/face.png')?.faces[0]).toMatchObject({ output: null });
  });

  test('inputs are never modified and no temporary files are left behind', () => {
    expect(hashTree(input)).toEqual(before);
    expect(filesUnder(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('after the blocking file is gone, a resumed run retries only what failed', () => {
    fs.rmSync(path.join(out, 'blocked'));
    const r = jsonRun(input, '-o', out, '--max-pixels', '5000000');
    expect(r.summary).toMatchObject({ alreadyDone: 7, processed: 5, faces: 1, errors: 4 });
    expect(fs.existsSync(path.join(out, 'blocked', 'face_0.png'))).toBe(true);
    expect(r.code).toBe(1);
  });

  test('an output folder that cannot be created is one clear line and exit code 2', () => {
    fs.writeFileSync(path.join(tmp, 'a-file'), 'x');
    const r = arcface(input, '-o', path.join(tmp, 'a-file', 'out'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: .*a-file\/out: cannot create the output folder \(a file is in the way\)\n$/);
  });

  test('a missing input and a bad size are one clear line and exit code 2', () => {
    expect(arcface(path.join(tmp, 'nope'), '-o', path.join(tmp, 'o')).stderr).toMatch(/nope: no such file or folder/);
    const r = arcface(input, '-o', path.join(tmp, 'o'), '--size', '100');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/aligned size 100: expected a multiple of 112 or 128/);
  });
});

describeWithShared('detect-align input forms and output options', () => {
  test('a single image, --largest, JPEG at a chosen quality', async () => {
    const out = path.join(tmp, 'single');
    const r = jsonRun(path.join(YALE, 'subject02', 'happy.png'), '-o', out, '--largest', '--format', 'jpeg', '--quality', '80', '--size', '224');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ inputKind: 'image', images: 1, faces: 1, workers: 0 });
    const meta = await sharp(path.join(out, 'happy.jpg')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 224, 224]);
  });

  test('a list file: entries relative to it, outputs keep their folders under the common one', () => {
    const list = path.join(tmp, 'faces.txt');
    fs.writeFileSync(list, `# two people\n${path.relative(tmp, path.join(YALE, 'subject03', 'sad.png'))}\n${path.join(YALE, 'subject04', 'sleepy.png')}\n`);
    const out = path.join(tmp, 'listed');
    const r = jsonRun(list, '-o', out);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ inputKind: 'list', images: 2, faces: 2 });
    expect(fs.existsSync(path.join(out, 'subject03', 'sad_0.png'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'subject04', 'sleepy_0.png'))).toBe(true);
  });

  test('human output: a summary table, progress on stderr', () => {
    const r = arcface(path.join(YALE, 'subject05'), '-o', path.join(tmp, 'human'), '--workers', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^faces\s+11 aligned faces from 11 images$/m);
    expect(r.stdout).toMatch(/^errors\s+0$/m);
    expect(r.stdout).toMatch(/^ms\/image\s+decode [\d.]+, detect [\d.]+, align [\d.]+, encode [\d.]+, write [\d.]+$/m);
    expect(r.stderr).toMatch(/detect-align: 11\/11/);
  });
});
