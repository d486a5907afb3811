/**
 * The one interface every face detector implements (MTCNN built in, YuNet and others from ONNX
 * files), so that alignment, detect-align and evaluation never care which one found the face.
 */
import { Point } from '../image/affine';
import { RgbImage } from '../image/image';
import { Box, boxArea } from './boxes';

export interface DetectedFace {
  /** Inclusive pixel corners in the image that was searched (see boxes.ts). */
  box: Box;
  /** The detector's confidence, 0..1. */
  score: number;
  /** Five points in LANDMARK_NAMES order (align.ts): eyes, nose, mouth corners, as seen in the image. */
  landmarks: Point[];
}

export interface FaceDetector {
  /** Short name for manifests and reports, e.g. "mtcnn". */
  readonly name: string;
  /** Faces in the image, highest score first. */
  detect(image: RgbImage): Promise<DetectedFace[]>;
  release(): Promise<void>;
}

/** The face with the largest box; ties go to the higher score (faces arrive score-sorted). */
export function largestFace(faces: readonly DetectedFace[]): DetectedFace | undefined {
  let best: DetectedFace | undefined;
  for (const f of faces) if (best === undefined || boxArea(f.box) > boxArea(best.box)) best = f;
  return best;
}

/** Moves a face found in a padded copy back into the original image's coordinates. */
export function shiftFace(face: DetectedFace, dx: number, dy: number): DetectedFace {
  const { box } = face;
  return {
    box: { x1: box.x1 + dx, y1: box.y1 + dy, x2: box.x2 + dx, y2: box.y2 + dy },
    score: face.score,
    landmarks: face.landmarks.map(([x, y]): Point => [x + dx, y + dy]),
  };
}
