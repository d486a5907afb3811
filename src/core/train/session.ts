import * as ort from 'onnxruntime-node';
import { BatchNormStats, TrainingGraph, buildTrainingGraph, sampleDropoutMask } from '../autodiff';
import { convsToNchwc, nchwcBlockSize } from '../engines/nchwcConvs';
import { EngineOptions, createSession } from '../engines/onnxruntime';
import { encodeOnnx } from '../graph/onnx';
import { Graph, numel } from '../graph/types';
import { Rng } from '../util/rng';
import { ParamTensors } from './optim';

/**
 * The onnxruntime side of a training step: the forward graph (backbone + head) differentiated
 * once into a training graph, loaded into one session. Each step feeds the batch, the current
 * parameter values and fresh dropout masks, and one `session.run` returns the loss, the class
 * scores, every gradient and the BatchNorm batch statistics.
 *
 * Parameters live in the forward graph's own initializers: `params` holds views of their data,
 * so the optimiser's in-place updates are what the next run feeds, what a checkpoint saves and
 * what the export writes, with no copying back and forth.
 */

/** One micro-batch, as the training graph takes it. */
export interface TrainBatch {
  /** [size, 3, H, W], normalised as the model expects. */
  images: Float32Array;
  imageDims: readonly number[];
  /** Class index per image. */
  labels: Int32Array;
  /** [size, classes] one-hot rows. */
  oneHot: Float32Array;
  size: number;
}

export interface StepOutputs {
  loss: number;
  /** [size, classes] margin-free class scores (argmax = prediction). */
  scores: Float32Array;
  /** Gradient of the batch's mean loss, by parameter name. */
  grads: ParamTensors;
  /** The sum of every gradient's squares, when the engine computed it (the Updater's norm). */
  gradSumOfSquares?: number;
  /** Batch mean and unbiased variance of each training-mode BatchNorm, in `batchNormStats` order. */
  batchStats: { mean: Float32Array; var: Float32Array }[];
}

export interface SessionSpec {
  /** Forward-graph tensor names. */
  loss: string;
  scores: string;
  /** Graph inputs. */
  input: string;
  labels: string;
  /** Parameter-name prefixes that are not trained. */
  freeze: readonly string[];
  /**
   * The batch size, when every batch has it (data.drop_last): the graph is then built for it.
   * Static shapes let grouped and depthwise convolutions take their fastest weight-gradient
   * form (a batch-folded Conv) and let onnxruntime plan the graph for one size.
   */
  batchSize?: number;
}

/** What a training step needs from the engine; tests substitute their own. */
export interface StepRunner {
  readonly params: ParamTensors;
  readonly batchNormStats: readonly BatchNormStats[];
  /** Runs one micro-batch; `dropout` supplies this micro-batch's masks. */
  run(batch: TrainBatch, dropout: Rng): Promise<StepOutputs>;
  /** running = momentum * running + (1 - momentum) * batch, for every training-mode BatchNorm. */
  updateRunningStats(stats: StepOutputs['batchStats']): void;
  release(): Promise<void>;
}

function floatData(graph: Graph, name: string, what: string): Float32Array {
  const init = graph.initializers.get(name);
  if (!init) throw new Error(`${what} ${name} is not an initializer of ${graph.name}`);
  if (!(init.tensor.data instanceof Float32Array)) throw new Error(`${what} ${name} is ${init.tensor.dtype}; training needs float32`);
  return init.tensor.data;
}

export class TrainingSession implements StepRunner {
  readonly params: ParamTensors;
  private readonly running: { mean: Float32Array; var: Float32Array; momentum: number }[];

  private constructor(
    readonly forward: Graph,
    readonly training: TrainingGraph,
    private readonly spec: SessionSpec,
    private readonly session: ort.InferenceSession,
  ) {
    this.params = new Map(training.params.map((p) => [p, floatData(forward, p, 'parameter')]));
    this.running = training.batchNormStats.map((s) => ({
      mean: floatData(forward, s.runningMean, 'running mean'),
      var: floatData(forward, s.runningVar, 'running variance'),
      momentum: s.momentum,
    }));
  }

  /** Differentiates `forward` and loads the training graph (the slow part of starting a run). */
  static async create(forward: Graph, spec: SessionSpec, engine: EngineOptions): Promise<TrainingSession> {
    const batchDim = forward.inputs.find((v) => v.name === spec.input)?.shape[0];
    const dims = spec.batchSize !== undefined && typeof batchDim === 'string' ? { [batchDim]: spec.batchSize } : undefined;
    const training = buildTrainingGraph(forward, { loss: spec.loss, extraOutputs: [spec.scores], freeze: [...spec.freeze], gradSumOfSquares: true, ...(dims ? { dims } : {}) });
    // The CPU provider's blocked kernels for the convs whose weights are fed or computed (`bench/train-step.js --nchwc 0` compares).
    if (engine.provider === 'cpu') convsToNchwc(training.graph, await nchwcBlockSize());
    // No memory pattern: it keeps a second, pre-planned arena that doubles the peak memory of a
    // training graph. No spinning after a run: the optimiser and the data workers need the cores then.
    const session = await createSession(encodeOnnx(training.graph), { ...engine, memoryPattern: false, spinAfterRun: false }, 'the training graph');
    return new TrainingSession(forward, training, spec, session);
  }

  get batchNormStats(): readonly BatchNormStats[] {
    return this.training.batchNormStats;
  }

  async run(batch: TrainBatch, dropout: Rng): Promise<StepOutputs> {
    const classes = batch.oneHot.length / batch.size;
    const feeds: Record<string, ort.Tensor> = {
      [this.spec.input]: new ort.Tensor('float32', batch.images, [...batch.imageDims]),
      [this.spec.labels]: new ort.Tensor('float32', batch.oneHot, [batch.size, classes]),
    };
    for (const [name, data] of this.params) {
      feeds[name] = new ort.Tensor('float32', data, this.forward.initializers.get(name)!.tensor.dims);
    }
    for (const mask of this.training.dropoutMasks) {
      // Symbolic dimensions of a mask are the batch's.
      const dims = mask.shape.map((d) => (typeof d === 'number' ? d : batch.size));
      feeds[mask.input] = new ort.Tensor('float32', sampleDropoutMask(dropout, numel(dims), mask.ratio), dims);
    }
    const out = await this.session.run(feeds);
    const data = (name: string) => out[name].data as Float32Array;
    return {
      loss: data(this.training.loss)[0],
      scores: data(this.spec.scores),
      grads: new Map(this.training.params.map((p) => [p, data(this.training.gradOutputs.get(p) as string)])),
      ...(this.training.gradSumOfSquares === undefined ? {} : { gradSumOfSquares: data(this.training.gradSumOfSquares)[0] }),
      batchStats: this.training.batchNormStats.map((s) => ({ mean: data(s.mean), var: data(s.var) })),
    };
  }

  updateRunningStats(stats: StepOutputs['batchStats']): void {
    this.running.forEach((r, i) => {
      const m = r.momentum;
      const { mean, var: variance } = stats[i];
      for (let c = 0; c < r.mean.length; c++) {
        r.mean[c] = m * r.mean[c] + (1 - m) * mean[c];
        r.var[c] = m * r.var[c] + (1 - m) * variance[c];
      }
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
