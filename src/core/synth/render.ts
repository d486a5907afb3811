/**
 * Renders one synthetic face: an Identity seen under a Nuisance, at any square size. Each output
 * pixel is mapped back through the pose into the canonical 112x112 face frame and painted by
 * layering antialiased shapes back to front (background, hair mass, neck, ears, face with skin
 * texture, shading and marks, beard, fringe, brows, eyes, glasses, mouth); then lighting, white
 * balance and sensor noise. Pure TypeScript, a pure function of its inputs.
 */
import { invertAffine, similarityMatrix } from '../image/affine';
import { RgbImage, createRgbImage } from '../image/image';
import { Rng } from '../util/rng';
import { Identity, Rgb } from './identity';
import { Nuisance } from './nuisance';
import { capsuleDistance, coverage, ellipseDistance, smoothstep } from './shapes';

/** The canonical frame's side, and the point poses turn about. */
const FRAME = 112;
const POSE_CENTRE: [number, number] = [56, 62];

/** The colour being built for one pixel, with "paint over by this much" compositing. */
class Paint {
  r = 0;
  g = 0;
  b = 0;

  set(c: Rgb, scale = 1): void {
    this.r = c[0] * scale;
    this.g = c[1] * scale;
    this.b = c[2] * scale;
  }

  over(amount: number, c: Rgb, scale = 1): void {
    if (amount <= 0) return;
    this.r += (c[0] * scale - this.r) * amount;
    this.g += (c[1] * scale - this.g) * amount;
    this.b += (c[2] * scale - this.b) * amount;
  }

  overPaint(amount: number, p: Paint): void {
    this.r += (p.r - this.r) * amount;
    this.g += (p.g - this.g) * amount;
    this.b += (p.b - this.b) * amount;
  }
}

const SCLERA: Rgb = [236, 232, 226];
const DARK: Rgb = [30, 22, 22];
const MOUTH_INSIDE: Rgb = [55, 20, 25];
const BLUSH: Rgb = [220, 90, 90];

const SIDES = [-1, 1] as const;

/** Everything per-image about the features' placement, resolved once per image. */
interface Layout {
  /** Horizontal shift of the features (yaw). */
  shift: number;
  eyes: { x: number; y: number; rx: number; ry: number }[];
  smile: number;
  open: number;
  browRaise: number;
  noseX: number;
  hair: { cx: number; cy: number; rx: number; ry: number };
}

function layoutOf(id: Identity, n: Nuisance): Layout {
  const shift = 4 * n.yaw;
  const eyes = SIDES.map((s) => ({
    x: id.face.cx + s * id.eyes.halfSpacing + shift,
    y: id.eyes.y + s * id.eyes.tilt * id.eyes.halfSpacing * 0.3,
    rx: id.eyes.rx * (1 + 0.2 * n.yaw * s),
    ry: Math.max(0.35, id.eyes.ry * n.expression.eyeOpen),
  }));
  const f = id.face;
  return {
    shift,
    eyes,
    smile: id.mouth.curve + n.expression.smile,
    open: n.expression.mouthOpen,
    browRaise: n.expression.browRaise,
    noseX: f.cx + 1.2 * shift,
    hair: { cx: f.cx, cy: f.cy - 0.15 * f.ry, rx: f.rx + id.hair.volume, ry: 0.95 * f.ry + 0.7 * id.hair.volume },
  };
}

/** The face outline, narrowing towards the chin. */
function faceDistance(id: Identity, shift: number, x: number, y: number): number {
  const f = id.face;
  const below = Math.max(0, (y - f.cy) / f.ry);
  const rx = f.rx * (1 - f.chin * below * below);
  return ellipseDistance(x, y, f.cx + 0.35 * shift, f.cy, Math.max(rx, 1), f.ry);
}

/** Skin colour at a point of the face: tone, texture, blush, nose shading, marks. */
function skinAt(id: Identity, lay: Layout, x: number, y: number, aa: number, out: Paint): void {
  let light = 1;
  for (const w of id.texture) light += w.amplitude * Math.sin(w.fx * x + w.fy * y + w.phase);
  out.set(id.skin, light);
  for (const e of lay.eyes) {
    const d2 = ((x - e.x) ** 2 + (y - e.y - 15) ** 2) / 60;
    out.over(id.blush * 0.5 * Math.exp(-d2), BLUSH);
  }
  const noseX = lay.noseX;
  const { tipY, width, shade } = id.nose;
  const along = smoothstep((y - (id.eyes.y + 3)) / 6) * (1 - smoothstep((y - tipY - 1) / 2));
  out.over(shade * along * Math.exp(-(((x - noseX - 0.55 * width) / 1.6) ** 2)), DARK);
  for (const s of SIDES) out.over(0.75 * coverage(ellipseDistance(x, y, noseX + s * 0.45 * width, tipY, 1.6, 1.0), aa), id.skin, 0.4);
  out.over(0.35 * coverage(capsuleDistance(x, y, noseX - 0.5 * width, tipY + 1.6, noseX + 0.5 * width, tipY + 1.6, 0.35), aa), id.skin, 0.6);
  for (const m of id.marks) out.over(coverage(distance(x - m.x, y - m.y) - m.r, aa), id.skin, 1 - m.darkness);
  // The beard's upper edge curves up towards the ears (sideburns).
  if (id.beard > 0) out.over(id.beard * smoothstep((y - tipY - 5 + 0.006 * (x - noseX) ** 2) / 6), id.hair.color);
}

function browsAt(id: Identity, lay: Layout, x: number, y: number, aa: number, out: Paint): void {
  const b = id.brows;
  for (let i = 0; i < 2; i++) {
    const e = lay.eyes[i];
    const s = SIDES[i];
    const y0 = e.y - b.gap - lay.browRaise;
    // Two strokes: inner end -> arched middle -> outer end.
    const midX = e.x + s * 0.1 * b.length;
    const midY = y0 - b.arch;
    const d = Math.min(
      capsuleDistance(x, y, e.x - s * 0.4 * b.length, y0 + 0.5 * b.slant, midX, midY, b.thickness),
      capsuleDistance(x, y, midX, midY, e.x + s * 0.6 * b.length, y0 - 0.5 * b.slant, b.thickness * 0.8),
    );
    out.over(0.9 * coverage(d, aa), id.hair.color, 0.8);
  }
}

function eyesAt(id: Identity, lay: Layout, x: number, y: number, aa: number, out: Paint): void {
  for (const e of lay.eyes) {
    const d = ellipseDistance(x, y, e.x, e.y, e.rx, e.ry);
    if (d > 2) continue;
    const inside = coverage(d, aa);
    out.over(inside, SCLERA);
    const irisX = e.x + 1.2 * (lay.shift / 4);
    const r = id.eyes.irisR;
    out.over(Math.min(inside, coverage(distance(x - irisX, y - e.y) - r, aa)), id.eyes.iris);
    out.over(Math.min(inside, coverage(distance(x - irisX, y - e.y) - 0.45 * r, aa)), DARK);
    // The upper lid: a dark line along the top of the eye.
    const upper = y < e.y + 0.3 * e.ry ? 1 : 0;
    out.over(0.85 * upper * coverage(Math.abs(d) - 0.55, aa), DARK);
  }
}

function glassesAt(id: Identity, lay: Layout, x: number, y: number, aa: number, out: Paint): void {
  const g = id.glasses;
  if (g === null) return;
  const [l, r] = lay.eyes;
  let d = capsuleDistance(x, y, l.x + g.radius, l.y, r.x - g.radius, r.y, 0.6);
  for (const e of lay.eyes) d = Math.min(d, Math.abs(distance(x - e.x, y - e.y) - g.radius) - 0.7);
  out.over(coverage(d, aa), g.frame);
}

function mouthAt(id: Identity, lay: Layout, x: number, y: number, aa: number, out: Paint): void {
  const m = id.mouth;
  const t = (x - id.face.cx - lay.shift) / m.halfWidth;
  if (Math.abs(t) > 1.3) return;
  const across = Math.max(0, 1 - t * t);
  const centre = m.y - lay.smile * (t * t - 0.35);
  const gap = lay.open * across;
  const lip = m.lip * Math.sqrt(across) + 0.4;
  const sideways = coverage((Math.abs(t) - 1) * m.halfWidth, aa);
  out.over(sideways * coverage(Math.abs(y - centre) - gap - lip, aa), m.color);
  out.over(sideways * coverage(Math.abs(y - centre) - Math.max(gap, 0.35), aa), gap > 0 ? MOUTH_INSIDE : m.color, gap > 0 ? 1 : 0.55);
}

/** Paints the face at canonical point (x, y), over the background already in `out`. */
function paintFace(id: Identity, lay: Layout, x: number, y: number, aa: number, out: Paint, skin: Paint): void {
  const f = id.face;
  const hair = lay.hair;
  // Outside the head's bounding box (hair mass, ears, neck) only the background shows.
  const reach = Math.max(hair.rx, f.rx + 6 * id.ears.size) + Math.abs(lay.shift) + 2;
  if (Math.abs(x - f.cx) > reach || y < hair.cy - hair.ry - 2) return;
  const hairDistance = ellipseDistance(x, y, hair.cx, hair.cy, hair.rx, hair.ry);
  out.over(coverage(hairDistance, aa) * (1 - smoothstep((y - f.cy - id.hair.sides) / 4)), id.hair.color);
  out.over(coverage(Math.max(Math.abs(x - f.cx - 0.35 * lay.shift) - 0.5 * f.rx, f.cy + 8 - y), aa), id.skin, 0.8);
  for (const s of SIDES) {
    const earX = f.cx + 0.35 * lay.shift + s * f.rx * 0.97;
    out.over(coverage(ellipseDistance(x, y, earX, id.ears.y, 4 * id.ears.size, 8 * id.ears.size), aa), id.skin, 0.9);
  }
  const faceCover = coverage(faceDistance(id, lay.shift, x, y), aa);
  if (faceCover > 0) {
    skinAt(id, lay, x, y, aa, skin);
    out.overPaint(faceCover, skin);
  }
  const h = id.hair;
  const hairline = h.line + h.tilt * (x - f.cx) + h.wave.amplitude * Math.sin(h.wave.frequency * x + h.wave.phase);
  out.over(coverage(y - hairline, aa) * coverage(hairDistance, aa), h.color);
  if (faceCover > 0) {
    browsAt(id, lay, x, y, aa, out);
    eyesAt(id, lay, x, y, aa, out);
    mouthAt(id, lay, x, y, aa, out);
  }
  glassesAt(id, lay, x, y, aa, out);
}

/** Zero-mean, unit-variance noise: triangular (the sum of two uniforms), near enough to Gaussian for sensor noise and 3x cheaper than Box-Muller. */
function sensorNoise(rng: Rng): number {
  return (rng.uniform() + rng.uniform() - 1) * Math.SQRT2 * Math.sqrt(3);
}

/** Math.hypot for two values, without its variadic overhead. */
function distance(dx: number, dy: number): number {
  return Math.sqrt(dx * dx + dy * dy);
}

function toByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
}

export function renderFace(id: Identity, n: Nuisance, size: number, noise: Rng): RgbImage {
  const image = createRgbImage(size, size);
  const lay = layoutOf(id, n);
  // Pose: canonical face frame -> the output's canonical-scale frame, turning about POSE_CENTRE.
  const pose = similarityMatrix(n.scale, (-n.angle * Math.PI) / 180, 0, 0);
  const [cx, cy] = POSE_CENTRE;
  pose[0][2] = cx + n.shiftX - (pose[0][0] * cx + pose[0][1] * cy);
  pose[1][2] = cy + n.shiftY - (pose[1][0] * cx + pose[1][1] * cy);
  const [[a, b, c], [d, e, f]] = invertAffine(pose);
  const unit = FRAME / size;
  const aa = unit / n.scale;
  const lightX = Math.cos(n.light.direction) / cx;
  const lightY = Math.sin(n.light.direction) / cx;
  const paint = new Paint();
  const skin = new Paint();
  let o = 0;
  for (let py = 0; py < size; py++) {
    const bg = n.background;
    const t = py / Math.max(1, size - 1);
    const background: Rgb = [bg[0][0] + (bg[1][0] - bg[0][0]) * t, bg[0][1] + (bg[1][1] - bg[0][1]) * t, bg[0][2] + (bg[1][2] - bg[0][2]) * t];
    for (let px = 0; px < size; px++) {
      const u = (px + 0.5) * unit - 0.5;
      const v = (py + 0.5) * unit - 0.5;
      const x = a * u + b * v + c;
      const y = d * u + e * v + f;
      paint.set(background);
      paintFace(id, lay, x, y, aa, paint, skin);
      const light = n.light.ambient + n.light.strength * ((x - cx) * lightX + (y - cy) * lightY);
      image.data[o++] = toByte(paint.r * light * n.tint[0] + sensorNoise(noise) * n.noise);
      image.data[o++] = toByte(paint.g * light * n.tint[1] + sensorNoise(noise) * n.noise);
      image.data[o++] = toByte(paint.b * light * n.tint[2] + sensorNoise(noise) * n.noise);
    }
  }
  return image;
}
