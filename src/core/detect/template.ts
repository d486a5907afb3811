/**
 * insightface's `arcface_dst`: where the 5 landmarks (left eye, right eye, nose tip, left and
 * right mouth corners) land in a 112x112 aligned face. Every model here is trained and
 * evaluated on faces aligned to it.
 */
export const ARCFACE_TEMPLATE_112: readonly (readonly [number, number])[] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];
