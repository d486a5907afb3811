/**
 * 5-point face alignment to the ArcFace template (insightface's `arcface_dst` / `norm_crop`):
 * a least-squares similarity from the detected landmarks to the template, then a bilinear
 * affine warp with a black border.
 */
import { AffineMatrix, Point, PointLike } from '../image/affine';
import { RgbImage } from '../image/image';
import { warpAffine } from '../image/warp';
import { estimateSimilarity } from './similarity';
import { ARCFACE_TEMPLATE_112 } from './template';

/** Landmark order everywhere in the project: left eye, right eye, nose, left mouth corner, right mouth corner (as seen in the image). */
export const LANDMARK_NAMES = ['leftEye', 'rightEye', 'nose', 'leftMouth', 'rightMouth'] as const;

/**
 * The template (ARCFACE_TEMPLATE_112 from ./template) for a size x size crop, by insightface's
 * estimate_norm rule: sizes divisible by 112 scale it by size/112; otherwise sizes divisible by
 * 128 scale it by size/128 and shift x by 8 * size/128 (a 128 crop is the 112 one with 8 px more
 * on each side horizontally and the extra 16 px of height at the bottom). Other sizes are
 * refused, as insightface does.
 */
export function arcfaceTemplate(size: number): Point[] {
  let ratio: number;
  let shiftX: number;
  if (Number.isInteger(size) && size > 0 && size % 112 === 0) {
    ratio = size / 112;
    shiftX = 0;
  } else if (Number.isInteger(size) && size > 0 && size % 128 === 0) {
    ratio = size / 128;
    shiftX = 8 * ratio;
  } else {
    throw new Error(`alignment size ${size}: expected a multiple of 112 or 128 (insightface's estimate_norm rule)`);
  }
  return ARCFACE_TEMPLATE_112.map(([x, y]): Point => [x * ratio + shiftX, y * ratio]);
}

/** The matrix that maps image coordinates to the aligned size x size crop (insightface's estimate_norm). */
export function estimateAlignment(landmarks: readonly PointLike[], size = 112): AffineMatrix {
  if (landmarks.length !== 5) throw new Error(`alignment: ${landmarks.length} landmarks, expected 5 (eyes, nose, mouth corners)`);
  return estimateSimilarity(landmarks, arcfaceTemplate(size));
}

/** The aligned size x size face crop (insightface's norm_crop). */
export function alignFace(img: RgbImage, landmarks: readonly PointLike[], size = 112): RgbImage {
  return warpAffine(img, estimateAlignment(landmarks, size), size, size);
}
