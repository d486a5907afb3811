/** A verification pair of image paths, the common output of every pair source. */
export interface ImagePair {
  a: string;
  b: string;
  same: boolean;
  /** Cross-validation fold, when the source defines one (LFW pairs.txt, sampled ImageFolder pairs). */
  fold?: number;
}
