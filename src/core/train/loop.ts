import { Rng } from '../util/rng';
import { BatchSource } from './batches';
import { StepMetrics, correctPredictions } from './metrics';
import { NonFiniteError, Updater, findNonFinite } from './optim';
import { StepRunner } from './session';

/**
 * The step loop: micro-batch in, one training-graph run, BatchNorm running statistics updated,
 * gradients into the Updater (accumulation -> NaN check -> clipping -> the schedule's rate ->
 * update); one StepMetrics per optimiser step. An epoch's last micro-batch flushes a partial
 * accumulation, so optimiser steps never straddle epochs (what scheduleOf's steps-per-epoch
 * assumes).
 *
 * Everything random is keyed by position rather than drawn from a running stream: the loader's
 * order and augmentation by (seed, epoch, slot), the dropout masks by (seed, epoch, batch). So
 * the checkpoint's step count and loader position are the whole of the random state, and a
 * resumed run draws exactly what the uninterrupted one would.
 */

export interface LoopOptions {
  runner: StepRunner;
  source: BatchSource;
  updater: Updater;
  /** Optimiser steps already done (non-zero when resuming). */
  startStep: number;
  totalSteps: number;
  seed: number;
  /** Optimiser steps between `checkpoint` calls; 0 = none from the loop. */
  checkpointEvery: number;
  /** Aborting stops the loop at the next optimiser-step boundary, after a checkpoint. */
  signal?: AbortSignal;
  onStep?: (m: StepMetrics) => void;
  /** Saves a checkpoint after optimiser step `step` (nothing pending in the accumulator). */
  checkpoint: (step: number) => void | Promise<void>;
}

export interface LoopTiming {
  dataMs: number;
  engineMs: number;
  optimizerMs: number;
  checkpointMs: number;
}

export interface LoopResult {
  status: 'completed' | 'interrupted';
  /** Optimiser steps done in all, including those before a resume. */
  step: number;
  timing: LoopTiming;
}

/** Training produced NaN or Infinity; nothing from the bad step was applied to the parameters. */
export class TrainingDivergedError extends Error {
  constructor(
    readonly step: number,
    readonly epoch: number,
    readonly batch: number,
    readonly what: string,
    readonly value: number,
    readonly detail = '',
  ) {
    super(`step ${step} (epoch ${epoch}, batch ${batch}): ${what} is ${value}; training stopped${detail}`);
    this.name = 'TrainingDivergedError';
  }

  /** The same error, its message saying which checkpoint is the last good one. */
  withCheckpoint(file: string | undefined, step: number | undefined): TrainingDivergedError {
    const detail =
      file === undefined ? ', no checkpoint had been written yet' : `; the last good checkpoint, ${file} (step ${step}), is kept (resume from it with a lower learning rate)`;
    return new TrainingDivergedError(this.step, this.epoch, this.batch, this.what, this.value, detail);
  }
}

/** The dropout masks' generator for one micro-batch. */
export function dropoutRng(seed: number, epoch: number, batch: number): Rng {
  return new Rng(seed, `train/dropout/epoch-${epoch}/batch-${batch}`);
}

export async function runLoop(o: LoopOptions): Promise<LoopResult> {
  const { runner, source, updater } = o;
  const timing: LoopTiming = { dataMs: 0, engineMs: 0, optimizerMs: 0, checkpointMs: 0 };
  const started = performance.now();
  let step = o.startStep;
  // The optimiser step being accumulated.
  let acc = { loss: 0, correct: 0, images: 0, dataMs: 0, engineMs: 0, optimizerMs: 0, since: performance.now() };

  while (step < o.totalSteps) {
    if (o.signal?.aborted && updater.pending === 0) {
      const t = performance.now();
      await o.checkpoint(step);
      timing.checkpointMs += performance.now() - t;
      return { status: 'interrupted', step, timing };
    }
    let t = performance.now();
    const batch = await source.next();
    acc.dataMs += performance.now() - t;

    t = performance.now();
    source.stepping?.(true);
    let out;
    try {
      out = await runner.run(batch, dropoutRng(o.seed, batch.epoch, batch.batch));
    } finally {
      source.stepping?.(false);
    }
    acc.engineMs += performance.now() - t;
    const diverged = (what: string, value: number) => new TrainingDivergedError(step + 1, batch.epoch, batch.batch, what, value);
    if (!Number.isFinite(out.loss)) throw diverged('the loss', out.loss);
    out.batchStats.forEach((s, i) => {
      const bad = findNonFinite(new Map([['mean', s.mean], ['variance', s.var]]));
      if (bad) throw diverged(`the batch ${bad.tensor} of ${runner.batchNormStats[i].node}`, bad.value);
    });
    runner.updateRunningStats(out.batchStats);
    acc.loss += out.loss * batch.size;
    acc.correct += correctPredictions(out.scores, batch.labels);
    acc.images += batch.size;

    t = performance.now();
    let report;
    try {
      report = updater.push(runner.params, out.grads, batch.size, out.gradSumOfSquares);
      if (report === undefined && batch.batch === source.batchesPerEpoch - 1) report = updater.flush(runner.params);
    } catch (err) {
      if (err instanceof NonFiniteError) throw diverged(`the gradient of ${err.where.tensor}`, err.where.value);
      throw err;
    }
    acc.optimizerMs += performance.now() - t;
    if (report === undefined) continue;

    step++;
    const now = performance.now();
    o.onStep?.({
      step,
      totalSteps: o.totalSteps,
      epoch: batch.epoch,
      batch: batch.batch,
      loss: acc.loss / acc.images,
      accuracy: acc.correct / acc.images,
      lr: report.lr,
      gradNorm: report.gradNorm,
      clipped: report.clipped,
      images: acc.images,
      imagesPerSecond: acc.images / ((now - acc.since) / 1000),
      dataMs: acc.dataMs,
      engineMs: acc.engineMs,
      optimizerMs: acc.optimizerMs,
      elapsed: (now - started) / 1000,
    });
    timing.dataMs += acc.dataMs;
    timing.engineMs += acc.engineMs;
    timing.optimizerMs += acc.optimizerMs;
    if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0 && step < o.totalSteps) {
      const c = performance.now();
      await o.checkpoint(step);
      timing.checkpointMs += performance.now() - c;
    }
    acc = { loss: 0, correct: 0, images: 0, dataMs: 0, engineMs: 0, optimizerMs: 0, since: performance.now() };
  }
  return { status: 'completed', step, timing };
}
