import { Attr, attr, getAttr } from '../../graph/types';
import { Emitter } from '../emitter';
import { range } from '../tensors';
import { NodeContext, staticDims } from '../types';

/**
 * Geometry of Conv's sliding window over N-D spatial axes, and two ways its gradients walk the
 * window: per kernel tap (a strided Slice of the zero-padded input), and back from the output
 * grid to the input with ConvTranspose.
 */

export interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
  /** Static spatial sizes of the input and output. */
  inSize: number[];
  outSize: number[];
}

/** Explicit pads, resolving auto_pad the way ONNX defines it. */
function explicitPads(ctx: NodeContext, g: Omit<WindowGeometry, 'padsBegin' | 'padsEnd'>): { begin: number[]; end: number[] } {
  const rank = g.kernel.length;
  const autoPad = getAttr(ctx.node, 'auto_pad', 'string') ?? 'NOTSET';
  if (autoPad === 'NOTSET') {
    const pads = getAttr(ctx.node, 'pads', 'ints') ?? new Array<number>(2 * rank).fill(0);
    return { begin: pads.slice(0, rank), end: pads.slice(rank) };
  }
  if (autoPad === 'VALID') return { begin: new Array<number>(rank).fill(0), end: new Array<number>(rank).fill(0) };
  const total = g.kernel.map((k, i) => Math.max(0, (g.outSize[i] - 1) * g.strides[i] + (k - 1) * g.dilations[i] + 1 - g.inSize[i]));
  const lower = autoPad === 'SAME_LOWER';
  const begin = total.map((t) => (lower ? Math.ceil(t / 2) : Math.floor(t / 2)));
  return { begin, end: total.map((t, i) => t - begin[i]) };
}

export function windowGeometry(ctx: NodeContext, kernel: number[]): WindowGeometry {
  const rank = kernel.length;
  const inSize = staticDims(ctx, ctx.inputShapes[0].slice(2), 'the spatial input');
  const outSize = staticDims(ctx, ctx.outputShapes[0].slice(2), 'the spatial output');
  const strides = getAttr(ctx.node, 'strides', 'ints') ?? new Array<number>(rank).fill(1);
  const dilations = getAttr(ctx.node, 'dilations', 'ints') ?? new Array<number>(rank).fill(1);
  const base = { kernel, strides, dilations, inSize, outSize };
  const pads = explicitPads(ctx, base);
  return { ...base, padsBegin: pads.begin, padsEnd: pads.end };
}

/** Every kernel offset, row-major. */
export function kernelTaps(kernel: readonly number[]): number[][] {
  let taps: number[][] = [[]];
  for (const k of kernel) taps = taps.flatMap((t) => range(k).map((i) => [...t, i]));
  return taps;
}

/** Span of padded input the windows read along each axis. */
function readSpan(g: WindowGeometry): number[] {
  return g.kernel.map((k, i) => (g.outSize[i] - 1) * g.strides[i] + (k - 1) * g.dilations[i] + 1);
}

/**
 * Zero-pads the spatial axes of `x` (the kernel's rank of them, from `firstSpatial`: 2 for
 * [N, C, ...] or [C, N, ...], 1 for channels-last [N, ..., C]) so every tap's slice is in range.
 */
export function padForTaps(emit: Emitter, x: string, rankTotal: number, g: WindowGeometry, firstSpatial = 2): string {
  const span = readSpan(g);
  const end = span.map((s, i) => Math.max(0, s - g.padsBegin[i] - g.inSize[i]));
  if (g.padsBegin.every((p) => p === 0) && end.every((p) => p === 0)) return x;
  const lead = new Array<number>(firstSpatial).fill(0);
  const trail = new Array<number>(rankTotal - firstSpatial - g.kernel.length).fill(0);
  const pads = [...lead, ...g.padsBegin, ...trail, ...lead, ...end, ...trail];
  return emit.op('Pad', [x, emit.ints(pads), emit.scalar(0)], { mode: attr.string('constant') });
}

/** The input values tap `tap` multiplies, one per output position: a strided Slice of the padded input. */
export function tapSlice(emit: Emitter, padded: string, g: WindowGeometry, tap: readonly number[], firstSpatial = 2): string {
  const starts = tap.map((t, i) => t * g.dilations[i]);
  const ends = starts.map((s, i) => s + (g.outSize[i] - 1) * g.strides[i] + 1);
  // Unpadded, unstrided, and covering the whole input: the slice is the input itself.
  if (starts.every((s, i) => s === 0 && g.padsBegin[i] === 0 && g.strides[i] === 1 && ends[i] === g.inSize[i])) return padded;
  const axes = range(g.kernel.length, firstSpatial);
  return emit.op('Slice', [padded, emit.ints(starts), emit.ints(ends), emit.ints(axes), emit.ints(g.strides)]);
}

/**
 * ConvTranspose attributes that map a tensor on the output grid back onto the input grid
 * (the adjoint of the convolution): rows the forward windows never reached (a stride that does
 * not divide the padded input) come back as zeros through output_padding.
 */
export function transposeAttrs(g: WindowGeometry, group: number): Record<string, Attr> {
  return {
    kernel_shape: attr.ints(g.kernel),
    strides: attr.ints(g.strides),
    dilations: attr.ints(g.dilations),
    group: attr.int(group),
    pads: attr.ints([...g.padsBegin, ...g.padsEnd]),
    output_padding: attr.ints(transposeOutputPadding(g)),
  };
}

/** Per spatial axis, the rows at the end of the padded input that no window reached. */
export function transposeOutputPadding(g: WindowGeometry): number[] {
  return readSpan(g).map((s, i) => g.inSize[i] + g.padsBegin[i] + g.padsEnd[i] - s);
}
