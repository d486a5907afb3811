import { Box, applyRegression, boxArea, clipBox, iou, nms, toSquare } from '../src/core/detect/boxes';

const box = (x1: number, y1: number, x2: number, y2: number): Box => ({ x1, y1, x2, y2 });

describe('iou (inclusive pixel corners, MTCNN convention)', () => {
  // Two 10x10 boxes (0..9) overlapping in 5 columns: intersection 50, union 150.
  const a = box(0, 0, 9, 9);
  const b = box(5, 0, 14, 9);

  it('measures areas with the +1', () => {
    expect(boxArea(a)).toBe(100);
    expect(boxArea(box(3, 3, 3, 3))).toBe(1);
    expect(boxArea(box(5, 5, 3, 3))).toBe(0);
  });

  it('computes union and min overlaps on a hand case', () => {
    expect(iou(a, b)).toBeCloseTo(50 / 150, 12);
    expect(iou(a, b, 'min')).toBeCloseTo(0.5, 12);
    expect(iou(a, a)).toBe(1);
    expect(iou(a, box(20, 20, 29, 29))).toBe(0);
    // Touching edges share a pixel column under the inclusive convention.
    expect(iou(a, box(9, 0, 18, 9))).toBeCloseTo(10 / 190, 12);
  });
});

describe('nms', () => {
  const boxes = [box(0, 0, 9, 9), box(5, 0, 14, 9), box(100, 100, 119, 119), box(1, 1, 10, 10)];
  const scores = [0.9, 0.8, 0.7, 0.95];

  it('keeps the best of each cluster, sorted by score (union)', () => {
    // Box 3 (0.95) overlaps box 0 by 81/119 = 0.68 and box 1 by 54/146 = 0.37; boxes 0 and 1 by 1/3.
    expect(nms(boxes, scores, 0.5, 'union')).toEqual([3, 1, 2]);
    expect(nms(boxes, scores, 0.25, 'union')).toEqual([3, 2]);
    expect(nms(boxes, scores, 0.7, 'union')).toEqual([3, 0, 1, 2]);
  });

  it("suppresses a box inside a better one in 'min' mode but not in 'union' mode", () => {
    const nested = [box(0, 0, 19, 19), box(2, 2, 6, 6)];
    const nestedScores = [0.9, 0.95];
    // Union: 25 / 400 = 0.06, both stay. Min: 25 / 25 = 1, the big one goes.
    expect(nms(nested, nestedScores, 0.5, 'union')).toEqual([1, 0]);
    expect(nms(nested, nestedScores, 0.5, 'min')).toEqual([1]);
  });

  it('suppresses only above the threshold and breaks score ties by index', () => {
    const a = box(0, 0, 9, 9);
    const b = box(5, 0, 14, 9); // overlap exactly 1/3 with a
    expect(nms([a, b], [0.5, 0.5], 1 / 3)).toEqual([0, 1]);
    expect(nms([a, b], [0.5, 0.5], 0.33)).toEqual([0]);
    expect(nms([], [], 0.5)).toEqual([]);
  });

  it('rejects mismatched lengths and NaN scores', () => {
    expect(() => nms(boxes, [0.1], 0.5)).toThrow(/4 boxes but 1 scores/);
    expect(() => nms([box(0, 0, 1, 1)], [NaN], 0.5)).toThrow(/NaN/);
  });
});

describe('MTCNN box arithmetic', () => {
  it('applies regression in units of the inclusive width and height (bbreg)', () => {
    // 20 x 40 pixels.
    expect(applyRegression(box(10, 20, 29, 59), [0.1, -0.05, 0.2, 0.5])).toEqual({ x1: 12, y1: 18, x2: 33, y2: 79 });
    expect(applyRegression(box(10, 20, 29, 59), [0, 0, 0, 0])).toEqual(box(10, 20, 29, 59));
  });

  it('squares a box around its centre (rerec)', () => {
    // x2 - x1 = 19, y2 - y1 = 39: the side becomes 39, x widens symmetrically.
    const square = toSquare(box(10, 20, 29, 59));
    expect(square).toEqual({ x1: 0, y1: 20, x2: 39, y2: 59 });
    expect((square.x1 + square.x2) / 2).toBe(19.5);
    expect(toSquare(box(0, 0, 30, 10))).toEqual({ x1: 0, y1: -10, x2: 30, y2: 20 });
    expect(toSquare(box(5, 5, 15, 15))).toEqual(box(5, 5, 15, 15));
  });

  it('clips corners into the image', () => {
    expect(clipBox(box(-5, -3, 700, 20), 640, 480)).toEqual({ x1: 0, y1: 0, x2: 639, y2: 20 });
    expect(clipBox(box(10, 500, 20, 600), 640, 480)).toEqual({ x1: 10, y1: 479, x2: 20, y2: 479 });
  });
});
