/**
 * Detection boxes in MTCNN's convention (Zhang et al. 2016, and the facenet port of it):
 * corners (x1, y1) and (x2, y2) are inclusive pixel coordinates, so a box is x2 - x1 + 1 pixels
 * wide. Areas, overlaps and box regression use that +1; toSquare keeps MTCNN's `rerec`, which
 * measures sides as x2 - x1 (its centre is the same either way).
 */

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** 'union': intersection over union. 'min': intersection over the smaller area (MTCNN's O-Net step). */
export type OverlapMode = 'union' | 'min';

/** [dx1, dy1, dx2, dy2]: corner offsets in units of the box's width and height. */
export type BoxRegression = readonly [number, number, number, number];

export function boxWidth(box: Box): number {
  return box.x2 - box.x1 + 1;
}

export function boxHeight(box: Box): number {
  return box.y2 - box.y1 + 1;
}

export function boxArea(box: Box): number {
  return Math.max(0, boxWidth(box)) * Math.max(0, boxHeight(box));
}

/** Overlap of two boxes; 0 when either is empty. */
export function iou(a: Box, b: Box, mode: OverlapMode = 'union'): number {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1) + 1);
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1) + 1);
  const intersection = w * h;
  const areaA = boxArea(a);
  const areaB = boxArea(b);
  const denominator = mode === 'min' ? Math.min(areaA, areaB) : areaA + areaB - intersection;
  return denominator > 0 ? intersection / denominator : 0;
}

/**
 * Greedy non-maximum suppression: walk boxes by descending score (ties by index), keep one,
 * drop every later box whose overlap with it exceeds `threshold`. Returns the kept indices in
 * descending score order.
 */
export function nms(boxes: readonly Box[], scores: ArrayLike<number>, threshold: number, mode: OverlapMode = 'union'): number[] {
  if (boxes.length !== scores.length) throw new Error(`nms: ${boxes.length} boxes but ${scores.length} scores, expected equal counts`);
  for (let i = 0; i < scores.length; i++) if (Number.isNaN(scores[i])) throw new Error(`nms: score ${i} is NaN, expected numbers`);
  const order = Array.from(boxes.keys()).sort((i, j) => scores[j] - scores[i] || i - j);
  const suppressed = new Uint8Array(boxes.length);
  const kept: number[] = [];
  for (let a = 0; a < order.length; a++) {
    const i = order[a];
    if (suppressed[i]) continue;
    kept.push(i);
    for (let b = a + 1; b < order.length; b++) {
      const j = order[b];
      if (!suppressed[j] && iou(boxes[i], boxes[j], mode) > threshold) suppressed[j] = 1;
    }
  }
  return kept;
}

/** MTCNN's bounding-box regression (`bbreg`): each corner moves by its offset times the box's (inclusive) width or height. */
export function applyRegression(box: Box, reg: BoxRegression): Box {
  const w = boxWidth(box);
  const h = boxHeight(box);
  return { x1: box.x1 + reg[0] * w, y1: box.y1 + reg[1] * h, x2: box.x2 + reg[2] * w, y2: box.y2 + reg[3] * h };
}

/** MTCNN's `rerec`: the square with the same centre whose side is the longer of x2 - x1 and y2 - y1. */
export function toSquare(box: Box): Box {
  const w = box.x2 - box.x1;
  const h = box.y2 - box.y1;
  const side = Math.max(w, h);
  const x1 = box.x1 + w / 2 - side / 2;
  const y1 = box.y1 + h / 2 - side / 2;
  return { x1, y1, x2: x1 + side, y2: y1 + side };
}

/** Clamps corners into a width x height image: x in [0, width - 1], y in [0, height - 1]. */
export function clipBox(box: Box, width: number, height: number): Box {
  const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  return { x1: clamp(box.x1, width - 1), y1: clamp(box.y1, height - 1), x2: clamp(box.x2, width - 1), y2: clamp(box.y2, height - 1) };
}
