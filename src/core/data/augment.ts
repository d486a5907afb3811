/**
 * The seed's training augmentation (torchvision RandomHorizontalFlip(), RandomRotation(15),
 * ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2)), split into a draw and an apply:
 *
 * - `drawAugmentation` takes every random number a sample needs from its own Rng, always the same
 *   count in the same order whatever is switched off, so turning one part off leaves the others'
 *   draws as they were, and the draw can happen in the main thread while a worker applies it.
 * - `applyAugmentation` is a pure function of the image and the plan.
 *
 * Order as the seed's Compose: flip, then rotation, then the colour jitter. Rotation is about the
 * image centre ((w-1)/2, (h-1)/2), positive angles counter-clockwise (torchvision's convention),
 * bilinear with black corners (warpAffine; torchvision defaults to nearest, bilinear is smoother
 * for faces). The jitter's three steps run in a random order, as torchvision draws a permutation
 * per image; each factor is uniform in [max(0, 1 - x), 1 + x].
 */
import { similarityMatrix } from '../image/affine';
import { RgbImage } from '../image/image';
import { warpAffine } from '../image/warp';
import { Rng } from '../util/rng';
import { JITTER_KINDS, JitterKind, adjustColor } from './colorJitter';

export interface AugmentSettings {
  flip: boolean;
  /** Maximum absolute rotation; 0 = off. */
  rotation_degrees: number;
  /** ColorJitter strengths; 0 = off. */
  brightness: number;
  contrast: number;
  saturation: number;
}

/** Everything random about one sample's augmentation. */
export interface AugmentPlan {
  flip: boolean;
  /** Degrees, counter-clockwise. */
  angle: number;
  /** The jitter steps in the order they are applied, each with its factor (1 = unchanged). */
  jitter: { kind: JitterKind; factor: number }[];
}

export const NO_AUGMENTATION: AugmentSettings = { flip: false, rotation_degrees: 0, brightness: 0, contrast: 0, saturation: 0 };

/** Uniform in [max(0, 1 - strength), 1 + strength] from one uniform draw u; exactly 1 when off. */
function jitterFactor(strength: number, u: number): number {
  if (strength === 0) return 1;
  const lo = Math.max(0, 1 - strength);
  return lo + (1 + strength - lo) * u;
}

export function drawAugmentation(rng: Rng, settings: AugmentSettings): AugmentPlan {
  const flipDraw = rng.uniform();
  const angleDraw = rng.uniform();
  const order = rng.shuffled(JITTER_KINDS);
  const factorDraws: Record<JitterKind, number> = { brightness: rng.uniform(), contrast: rng.uniform(), saturation: rng.uniform() };
  return {
    flip: settings.flip && flipDraw < 0.5,
    angle: settings.rotation_degrees === 0 ? 0 : (2 * angleDraw - 1) * settings.rotation_degrees,
    jitter: order.map((kind) => ({ kind, factor: jitterFactor(settings[kind], factorDraws[kind]) })),
  };
}

export function flipHorizontal(img: RgbImage): RgbImage {
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const from = row + (width - 1 - x) * 3;
      const to = row + x * 3;
      out[to] = data[from];
      out[to + 1] = data[from + 1];
      out[to + 2] = data[from + 2];
    }
  }
  return { width, height, data: out };
}

/** Rotates about the image centre by `degrees` counter-clockwise, same size, black where nothing maps. */
export function rotate(img: RgbImage, degrees: number): RgbImage {
  const cx = (img.width - 1) / 2;
  const cy = (img.height - 1) / 2;
  // similarityMatrix turns clockwise on screen for positive angles (y points down): negate.
  const m = similarityMatrix(1, (-degrees * Math.PI) / 180, 0, 0);
  m[0][2] = cx - (m[0][0] * cx + m[0][1] * cy);
  m[1][2] = cy - (m[1][0] * cx + m[1][1] * cy);
  return warpAffine(img, m, img.width, img.height);
}

export function applyAugmentation(img: RgbImage, plan: AugmentPlan): RgbImage {
  let out = plan.flip ? flipHorizontal(img) : img;
  if (plan.angle !== 0) out = rotate(out, plan.angle);
  for (const step of plan.jitter) out = adjustColor(out, step.kind, step.factor);
  return out;
}
