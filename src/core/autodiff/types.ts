import { Node, Shape, TensorData } from '../graph/types';
import { Emitter } from './emitter';

/**
 * The contracts between the training-graph builder and the per-op gradient rules. A rule sees
 * one forward node (names as they appear in the training graph), the static shapes inference
 * gave its tensors, and the gradients of its outputs; it emits ONNX nodes and returns the
 * gradient tensor of each input that needs one, in that input's exact shape.
 */

export class AutodiffError extends Error {}

/** One gradient per input slot; undefined where none is needed or none flows (a zero gradient). */
export type InputGradients = (string | undefined)[];

export interface NodeContext {
  readonly node: Node;
  readonly inputShapes: readonly Shape[];
  readonly outputShapes: readonly Shape[];
  readonly emit: Emitter;
  /** The value of input `index` when it is a constant initializer (shape vectors, axes, exponents, ratios). */
  constant(index: number): TensorData | undefined;
}

export interface GradientContext extends NodeContext {
  /** Gradient of each output; undefined for an output that does not reach the loss. */
  readonly outputGrads: readonly (string | undefined)[];
  /** Which inputs need a gradient (a differentiable slot on a path from a trained parameter). */
  readonly needs: readonly boolean[];
  /** Tensors a training form saved for this node's backward (empty for plain rules). */
  readonly saved: Readonly<Record<string, string>>;
}

export type BackwardRule = (ctx: GradientContext) => InputGradients;

export interface GradientRule {
  /** Input slots gradients flow into; default every slot. Shapes, axes, conditions and bounds never do. */
  readonly differentiable?: readonly number[];
  readonly backward: BackwardRule;
}

/** A Dropout mask the trainer feeds each step: keep/(1 - ratio) or 0 per element (see sampleDropoutMask). */
export interface DropoutMaskInput {
  /** Graph input name. */
  input: string;
  shape: Shape;
  ratio: number;
}

/** One training-mode BatchNormalization's batch statistics, for the running-statistics update. */
export interface BatchNormStats {
  node: string;
  /** Graph output: batch mean per channel, [C]. */
  mean: string;
  /** Graph output: unbiased batch variance per channel, [C] (what PyTorch folds into running_var). */
  var: string;
  /** Forward-graph initializers the statistics update. */
  runningMean: string;
  runningVar: string;
  /**
   * ONNX momentum, the weight of the old value: running = momentum * running + (1 - momentum) * batch.
   * PyTorch's momentum 0.1 is 0.9 here.
   */
  momentum: number;
}

export interface TrainingFormResult {
  /** Tensors the backward reads (passed back as GradientContext.saved). */
  saved: Record<string, string>;
  maskInputs?: DropoutMaskInput[];
  batchStats?: BatchNormStats;
}

/**
 * An op whose training-mode computation differs from its inference node (BatchNormalization,
 * Dropout), or is emitted differently so that its backward is cheaper (PRelu, MaxPool: the
 * forward saves what the backward reads). `forward` emits the training computation in place of
 * the node, writing the node's own output names; `backward` differentiates that computation as
 * one unit.
 */
export interface TrainingForm extends GradientRule {
  /** Whether `node` runs in training form, given which tensors are trained parameters. */
  applies(node: Node, isTrained: (tensor: string) => boolean): boolean;
  forward(ctx: NodeContext): TrainingFormResult;
}

export interface RuleSet {
  gradients: Readonly<Record<string, GradientRule>>;
  trainingForms: Readonly<Record<string, TrainingForm>>;
}

/** The single output gradient of a one-output op. */
export function outputGrad(ctx: GradientContext, index = 0): string {
  const g = ctx.outputGrads[index];
  if (g === undefined) throw new AutodiffError(`${ctx.node.opType} ${ctx.node.name}: output ${index} has no gradient`);
  return g;
}

/** Reads int values from a constant input, or fails naming the node. */
export function constantInts(ctx: NodeContext, index: number): number[] {
  const t = ctx.constant(index);
  if (!t) throw new AutodiffError(`${ctx.node.opType} ${ctx.node.name}: input ${index} must be a constant initializer`);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** Static dims, or a failure naming the node and what needed them. */
export function staticDims(ctx: NodeContext, shape: Shape, what: string): number[] {
  if (shape.some((d) => typeof d !== 'number')) {
    throw new AutodiffError(`${ctx.node.opType} ${ctx.node.name}: ${what} must have static dimensions, got [${shape}]`);
  }
  return shape as number[];
}
