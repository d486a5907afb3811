/**
 * A labelled training set: image paths with integer class labels, and the class names the
 * labels index. Both dataset formats (ImageFolder, list file) scan into this one shape, so the
 * loader never knows where the samples came from.
 */

export interface Sample {
  path: string;
  /** Class index into `Dataset.classes`. */
  label: number;
}

export interface Dataset {
  /** The folder or list file the samples came from (for messages). */
  source: string;
  samples: Sample[];
  /** Class names; label i is classes[i]. */
  classes: string[];
  /** Problems that did not stop the scan (e.g. an identity folder without images), one line each. */
  warnings: string[];
}

/** Images per class, indexed by label. */
export function classCounts(dataset: Dataset): number[] {
  const counts = new Array<number>(dataset.classes.length).fill(0);
  for (const s of dataset.samples) counts[s.label]++;
  return counts;
}
