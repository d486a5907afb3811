import { GraphBuilder } from '../graph/builder';
import { attr, float32Tensor, int64Tensor } from '../graph/types';

/** Small graph helpers the heads share. */

/** A float32 scalar constant, broadcastable against any tensor. */
export function scalar(b: GraphBuilder, leaf: string, value: number): string {
  return b.constant(leaf, float32Tensor([], Float32Array.of(value)));
}

/** Sum over `axis`; ReduceSum takes its axes as an input since opset 13. */
export function sumAlong(b: GraphBuilder, x: string, axis: number, keepdims: boolean): string {
  return b.op1('ReduceSum', [x, b.constant('axes', int64Tensor([axis]))], { keepdims: attr.int(keepdims ? 1 : 0) });
}

/**
 * Floor under the norm. The norm is sqrt(sum x^2 + eps^2) rather than PyTorch's max(|x|, eps):
 * the same value wherever |x| >> eps, and its gradient stays finite at x = 0, where ReduceL2's
 * x / |x| would be 0/0.
 */
export const NORM_EPS = 1e-12;

/** Rows of `x` divided by their L2 norm along `axis` (x / |x|, eps-safe). */
export function l2Normalize(b: GraphBuilder, x: string, axis: number): string {
  const squares = b.op1('ReduceSumSquare', [x], { axes: attr.ints([axis]), keepdims: attr.int(1) });
  const norm = b.op1('Sqrt', [b.op1('Add', [squares, scalar(b, 'norm_eps_sq', NORM_EPS * NORM_EPS)])]);
  return b.op1('Div', [x, norm]);
}
