/**
 * What makes a synthetic person: face shape, colouring, and the geometry of eyes, brows, nose and
 * mouth, in the canonical 112x112 ArcFace frame (eyes near y 51.6, x 38.3 and 73.5; nose tip near
 * y 71.7; mouth near y 92.3), so rendered faces look like aligned crops. Every parameter is
 * continuous or drawn from overlapping palettes, and the per-image nuisance (lighting, tint,
 * pose) shifts colours more than neighbouring identities differ, so telling people apart takes
 * the combination of cues, not one pixel statistic.
 */
import { Rng } from '../util/rng';

export type Rgb = [number, number, number];

export interface Identity {
  face: { cx: number; cy: number; rx: number; ry: number; /** Narrowing towards the chin, 0..1. */ chin: number };
  skin: Rgb;
  /** Cheek redness, 0..1. */
  blush: number;
  /** Low-frequency skin pattern: a sum of plane waves, each a relative brightness change. */
  texture: { fx: number; fy: number; phase: number; amplitude: number }[];
  /** Moles and freckles: small dark spots, position in face units. */
  marks: { x: number; y: number; r: number; darkness: number }[];
  hair: {
    color: Rgb;
    /** Hairline height at the centre, and its tilt (side parting) and waviness. */
    line: number;
    tilt: number;
    wave: { amplitude: number; frequency: number; phase: number };
    /** Extra size of the hair mass around the head, and how far down the sides it falls. */
    volume: number;
    sides: number;
  };
  /** 0 for most people; otherwise how dark the beard region is. */
  beard: number;
  ears: { y: number; size: number };
  eyes: { y: number; halfSpacing: number; rx: number; ry: number; irisR: number; iris: Rgb; tilt: number };
  brows: { gap: number; thickness: number; length: number; slant: number; arch: number };
  nose: { tipY: number; width: number; shade: number };
  mouth: { y: number; halfWidth: number; lip: number; color: Rgb; curve: number };
  glasses: { frame: Rgb; radius: number } | null;
}

const HAIR: Rgb[] = [
  [22, 18, 17],
  [55, 38, 28],
  [100, 68, 42],
  [150, 110, 70],
  [205, 170, 110],
  [140, 62, 30],
  [165, 162, 158],
];
const IRIS: Rgb[] = [
  [70, 45, 25],
  [40, 30, 25],
  [75, 115, 165],
  [85, 115, 75],
  [115, 125, 135],
];
const SKIN_LIGHT: Rgb = [242, 208, 182];
const SKIN_DARK: Rgb = [92, 62, 46];

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function jitterColor(rng: Rng, c: Rgb, amount: number): Rgb {
  return [c[0] + rng.range(-amount, amount), c[1] + rng.range(-amount, amount), c[2] + rng.range(-amount, amount)];
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

export function drawIdentity(rng: Rng): Identity {
  const face = { cx: 56 + rng.range(-1.5, 1.5), cy: 64 + rng.range(-2, 2), rx: rng.range(30, 39), ry: rng.range(41, 50), chin: rng.range(0.1, 0.45) };
  const skin = jitterColor(rng, mix(SKIN_LIGHT, SKIN_DARK, rng.uniform() ** 1.3), 10);
  const eyeY = 51.6 + rng.range(-3, 3);
  return {
    face,
    skin,
    blush: rng.range(0, 0.6),
    texture: Array.from({ length: 3 }, () => ({
      fx: rng.range(-0.35, 0.35),
      fy: rng.range(-0.35, 0.35),
      phase: rng.range(0, 2 * Math.PI),
      amplitude: rng.range(0, 0.05),
    })),
    marks: Array.from({ length: rng.int(5) }, () => ({
      x: face.cx + rng.range(-0.7, 0.7) * face.rx,
      y: face.cy + rng.range(-0.4, 0.7) * face.ry,
      r: rng.range(0.7, 1.8),
      darkness: rng.range(0.25, 0.6),
    })),
    hair: {
      color: jitterColor(rng, pick(rng, HAIR), 12),
      line: face.cy - face.ry + rng.range(10, 26),
      tilt: rng.range(-0.25, 0.25),
      wave: { amplitude: rng.range(0, 3.5), frequency: rng.range(0.15, 0.5), phase: rng.range(0, 2 * Math.PI) },
      volume: rng.range(1, 11),
      sides: rng.range(-10, 30),
    },
    beard: rng.uniform() < 0.25 ? rng.range(0.3, 0.85) : 0,
    ears: { y: eyeY + rng.range(4, 12), size: rng.range(0.75, 1.25) },
    eyes: {
      y: eyeY,
      halfSpacing: rng.range(14.5, 21),
      rx: rng.range(5, 8),
      ry: rng.range(2.6, 4.2),
      irisR: rng.range(2.1, 3.2),
      iris: jitterColor(rng, pick(rng, IRIS), 10),
      tilt: rng.range(-0.15, 0.15),
    },
    brows: { gap: rng.range(6, 11), thickness: rng.range(0.9, 2.2), length: rng.range(11, 18), slant: rng.range(-2.5, 2.5), arch: rng.range(0, 3) },
    nose: { tipY: rng.range(67, 77), width: rng.range(4.5, 9.5), shade: rng.range(0.05, 0.25) },
    mouth: {
      y: rng.range(88, 96),
      halfWidth: rng.range(8, 15),
      lip: rng.range(1.2, 3.4),
      color: mix(skin, jitterColor(rng, [170, 70, 70], 20), rng.range(0.3, 0.7)),
      curve: rng.range(-1.5, 2.5),
    },
    glasses: rng.uniform() < 0.15 ? { frame: jitterColor(rng, pick(rng, [[25, 25, 25], [120, 80, 40], [150, 150, 160]] as Rgb[]), 10), radius: rng.range(8, 11) } : null,
  };
}
