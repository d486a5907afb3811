import * as fs from 'fs';
import { AtomicWriteError, writeFileAtomic } from '../util/atomic';

/**
 * Per-step training metrics and their JSONL log. Each line is written with one append (O_APPEND),
 * so a crash leaves at most a torn last line; on resume the log is cut back to the checkpoint's
 * step (dropping that torn line and any steps the checkpoint does not hold), so that the file
 * of a resumed run reads as the uninterrupted run's.
 */

export interface StepMetrics {
  /** Optimiser steps done, this one included (1-based). */
  step: number;
  totalSteps: number;
  /** Epoch (0-based) and batch index of the step's last micro-batch. */
  epoch: number;
  batch: number;
  /** Sample-weighted mean loss over the step's micro-batches. */
  loss: number;
  /** Training accuracy: argmax of the margin-free scores against the label. */
  accuracy: number;
  /** The learning rate this step was taken at. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  clipped: boolean;
  images: number;
  /** Images of this step over its wall time (data wait, engine, optimiser). */
  imagesPerSecond: number;
  /** Where the step's time went, in milliseconds. */
  dataMs: number;
  engineMs: number;
  optimizerMs: number;
  /** Seconds since the start of this process's training. */
  elapsed: number;
}

/** Rows of `scores` [n, classes] whose argmax is the label. */
export function correctPredictions(scores: Float32Array, labels: Int32Array): number {
  const n = labels.length;
  const classes = scores.length / n;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[i * classes + c] > scores[i * classes + best]) best = c;
    if (best === labels[i]) correct++;
  }
  return correct;
}

const round = (x: number, digits: number) => Number(x.toPrecision(digits));

/** The JSON line for a step: full precision for loss and lr, timings rounded. */
export function metricsLine(m: StepMetrics): string {
  return JSON.stringify({
    step: m.step,
    epoch: m.epoch,
    batch: m.batch,
    loss: m.loss,
    accuracy: m.accuracy,
    lr: m.lr,
    grad_norm: m.gradNorm,
    clipped: m.clipped,
    images: m.images,
    images_per_s: round(m.imagesPerSecond, 4),
    data_ms: round(m.dataMs, 4),
    engine_ms: round(m.engineMs, 4),
    optimizer_ms: round(m.optimizerMs, 4),
    elapsed_s: round(m.elapsed, 6),
  });
}

/** Reads a metrics log back (complete lines only). */
export function readMetrics(file: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        return line.trim() === '' ? [] : [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export class MetricsLog {
  private constructor(readonly file: string) {}

  /**
   * A fresh log (any previous file replaced), or, resuming after `keepThrough` steps, the
   * previous one without its lines past that step and without a torn last line.
   */
  static open(file: string, keepThrough?: number): MetricsLog {
    const kept =
      keepThrough === undefined ? [] : readMetrics(file).filter((r) => typeof r.step === 'number' && r.step <= keepThrough).map((r) => JSON.stringify(r));
    writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
    return new MetricsLog(file);
  }

  append(m: StepMetrics): void {
    try {
      fs.appendFileSync(this.file, `${metricsLine(m)}\n`);
    } catch (err) {
      throw new AtomicWriteError(`cannot append to ${this.file}: ${(err as Error).message}`, err);
    }
  }
}
