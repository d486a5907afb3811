import * as fs from 'node:fs';
import * as path from 'node:path';
import { imageFolderPairs } from '../../datasets/imageFolderPairs';
import { parseInsightfaceBin } from '../../datasets/insightfaceBin';
import { EngineOptions } from '../../engines/onnxruntime';
import { Rng } from '../../util/rng';
import { FACE_SCORE_THRESHOLD, faceScores } from './faceCheck';
import { FaceImage, decodeFace, loadFaceImages } from './faceImages';
import { QuantizeInputError } from './inspect';

/**
 * The image sets a quantization run uses: calibration images and held-out images (from one
 * folder, split by a seeded shuffle, or two folders), and an optional verification set (an
 * ImageFolder, one folder per identity, or an insightface .bin). Folders are checked for faces.
 */

export interface Rejected {
  path: string;
  score: number;
}

export interface CheckedFaces {
  images: FaceImage[];
  /** Images that did not look like face crops, left out. */
  rejected: Rejected[];
}

/** Shown in messages: the first few rejected images with their scores. */
function examples(rejected: readonly Rejected[]): string {
  const shown = rejected.slice(0, 3).map((r) => `${path.basename(r.path)} ${r.score.toFixed(2)}`);
  return shown.join(', ') + (rejected.length > 3 ? `, ... ${rejected.length - 3} more` : '');
}

/**
 * Loads a folder of face crops and drops images that do not look like faces. A folder where most
 * images are not faces is an input error (the wrong folder, or photos that need detect-align).
 */
export async function loadCheckedFaces(dir: string, size: number, engine: EngineOptions): Promise<CheckedFaces> {
  const all = await loadFaceImages(dir, size);
  const scores = await faceScores(
    all.map((f) => f.image),
    engine,
  );
  const images: FaceImage[] = [];
  const rejected: Rejected[] = [];
  all.forEach((f, i) => (scores[i] >= FACE_SCORE_THRESHOLD ? images.push(f) : rejected.push({ path: f.path, score: scores[i] })));
  if (images.length === 0 || rejected.length * 2 > all.length) {
    throw new QuantizeInputError(
      `${dir}: ${rejected.length} of ${all.length} images do not look like face crops (face score below ${FACE_SCORE_THRESHOLD}: ${examples(rejected)}); ` +
        'expected aligned face crops such as detect-align writes',
    );
  }
  return { images, rejected };
}

/** A seeded split: `count` images for calibration, the rest held out. */
export function splitCalibration(images: readonly FaceImage[], count: number, seed: number): { calibration: FaceImage[]; heldOut: FaceImage[] } {
  const shuffled = new Rng(seed, 'quantize-calibration').shuffled(images);
  return { calibration: shuffled.slice(0, count), heldOut: shuffled.slice(count) };
}

export interface VerificationSet {
  source: string;
  images: FaceImage[];
  pairs: { a: number; b: number; same: boolean }[];
  /** Fold of each pair, when the source defines them (else contiguous folds). */
  foldOf?: number[];
}

/** An insightface .bin (pairs of encoded aligned faces) or an ImageFolder of identities. */
export async function loadVerificationSet(spec: string, size: number, seed: number, engine: EngineOptions): Promise<VerificationSet> {
  if (spec.toLowerCase().endsWith('.bin')) {
    const bin = parseInsightfaceBin(fs.readFileSync(spec), spec);
    const images: FaceImage[] = [];
    for (const [i, bytes] of bin.images.entries()) images.push({ path: `${spec}#${i}`, identity: '', image: await decodeFace(bytes, size, `${spec} image ${i}`) });
    return { source: spec, images, pairs: bin.issame.map((same, i) => ({ a: 2 * i, b: 2 * i + 1, same })) };
  }
  const { images } = await loadCheckedFaces(spec, size, engine);
  let pairs;
  try {
    pairs = imageFolderPairs(images, { seed });
  } catch (e) {
    throw new QuantizeInputError(`${spec}: cannot make verification pairs (${(e as Error).message}); expected one folder per identity`);
  }
  const index = new Map(images.map((f, i) => [f.path, i]));
  return {
    source: spec,
    images,
    pairs: pairs.map((p) => ({ a: index.get(p.a) as number, b: index.get(p.b) as number, same: p.same })),
    foldOf: pairs.map((p) => p.fold ?? 0),
  };
}
