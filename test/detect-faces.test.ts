import * as fs from 'fs';
import * as path from 'path';
import { arcfaceTemplate, estimateAlignment } from '../src/core/detect/align';
import { boxArea, iou } from '../src/core/detect/boxes';
import { DetectedFace, FaceDetector, largestFace } from '../src/core/detect/detector';
import { DEFAULT_MTCNN, MtcnnDetector, pretrainedMtcnnModels } from '../src/core/detect/mtcnn';
import { DEFAULT_YUNET, YunetDetector } from '../src/core/detect/yunet';
import { EngineOptions } from '../src/core/engines/onnxruntime';
import { applyAffine, invertAffine, similarityMatrix } from '../src/core/image/affine';
import { RgbImage, createRgbImage, decodeImage } from '../src/core/image/image';
import { padImage, resizeBilinear } from '../src/core/image/ops';
import { warpAffine } from '../src/core/image/warp';

/**
 * The detectors on real faces from ../shared/data/faces (skipped when absent): detection rate on
 * padded tight crops, landmarks that follow the face, several faces in one picture. The
 * yalefaces detection rate and the end-to-end AUC are in detect-align.test.ts (through the CLI).
 */

const FACES = path.resolve(__dirname, '..', '..', 'shared', 'data', 'faces');
const YUNET = path.resolve(__dirname, '..', '..', 'shared', 'models', 'yunet_n_dynamic.onnx');
const haveFaces = fs.existsSync(FACES);
const haveYunet = fs.existsSync(YUNET);
if (!haveFaces) console.warn(`detect-faces.test: skipping, ${FACES} is absent`);
else if (!haveYunet) console.warn(`detect-faces.test: skipping the YuNet tests, ${YUNET} is absent`);
const describeWithFaces = haveFaces ? describe : describe.skip;

const ENGINE: EngineOptions = { provider: 'cpu', threads: 1, graphOptimization: 'all' };
const report: string[] = [];
afterAll(() => {
  if (report.length > 0) process.stdout.write(`${report.join('\n')}\n`);
});

function imagesIn(set: string): string[] {
  const root = path.join(FACES, set);
  return fs
    .readdirSync(root)
    .filter((p) => fs.statSync(path.join(root, p)).isDirectory())
    .sort()
    .flatMap((p) =>
      fs
        .readdirSync(path.join(root, p))
        .filter((f) => /\.(png|jpg|pgm)$/i.test(f))
        .sort()
        .map((f) => path.join(root, p, f)),
    );
}

/** Distance of each aligned landmark from its template point, for the best face. */
function templateResiduals(face: DetectedFace): number[] {
  const m = estimateAlignment(face.landmarks);
  const template = arcfaceTemplate(112);
  return face.landmarks.map((p, k) => {
    const [x, y] = applyAffine(m, p);
    return Math.hypot(x - template[k][0], y - template[k][1]);
  });
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Detection rate over a set, each image padded by `pad`, plus the median eye and all-point residuals. */
async function rateOn(detector: FaceDetector, files: string[], pad: number): Promise<{ found: number; eyes: number; all: number }> {
  let found = 0;
  const eyes: number[] = [];
  const all: number[] = [];
  for (const file of files) {
    const { image } = await decodeImage(file);
    const faces = await detector.detect(pad > 0 ? padImage(image, pad).image : image);
    if (faces.length === 0) continue;
    found++;
    const r = templateResiduals(faces[0]);
    eyes.push(r[0], r[1]);
    all.push(...r);
  }
  return { found, eyes: median(eyes), all: median(all) };
}

/** Pastes `face` into `canvas` at (left, top). */
function paste(canvas: RgbImage, face: RgbImage, left: number, top: number): void {
  for (let y = 0; y < face.height; y++) canvas.data.set(face.data.subarray(y * face.width * 3, (y + 1) * face.width * 3), ((top + y) * canvas.width + left) * 3);
}

describeWithFaces('MTCNN on real faces', () => {
  let mtcnn: MtcnnDetector;
  beforeAll(async () => {
    mtcnn = await MtcnnDetector.create(pretrainedMtcnnModels(), DEFAULT_MTCNN, ENGINE);
  });
  afterAll(() => mtcnn.release());

  test('tight crops need a border: with 50% padding a face is found in nearly every faceapi_bbt and dlib_johns image', async () => {
    const files = [...imagesIn('faceapi_bbt'), ...imagesIn('dlib_johns')];
    const padded = await rateOn(mtcnn, files, 0.5);
    report.push(`MTCNN tight crops (faceapi_bbt + dlib_johns, 50% pad): ${padded.found}/${files.length}; median residual eyes ${padded.eyes.toFixed(2)} px, all points ${padded.all.toFixed(2)} px`);
    expect(padded.found).toBeGreaterThanOrEqual(Math.floor(files.length * 0.97));
    // Eyes land within a few pixels of the template's eye points after alignment.
    expect(padded.eyes).toBeLessThan(3);
    expect(padded.all).toBeLessThan(5);
  });

  test('landmarks follow the face: detected on a rotated, scaled copy, they map back onto the original landmarks', async () => {
    const { image } = await decodeImage(path.join(FACES, 'yalefaces', 'subject02', 'normal.png'));
    const [original] = await mtcnn.detect(image);
    // 12 degrees, 0.85x, about the image centre, onto a larger canvas.
    const m = similarityMatrix(0.85, (12 * Math.PI) / 180, 0, 0);
    const [cx, cy] = applyAffine(m, [image.width / 2, image.height / 2]);
    m[0][2] = 200 - cx;
    m[1][2] = 160 - cy;
    const warped = warpAffine(image, m, 400, 320);
    const faces = await mtcnn.detect(warped);
    expect(faces).toHaveLength(1);
    const back = invertAffine(m);
    const errors = faces[0].landmarks.map((p, k) => {
      const [x, y] = applyAffine(back, p);
      return Math.hypot(x - original.landmarks[k][0], y - original.landmarks[k][1]);
    });
    report.push(`MTCNN landmarks on a 12 deg / 0.85x copy, mapped back: ${errors.map((e) => e.toFixed(2)).join(', ')} px`);
    // Eyes within 3 px; all five within 6% of the inter-ocular distance on average (the usual NME).
    const interOcular = Math.hypot(original.landmarks[1][0] - original.landmarks[0][0], original.landmarks[1][1] - original.landmarks[0][1]);
    expect(Math.max(errors[0], errors[1])).toBeLessThan(3);
    expect(errors.reduce((a, b) => a + b) / 5 / interOcular).toBeLessThan(0.06);
  });

  test('three faces in one picture: three detections, no duplicates, the largest picked by --largest', async () => {
    const canvas = createRgbImage(900, 500);
    canvas.data.fill(90);
    const sizes: [string, number, number, number][] = [
      ['subject03/normal.png', 0.6, 20, 40],
      ['subject05/happy.png', 1.3, 300, 60],
      ['subject09/glasses.png', 0.9, 640, 200],
    ];
    for (const [file, scale, left, top] of sizes) {
      const { image } = await decodeImage(path.join(FACES, 'yalefaces', file));
      paste(canvas, resizeBilinear(image, Math.round(image.width * scale), Math.round(image.height * scale)), left, top);
    }
    const faces = await mtcnn.detect(canvas);
    expect(faces).toHaveLength(3);
    const byX = [...faces].sort((a, b) => a.box.x1 - b.box.x1);
    sizes.forEach(([, scale, left, top], i) => {
      // Each box's centre lies inside its pasted picture.
      const { x1, x2, y1, y2 } = byX[i].box;
      expect((x1 + x2) / 2).toBeGreaterThan(left);
      expect((x1 + x2) / 2).toBeLessThan(left + 320 * scale);
      expect((y1 + y2) / 2).toBeGreaterThan(top);
      expect((y1 + y2) / 2).toBeLessThan(top + 243 * scale);
    });
    expect(largestFace(faces)).toBe(byX[1]);
    expect(boxArea(byX[1].box)).toBeGreaterThan(boxArea(byX[2].box));
  });

  test('a min face size larger than the faces finds nothing; a blank image finds nothing', async () => {
    const { image } = await decodeImage(path.join(FACES, 'yalefaces', 'subject01', 'normal.png'));
    const strict = await MtcnnDetector.create(pretrainedMtcnnModels(), { ...DEFAULT_MTCNN, minFaceSize: 300 }, ENGINE);
    expect(await strict.detect(image)).toEqual([]);
    await strict.release();
    const blank = createRgbImage(320, 240);
    blank.data.fill(128);
    expect(await mtcnn.detect(blank)).toEqual([]);
  });
});

(haveFaces && haveYunet ? describe : describe.skip)('YuNet on real faces', () => {
  let yunet: YunetDetector;
  beforeAll(async () => {
    yunet = await YunetDetector.create(YUNET, DEFAULT_YUNET, ENGINE);
  });
  afterAll(() => yunet.release());

  test('finds the face in every yalefaces image, landmarks in the same order as MTCNN', async () => {
    const files = imagesIn('yalefaces');
    const r = await rateOn(yunet, files, 0);
    report.push(`YuNet yalefaces: ${r.found}/${files.length}; median residual eyes ${r.eyes.toFixed(2)} px, all points ${r.all.toFixed(2)} px`);
    expect(r.found).toBeGreaterThanOrEqual(153);
    expect(r.eyes).toBeLessThan(3);
  });

  test('padded tight crops, and a larger min face searches a smaller image with nearly the same result', async () => {
    const files = imagesIn('faceapi_bbt');
    const r = await rateOn(yunet, files, 0.5);
    report.push(`YuNet faceapi_bbt (50% pad): ${r.found}/${files.length}; median residual eyes ${r.eyes.toFixed(2)} px`);
    expect(r.found).toBeGreaterThanOrEqual(files.length - 1);
    const { image } = await decodeImage(path.join(FACES, 'yalefaces', 'subject04', 'normal.png'));
    const [full] = await yunet.detect(image);
    const coarse = await YunetDetector.create(YUNET, { ...DEFAULT_YUNET, minFaceSize: 60 }, ENGINE);
    const [small] = await coarse.detect(image);
    await coarse.release();
    // Searched at 1/3 size: the same box, and eyes within 10% of the inter-ocular distance.
    expect(iou(small.box, full.box)).toBeGreaterThan(0.8);
    const interOcular = Math.hypot(full.landmarks[1][0] - full.landmarks[0][0], full.landmarks[1][1] - full.landmarks[0][1]);
    for (const k of [0, 1]) expect(Math.hypot(small.landmarks[k][0] - full.landmarks[k][0], small.landmarks[k][1] - full.landmarks[k][1])).toBeLessThan(0.1 * interOcular);
  });

  test('a file that is not YuNet is refused with one clear line', async () => {
    const other = path.resolve(__dirname, '..', '..', 'shared', 'models', 'mobilefacenet-paddlex-128d.onnx');
    await expect(YunetDetector.create(other, DEFAULT_YUNET, ENGINE)).rejects.toThrow(/not a YuNet model \(expected one input and outputs cls\/obj\/bbox\/kps at strides 8, 16, 32; found 1 inputs, outputs reshape2_0.tmp_0\)/);
  });
});
