import { Shape } from '../../graph/types';
import { WindowGeometry } from './window';

/** What Conv's input- and weight-gradient formulations read: the forward operands and their static geometry. */
export interface ConvOperands {
  x: string;
  w: string;
  dY: string;
  xShape: Shape;
  /** Static weight dims [M, C/group, ...kernel]. */
  weight: number[];
  group: number;
  geometry: WindowGeometry;
}

export const product = (dims: readonly number[]): number => dims.reduce((p, q) => p * q, 1);

/** Kernel taps K (the product of the kernel dims). */
export function tapCount(op: ConvOperands): number {
  return product(op.weight.slice(2));
}

/** Output positions per sample P. */
export function outputPositions(op: ConvOperands): number {
  return product(op.geometry.outSize);
}

/** Whether every window moves one step at a time. */
export function unitStride(op: ConvOperands): boolean {
  return op.geometry.strides.every((s) => s === 1);
}

/** Whether the output is a single position whose window covers the whole input (a "global" conv, MobileFaceNet's GDC). */
export function isGlobal(op: ConvOperands): boolean {
  return op.geometry.outSize.every((o) => o === 1) && op.geometry.kernel.some((k) => k > 1);
}
