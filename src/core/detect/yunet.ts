/**
 * YuNet (libfacedetection, Wu et al. 2023) from an ONNX file the user supplies, e.g.
 * yunet_n_dynamic.onnx: input [1, 3, H, W] BGR 0..255 (H, W multiples of 32), and per stride s in
 * 8, 16, 32 the outputs cls_s, obj_s [1, N, 1], bbox_s [1, N, 4] and kps_s [1, N, 10] over the
 * (H/s) x (W/s) grid, row-major. Decoding (as OpenCV's FaceDetectorYN does): score =
 * sqrt(cls * obj); box centre = (reg + cell) * s, size = exp(reg) * s; landmark = (reg + cell) * s.
 * Its landmark order is ours: the eye on the image's left first, then nose, then mouth corners.
 */
import * as ort from 'onnxruntime-node';
import { DEFAULT_ENGINE, EngineError, EngineOptions, createSession } from '../engines/onnxruntime';
import { Point } from '../image/affine';
import { RgbImage } from '../image/image';
import { nms } from './boxes';
import { DetectedFace, FaceDetector } from './detector';
import { resizeFast } from './resample';

export interface YunetOptions {
  /** Smallest face side looked for, in pixels: larger values let the image be searched at a smaller size. */
  minFaceSize: number;
  /** Faces scoring below this are dropped (0..1). */
  scoreThreshold: number;
  /** NMS overlap (IoU) above which the lower-scoring face is dropped. */
  nmsThreshold: number;
}

export const DEFAULT_YUNET: Readonly<YunetOptions> = { minFaceSize: 20, scoreThreshold: 0.7, nmsThreshold: 0.3 };

const STRIDES = [8, 16, 32] as const;
/** Input sides must be multiples of the largest stride. */
const ALIGN = 32;
/** YuNet finds faces down to about this side; larger minimum faces let the image shrink by SMALLEST_FACE / minFaceSize. */
const SMALLEST_FACE = 20;

export const YUNET_OUTPUTS = STRIDES.flatMap((s) => [`cls_${s}`, `obj_${s}`, `bbox_${s}`, `kps_${s}`]);

/** How much the image is shrunk before the search (1 = full size). */
export function yunetScale(minFaceSize: number): number {
  if (!(minFaceSize > 0)) throw new Error(`YuNet min face size ${minFaceSize}: expected a positive number of pixels`);
  return Math.min(1, SMALLEST_FACE / minFaceSize);
}

/** [1, 3, H, W] BGR 0..255 with H, W rounded up to multiples of 32; the extra rows and columns are black. */
export function yunetInput(img: RgbImage): { data: Float32Array; width: number; height: number } {
  const width = Math.ceil(img.width / ALIGN) * ALIGN;
  const height = Math.ceil(img.height / ALIGN) * ALIGN;
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const p = (y * img.width + x) * 3;
      const o = y * width + x;
      data[o] = img.data[p + 2];
      data[plane + o] = img.data[p + 1];
      data[2 * plane + o] = img.data[p];
    }
  }
  return { data, width, height };
}

/** The raw outputs of one stride. */
export interface YunetMaps {
  stride: number;
  cls: ArrayLike<number>;
  obj: ArrayLike<number>;
  bbox: ArrayLike<number>;
  kps: ArrayLike<number>;
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

/** Faces over `threshold` in one stride's maps, in input-tensor pixels; `columns` = input width / stride. */
export function decodeYunet(maps: YunetMaps, columns: number, threshold: number): DetectedFace[] {
  const { stride, cls, obj, bbox, kps } = maps;
  const faces: DetectedFace[] = [];
  for (let i = 0; i < cls.length; i++) {
    const score = Math.sqrt(clamp01(cls[i]) * clamp01(obj[i]));
    if (!(score >= threshold)) continue;
    const row = Math.floor(i / columns);
    const col = i % columns;
    const cx = (bbox[i * 4] + col) * stride;
    const cy = (bbox[i * 4 + 1] + row) * stride;
    const w = Math.exp(bbox[i * 4 + 2]) * stride;
    const h = Math.exp(bbox[i * 4 + 3]) * stride;
    const x1 = cx - w / 2;
    const y1 = cy - h / 2;
    const landmarks = [0, 1, 2, 3, 4].map((k): Point => [(kps[i * 10 + 2 * k] + col) * stride, (kps[i * 10 + 2 * k + 1] + row) * stride]);
    // Inclusive corners (boxes.ts): a box w pixels wide ends at x1 + w - 1.
    faces.push({ box: { x1, y1, x2: x1 + w - 1, y2: y1 + h - 1 }, score, landmarks });
  }
  return faces;
}

/** A face found at `scale` mapped back to the full-size image. */
function unscale(face: DetectedFace, scale: number): DetectedFace {
  if (scale === 1) return face;
  const s = 1 / scale;
  const { box } = face;
  // Box edges scale as edges (x1 and x2 + 1), landmarks as pixel centres.
  const centre = (v: number): number => (v + 0.5) * s - 0.5;
  return {
    box: { x1: box.x1 * s, y1: box.y1 * s, x2: (box.x2 + 1) * s - 1, y2: (box.y2 + 1) * s - 1 },
    score: face.score,
    landmarks: face.landmarks.map(([x, y]): Point => [centre(x), centre(y)]),
  };
}

export class YunetDetector implements FaceDetector {
  readonly name = 'yunet';

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly options: YunetOptions,
  ) {}

  /** `model` is the ONNX file's path or bytes; `source` names it in messages. */
  static async create(model: Uint8Array | string, options: YunetOptions = DEFAULT_YUNET, engine: EngineOptions = DEFAULT_ENGINE, source = typeof model === 'string' ? model : 'YuNet model'): Promise<YunetDetector> {
    const session = await createSession(model, engine, source);
    const missing = YUNET_OUTPUTS.filter((n) => !session.outputNames.includes(n));
    if (session.inputNames.length !== 1 || missing.length > 0) {
      const found = `${session.inputNames.length} inputs, outputs ${session.outputNames.join(', ')}`;
      await session.release();
      throw new EngineError(`${source}: not a YuNet model (expected one input and outputs cls/obj/bbox/kps at strides 8, 16, 32; found ${found})`);
    }
    return new YunetDetector(session, options);
  }

  async detect(img: RgbImage): Promise<DetectedFace[]> {
    const scale = yunetScale(this.options.minFaceSize);
    const searched = scale === 1 ? img : await resizeFast(img, Math.max(1, Math.round(img.width * scale)), Math.max(1, Math.round(img.height * scale)));
    // The exact scale per axis after rounding; the mean is what unscale needs (they differ by < 1 px).
    const actual = (searched.width / img.width + searched.height / img.height) / 2;
    const input = yunetInput(searched);
    const result = await this.session.run({ [this.session.inputNames[0]]: new ort.Tensor('float32', input.data, [1, 3, input.height, input.width]) });
    const faces = STRIDES.flatMap((stride) =>
      decodeYunet(
        {
          stride,
          cls: result[`cls_${stride}`].data as Float32Array,
          obj: result[`obj_${stride}`].data as Float32Array,
          bbox: result[`bbox_${stride}`].data as Float32Array,
          kps: result[`kps_${stride}`].data as Float32Array,
        },
        input.width / stride,
        this.options.scoreThreshold,
      ),
    );
    const kept = nms(
      faces.map((f) => f.box),
      faces.map((f) => f.score),
      this.options.nmsThreshold,
    );
    return kept.map((i) => unscale(faces[i], actual));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
