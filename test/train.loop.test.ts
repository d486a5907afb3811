import { BatchSource } from '../src/core/train/batches';
import { LoopOptions, TrainingDivergedError, runLoop } from '../src/core/train/loop';
import { StepMetrics, correctPredictions } from '../src/core/train/metrics';
import { Updater, createOptimizer } from '../src/core/train/optim';
import { StepOutputs, StepRunner, TrainBatch } from '../src/core/train/session';
import { Rng } from '../src/core/util/rng';

/**
 * The step loop with a scripted engine (no onnxruntime): the schedule advancing per optimiser
 * step under accumulation, the epoch-end flush, Ctrl-C only at step boundaries, and NaN/Inf
 * stopping with the step, epoch and batch named and the parameters untouched.
 */

const CLASSES = 3;

/** Batches of `size` images per epoch index; label = batch index mod CLASSES. */
function source(batchesPerEpoch: number, size = 2): BatchSource & { served: number } {
  let cursor = 0;
  return {
    batchesPerEpoch,
    served: 0,
    get position() {
      return { epoch: Math.floor(cursor / batchesPerEpoch), batch: cursor % batchesPerEpoch };
    },
    startAt(epoch, batch) {
      cursor = epoch * batchesPerEpoch + batch;
    },
    async next() {
      const epoch = Math.floor(cursor / batchesPerEpoch);
      const batch = cursor % batchesPerEpoch;
      cursor++;
      this.served++;
      const labels = Int32Array.from({ length: size }, () => batch % CLASSES);
      const oneHot = new Float32Array(size * CLASSES);
      labels.forEach((l, i) => (oneHot[i * CLASSES + l] = 1));
      return { images: new Float32Array(size), imageDims: [size, 1], labels, oneHot, size, epoch, batch };
    },
    close: async () => undefined,
  };
}

/** One parameter w; loss = w^2 (gradient 2w), or a scripted value; scores favour class 0. */
function runner(lossAt?: (call: number, w: number) => number): StepRunner & { calls: number; dropoutDraws: number[] } {
  const w = Float32Array.of(1);
  const running = { mean: Float32Array.of(0), var: Float32Array.of(1) };
  return {
    calls: 0,
    dropoutDraws: [],
    params: new Map([['w', w]]),
    batchNormStats: [{ node: 'bn', mean: 'm', var: 'v', runningMean: 'rm', runningVar: 'rv', momentum: 0.9 }],
    async run(batch: TrainBatch, dropout: Rng): Promise<StepOutputs> {
      const call = this.calls++;
      this.dropoutDraws.push(dropout.uniform());
      const scores = new Float32Array(batch.size * CLASSES);
      for (let i = 0; i < batch.size; i++) scores[i * CLASSES] = 1;
      return {
        loss: lossAt ? lossAt(call, w[0]) : w[0] * w[0],
        scores,
        grads: new Map([['w', Float32Array.of(2 * w[0])]]),
        batchStats: [{ mean: Float32Array.of(1), var: Float32Array.of(2) }],
      };
    },
    updateRunningStats(stats) {
      running.mean[0] = 0.9 * running.mean[0] + 0.1 * stats[0].mean[0];
      running.var[0] = 0.9 * running.var[0] + 0.1 * stats[0].var[0];
    },
    release: async () => undefined,
  };
}

function options(o: Partial<LoopOptions> & Pick<LoopOptions, 'runner' | 'source'>, accumulation = 1, totalSteps = 6): LoopOptions {
  const optimizer = createOptimizer({ type: 'sgd', momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 }, () => false);
  return {
    updater: new Updater({ optimizer, learningRate: (s) => 0.1 * (s + 1), accumulationSteps: accumulation, gradClip: 0 }),
    startStep: 0,
    totalSteps,
    seed: 0,
    checkpointEvery: 0,
    checkpoint: () => undefined,
    ...o,
  };
}

describe('training loop', () => {
  test('accumulation: the schedule advances per optimiser step; an epoch ends with a partial step', async () => {
    const src = source(5);
    const steps: StepMetrics[] = [];
    const r = runner();
    const result = await runLoop(options({ runner: r, source: src, onStep: (m) => steps.push(m) }, 2, 6));
    expect(result).toMatchObject({ status: 'completed', step: 6 });
    // 5 micro-batches per epoch in steps of 2, 2, 1: two epochs for six optimiser steps.
    expect(steps.map((m) => [m.epoch, m.batch, m.images])).toEqual([
      [0, 1, 4],
      [0, 3, 4],
      [0, 4, 2],
      [1, 1, 4],
      [1, 3, 4],
      [1, 4, 2],
    ]);
    expect(src.served).toBe(10);
    // lr(s) = 0.1 (s + 1) at optimiser step s, one value per step whatever the micro-batch count.
    steps.forEach((m, i) => expect(m.lr).toBeCloseTo(0.1 * (i + 1), 12));
    expect(steps.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // Accuracy: scores pick class 0; labels are batch mod 3.
    expect(steps[0].accuracy).toBeCloseTo(0.5); // batches 0 (label 0) and 1 (label 1)
    expect(steps[2].accuracy).toBeCloseTo(0); // batch 4 (label 1)
  });

  test('dropout masks come from a stream keyed by (epoch, batch): the same after a restart', async () => {
    const straight = runner();
    await runLoop(options({ runner: straight, source: source(3) }, 1, 5));
    const resumed = runner();
    const src = source(3);
    src.startAt(0, 2);
    await runLoop(options({ runner: resumed, source: src, startStep: 2 }, 1, 5));
    expect(resumed.dropoutDraws).toEqual(straight.dropoutDraws.slice(2));
  });

  test('Ctrl-C stops at the next optimiser-step boundary, after a checkpoint', async () => {
    const controller = new AbortController();
    const saved: number[] = [];
    const r = runner();
    const src = source(10);
    let micro = 0;
    // Aborted during step 2's accumulation (its first of three micro-batches): the step is finished first.
    const wrapped: StepRunner = { ...r, params: r.params, batchNormStats: r.batchNormStats, run: (b, d) => (++micro === 4 && controller.abort(), r.run(b, d)), updateRunningStats: () => undefined };
    const stopped = await runLoop(options({ runner: wrapped, source: src, signal: controller.signal, checkpoint: (step) => void saved.push(step) }, 3, 10));
    expect(stopped).toMatchObject({ status: 'interrupted', step: 2 });
    expect(micro).toBe(6);
    expect(src.position).toEqual({ epoch: 0, batch: 6 });
    expect(saved).toEqual([2]);
  });

  test('checkpoints every N optimiser steps, not at the end (the trainer writes that one)', async () => {
    const saved: number[] = [];
    await runLoop(options({ runner: runner(), source: source(4), checkpointEvery: 2, checkpoint: (s) => void saved.push(s) }, 1, 7));
    expect(saved).toEqual([2, 4, 6]);
  });

  test('a NaN loss stops with the step, epoch and batch named; the parameters are not updated', async () => {
    const r = runner((call, w) => (call === 4 ? NaN : w * w));
    const before: number[] = [];
    const err = await runLoop(options({ runner: r, source: source(3), onStep: () => void before.push(r.params.get('w')![0]) })).catch((e) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err.message).toBe('step 5 (epoch 1, batch 1): the loss is NaN; training stopped');
    expect(r.params.get('w')![0]).toBe(before[3]);
    expect(err.withCheckpoint('out/last.safetensors', 4).message).toMatch(/step 5 .*the last good checkpoint, out\/last\.safetensors \(step 4\), is kept/);
    expect(err.withCheckpoint(undefined, undefined).message).toMatch(/no checkpoint had been written yet/);
  });

  test('an infinite gradient stops naming the parameter', async () => {
    const r = runner();
    const bad: StepRunner = { ...r, params: r.params, batchNormStats: r.batchNormStats, run: async (b, d) => ({ ...(await r.run(b, d)), grads: new Map([['w', Float32Array.of(Infinity)]]) }), updateRunningStats: () => undefined };
    await expect(runLoop(options({ runner: bad, source: source(3) }))).rejects.toThrow('step 1 (epoch 0, batch 0): the gradient of w is Infinity; training stopped');
  });

  test('each engine run is bracketed by stepping(true) and stepping(false), also when it throws', async () => {
    const events: string[] = [];
    const r = runner();
    const logged: StepRunner = { ...r, params: r.params, batchNormStats: r.batchNormStats, run: async (b, d) => (events.push('run'), r.run(b, d)), updateRunningStats: () => undefined };
    const s = { ...source(3), stepping: (running: boolean) => void events.push(running ? 'hold' : 'release') };
    await runLoop(options({ runner: logged, source: s }, 1, 2));
    expect(events).toEqual(['hold', 'run', 'release', 'hold', 'run', 'release']);

    events.length = 0;
    const failing: StepRunner = { ...logged, run: async () => (events.push('run'), Promise.reject(new Error('engine failed'))) };
    await expect(runLoop(options({ runner: failing, source: s }))).rejects.toThrow('engine failed');
    expect(events).toEqual(['hold', 'run', 'release']);
  });

  test('accuracy is the argmax of the scores', () => {
    expect(correctPredictions(Float32Array.of(0.1, 0.9, 0.8, 0.2, 0.5, 0.5), Int32Array.of(1, 1, 0))).toBe(2);
  });
});
