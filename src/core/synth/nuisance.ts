/**
 * What changes between photos of the same synthetic person: pose (in-plane rotation, scale,
 * shift, and a small yaw that slides the features sideways), expression, lighting, white
 * balance, background and sensor noise.
 */
import { Rng } from '../util/rng';
import { Rgb } from './identity';

export interface Nuisance {
  /** Degrees about the face centre, positive counter-clockwise. */
  angle: number;
  scale: number;
  shiftX: number;
  shiftY: number;
  /** -1..1: features slide by up to 4 units towards one side, the far eye narrows. */
  yaw: number;
  expression: { smile: number; mouthOpen: number; eyeOpen: number; browRaise: number };
  /** Brightness = ambient + strength * (position along `direction`), the light falling across the face. */
  light: { ambient: number; strength: number; direction: number };
  /** White-balance multipliers per channel. */
  tint: Rgb;
  /** Background colour at the top and the bottom of the image. */
  background: [Rgb, Rgb];
  /** Standard deviation of the added sensor noise, in 0..255 units. */
  noise: number;
}

function clampedNormal(rng: Rng, sd: number, limit: number): number {
  return Math.max(-limit, Math.min(limit, rng.normal() * sd));
}

function randomColor(rng: Rng): Rgb {
  return [rng.range(20, 235), rng.range(20, 235), rng.range(20, 235)];
}

export function drawNuisance(rng: Rng): Nuisance {
  const top = randomColor(rng);
  const bottom: Rgb = [top[0] * rng.range(0.5, 1.1), top[1] * rng.range(0.5, 1.1), top[2] * rng.range(0.5, 1.1)];
  return {
    angle: clampedNormal(rng, 5, 12),
    scale: 1 + clampedNormal(rng, 0.05, 0.12),
    shiftX: clampedNormal(rng, 2.5, 6),
    shiftY: clampedNormal(rng, 2.5, 6),
    yaw: clampedNormal(rng, 0.35, 1),
    expression: { smile: clampedNormal(rng, 2, 4), mouthOpen: rng.uniform() < 0.3 ? rng.range(0.5, 3) : 0, eyeOpen: rng.uniform() < 0.1 ? rng.range(0.1, 0.5) : rng.range(0.75, 1.15), browRaise: clampedNormal(rng, 1.2, 3) },
    light: { ambient: rng.range(0.75, 1.15), strength: rng.range(0, 0.35), direction: rng.range(0, 2 * Math.PI) },
    tint: [rng.range(0.9, 1.1), rng.range(0.93, 1.07), rng.range(0.88, 1.12)],
    background: [top, bottom],
    noise: rng.range(1.5, 7),
  };
}
