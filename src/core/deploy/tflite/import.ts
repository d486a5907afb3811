import * as path from 'path';
import { METADATA_KEYS } from '../../export/metadata';
import { inferShapes, resolveOutputs } from '../../graph/shapes';
import { Attr, Dim, Graph, InitializerRole, Shape, TensorData, ValueInfo, attr, emptyGraph, float32Tensor, int64Tensor, numel } from '../../graph/types';
import { fusePrelu } from './fuse';
import { TO_NCHW, TO_NHWC, nchwAxis, padRank, permuteData, sameMemoryOrder, samePadding, sizeFreeSamePadding } from './layout';
import { FusedActivation, Padding, TfliteOperator, TfliteOptions, TfliteSubgraph, TfliteTensor, readTfliteModel, tensorFloats, tensorInts } from './schema';

/**
 * Maps a float32 TFLite model onto the project's graph (ONNX operator semantics). Inside, 4-D
 * activations live in NCHW; at the boundary the graph keeps TFLite's layout (NHWC input and
 * outputs, same names), so the result is a drop-in equivalent of the .tflite file. The batch is
 * the symbol 'N'; with `dynamicSpatial`, 4-D inputs take any height and width ('H', 'W').
 *
 * Each TFLite tensor may exist in two forms, its own layout ('native', NHWC for 4-D) and
 * NCHW; a form is made (one Transpose) only when an op asks for it, so a chain of convolutions
 * and elementwise ops stays in NCHW and only the boundaries and NHWC-order reshapes pay.
 */

export class TfliteImportError extends Error {}

export interface TfliteImportOptions {
  /** Make the height and width of 4-D inputs symbolic (fully convolutional models, e.g. P-Net). */
  dynamicSpatial?: boolean;
  /** Graph name; defaults to the subgraph's name or the file's base name. */
  name?: string;
  /** Replace PReLU written out as elementwise ops with one PRelu (default true; see fuse.ts). */
  fusePrelu?: boolean;
}

type Layout = 'native' | 'nchw';

interface Forms {
  native?: string;
  nchw?: string;
}

type Converter = (im: Importer, op: TfliteOperator) => void;

/** TFLite's L2_NORMALIZATION floors the norm at this value. */
const L2_NORM_EPSILON = 1e-6;

const QUANTIZED_TYPES = new Set(['int8', 'uint8', 'int16', 'int4']);

class Importer {
  readonly graph: Graph;
  private readonly taken = new Set<string>();
  private readonly forms = new Map<number, Forms>();
  private readonly constants = new Map<string, string>();
  private readonly reserved = new Map<number, string>();
  private inferred: { nodeCount: number; infos: Map<string, ValueInfo> } | undefined;

  constructor(
    readonly sg: TfliteSubgraph,
    readonly source: string,
    readonly opts: TfliteImportOptions,
  ) {
    this.graph = emptyGraph(opts.name ?? (sg.name || path.basename(source).replace(/\.tflite$/i, '')));
    // Boundary names are TFLite's own, so they are claimed before any internal name.
    for (const i of [...sg.inputs, ...sg.outputs]) {
      if (this.reserved.has(i)) continue;
      const name = this.baseName(i);
      if (this.taken.has(name)) this.fail(`two boundary tensors are both named ${name}`);
      this.taken.add(name);
      this.reserved.set(i, name);
    }
  }

  fail(message: string): never {
    throw new TfliteImportError(`${this.source}: ${message}`);
  }

  tensor(i: number): TfliteTensor {
    const t = this.sg.tensors[i];
    if (!t) this.fail(`tensor index ${i} is out of range`);
    return t;
  }

  baseName(i: number): string {
    return this.tensor(i).name || `tensor_${i}`;
  }

  shape(i: number): number[] {
    return this.tensor(i).shape;
  }

  rank(i: number): number {
    return this.shape(i).length;
  }

  isConst(i: number): boolean {
    return this.tensor(i).data !== undefined;
  }

  hasNchw(i: number): boolean {
    return this.forms.get(i)?.nchw !== undefined;
  }

  /**
   * The actual NHWC dims of tensor `i` as built so far ('N', and 'H'/'W'-derived symbols with
   * dynamicSpatial). Intermediate shapes declared in the file are not trusted: the interpreter
   * recomputes them from the input size, and a file whose input was re-declared keeps stale ones.
   */
  dims(i: number): Shape {
    if (this.isConst(i)) return this.shape(i);
    const forms = this.forms.get(i);
    if (!forms) this.fail(`tensor ${this.baseName(i)} is read before any operator writes it`);
    if (this.inferred?.nodeCount !== this.graph.nodes.length) this.inferred = { nodeCount: this.graph.nodes.length, infos: inferShapes(this.graph) };
    const info = (name: string) => this.inferred?.infos.get(name)?.shape ?? this.fail(`no shape for ${name}`);
    if (forms.native) return info(forms.native);
    const nchw = info(forms.nchw ?? '');
    return TO_NHWC.map((p) => nchw[p]);
  }

  /** Input `k` of `op`, or undefined when omitted (-1 or missing). */
  optionalInput(op: TfliteOperator, k: number): number | undefined {
    const i = op.inputs[k];
    return i === undefined || i < 0 ? undefined : i;
  }

  input(op: TfliteOperator, k: number): number {
    const i = this.optionalInput(op, k);
    if (i === undefined) this.fail(`${op.op} (operator ${op.index}) lacks input ${k}`);
    return i;
  }

  output(op: TfliteOperator): number {
    if (op.outputs.length !== 1) this.fail(`${op.op} (operator ${op.index}) has ${op.outputs.length} outputs, expected 1`);
    return op.outputs[0];
  }

  unique(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  /** The name tensor `i` gets in `layout`: graph outputs keep TFLite's name for their native form. */
  outName(i: number, layout: Layout): string {
    const reserved = this.reserved.get(i);
    if (reserved !== undefined && layout === 'native') return reserved;
    const base = this.baseName(i);
    return this.unique(layout === 'nchw' ? (reserved === undefined ? base : `${base}/nchw`) : `${base}/nhwc`);
  }

  emit(opType: string, inputs: string[], attrs: Record<string, Attr>, output: string): string {
    this.graph.nodes.push({ name: output, opType, domain: '', inputs, outputs: [output], attrs });
    return output;
  }

  define(i: number, layout: Layout, value: string): void {
    const forms = this.forms.get(i) ?? {};
    forms[layout] = value;
    this.forms.set(i, forms);
  }

  /** Emits the last node of a converted op (and its fused activation), writing tensor `i`. */
  finish(i: number, layout: Layout, opType: string, inputs: string[], attrs: Record<string, Attr>, act: FusedActivation = 'NONE'): void {
    if (act === 'NONE') {
      this.define(i, layout, this.emit(opType, inputs, attrs, this.outName(i, layout)));
      return;
    }
    const pre = this.emit(opType, inputs, attrs, this.unique(`${this.baseName(i)}/${opType}`));
    this.define(i, layout, this.activation(pre, act, this.outName(i, layout)));
  }

  activation(input: string, act: FusedActivation, output: string): string {
    switch (act) {
      case 'NONE':
        return this.emit('Identity', [input], {}, output);
      case 'RELU':
        return this.emit('Relu', [input], {}, output);
      case 'RELU6':
        return this.emit('Clip', [input, this.scalar(0), this.scalar(6)], {}, output);
      case 'RELU_N1_TO_1':
        return this.emit('Clip', [input, this.scalar(-1), this.scalar(1)], {}, output);
      case 'TANH':
        return this.emit('Tanh', [input], {}, output);
      case 'SIGN_BIT':
        return this.fail(`fused activation SIGN_BIT is not supported`);
    }
  }

  addInitializer(hint: string, tensor: TensorData, role: InitializerRole): string {
    const name = this.unique(hint);
    this.graph.initializers.set(name, { name, role, tensor });
    return name;
  }

  scalar(value: number): string {
    const key = `scalar:${value}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.addInitializer(`const_${value}`, float32Tensor([], Float32Array.of(value)), 'constant');
    this.constants.set(key, name);
    return name;
  }

  int64s(hint: string, values: number[]): string {
    return this.addInitializer(hint, int64Tensor(values), 'constant');
  }

  /** A constant tensor's values as float32, checked against its shape. */
  floats(i: number): Float32Array {
    const t = this.tensor(i);
    if (!t.data) this.fail(`tensor ${this.baseName(i)} must be a constant`);
    if (t.type !== 'float32') this.fail(`tensor ${this.baseName(i)} is ${t.type}; only float32 models are supported`);
    if (t.data.length !== numel(t.shape) * 4) this.fail(`tensor ${this.baseName(i)} holds ${t.data.length} bytes, shape [${t.shape}] needs ${numel(t.shape) * 4}`);
    return tensorFloats(t);
  }

  ints(i: number): number[] {
    const t = this.tensor(i);
    if (!t.data) this.fail(`tensor ${this.baseName(i)} must be a constant`);
    if (t.type !== 'int32' && t.type !== 'int64') this.fail(`tensor ${this.baseName(i)} is ${t.type}, expected int32 or int64`);
    return tensorInts(t);
  }

  /** A TFLite constant as an initializer in `layout`, made once per layout. */
  constant(i: number, layout: Layout, role: InitializerRole, rank = this.rank(i)): string {
    const key = `${i}:${layout}:${rank}`;
    const known = this.constants.get(key);
    if (known) return known;
    const data = this.floats(i);
    let dims = padRank(this.shape(i), rank);
    let values = data;
    if (layout === 'nchw') ({ data: values, dims } = permuteData(data, dims, TO_NCHW));
    const name = this.addInitializer(layout === 'nchw' ? `${this.baseName(i)}/nchw` : this.baseName(i), float32Tensor(dims, values), role);
    this.constants.set(key, name);
    return name;
  }

  native(i: number): string {
    const forms = this.forms.get(i);
    if (forms?.native) return forms.native;
    if (this.isConst(i)) return this.constant(i, 'native', constantRole(this.shape(i)));
    if (!forms?.nchw) this.fail(`tensor ${this.baseName(i)} is read before any operator writes it`);
    const value = this.emit('Transpose', [forms.nchw], { perm: attr.ints(TO_NHWC) }, this.outName(i, 'native'));
    this.define(i, 'native', value);
    return value;
  }

  nchw(i: number): string {
    if (this.rank(i) !== 4) this.fail(`tensor ${this.baseName(i)} has shape [${this.shape(i)}], expected 4-D NHWC`);
    const forms = this.forms.get(i);
    if (forms?.nchw) return forms.nchw;
    if (this.isConst(i)) return this.constant(i, 'nchw', constantRole(this.shape(i)));
    const value = this.emit('Transpose', [this.native(i)], { perm: attr.ints(TO_NCHW) }, this.outName(i, 'nchw'));
    this.define(i, 'nchw', value);
    return value;
  }

  /** An elementwise operand in the layout of a rank-`rank` result (numpy broadcasting, NHWC-aligned). */
  operand(i: number, layout: Layout, rank: number, role?: InitializerRole): string {
    if (layout === 'native') return this.isConst(i) ? this.constant(i, 'native', role ?? constantRole(this.shape(i))) : this.native(i);
    if (this.isConst(i)) return this.constant(i, 'nchw', role ?? constantRole(this.shape(i)), rank);
    if (this.rank(i) === 4) return this.nchw(i);
    // A lower-rank activation broadcast against a 4-D one: pad its rank in NHWC, then transpose.
    const leading = Array.from({ length: 4 - this.rank(i) }, (_, k) => k);
    const unsqueezed = this.emit('Unsqueeze', [this.native(i), this.int64s(`${this.baseName(i)}/axes`, leading)], {}, this.unique(`${this.baseName(i)}/4d`));
    return this.emit('Transpose', [unsqueezed], { perm: attr.ints(TO_NCHW) }, this.unique(`${this.baseName(i)}/4d/nchw`));
  }

  /** The form an op that does not care about layout should read: NCHW when it exists. */
  preferred(i: number): { value: string; layout: Layout } {
    if (this.rank(i) === 4 && (this.hasNchw(i) || this.isConst(i))) return { value: this.nchw(i), layout: 'nchw' };
    return { value: this.native(i), layout: 'native' };
  }

  /** Layout for an op whose inputs and output share axes: NCHW when a 4-D input already is. */
  sharedLayout(inputs: number[], outRank: number): Layout {
    return outRank === 4 && inputs.some((i) => this.rank(i) === 4 && this.hasNchw(i)) ? 'nchw' : 'native';
  }

  /** Kernel-window attributes with TFLite padding made explicit (or SAME_UPPER when sizes are symbolic). */
  window(x: number, padding: Padding, kernel: number[], strides: number[], dilations: number[]): Record<string, Attr> {
    const base = { kernel_shape: attr.ints(kernel), strides: attr.ints(strides) };
    if (padding === 'VALID') return { ...base, pads: attr.ints([0, 0, 0, 0]) };
    if (strides.every((s) => s === 1)) {
      const [[top, bottom], [left, right]] = [0, 1].map((a) => sizeFreeSamePadding(kernel[a], dilations[a]));
      return { ...base, pads: attr.ints([top, left, bottom, right]) };
    }
    const [, h, w] = this.dims(x);
    if (typeof h !== 'number' || typeof w !== 'number') return { ...base, auto_pad: attr.string('SAME_UPPER') };
    const [top, bottom] = samePadding(h, kernel[0], strides[0], dilations[0]);
    const [left, right] = samePadding(w, kernel[1], strides[1], dilations[1]);
    return { ...base, pads: attr.ints([top, left, bottom, right]) };
  }

  bias(op: TfliteOperator, k: number): string[] {
    const b = this.optionalInput(op, k);
    return b === undefined ? [] : [this.constant(b, 'native', 'trainable')];
  }
}

/** Per-channel float constants are learned parameters (PReLU slopes, folded BatchNorm); scalars are not. */
function constantRole(shape: readonly number[]): InitializerRole {
  return numel(shape) > 1 ? 'trainable' : 'constant';
}

function options<K extends TfliteOptions['kind']>(im: Importer, op: TfliteOperator, kind: K): Extract<TfliteOptions, { kind: K }> {
  if (op.options.kind !== kind) im.fail(`${op.op} (operator ${op.index}) has no ${kind} options`);
  return op.options as Extract<TfliteOptions, { kind: K }>;
}

/** The fused activation of ops whose options may be omitted (then NONE). */
function fusedActivation(op: TfliteOperator): FusedActivation {
  return op.options.kind === 'activation' || op.options.kind === 'concatenation' ? op.options.activation : 'NONE';
}

/** The element count of `dims`, or undefined when a dimension is symbolic. */
function staticNumel(dims: readonly Dim[]): number | undefined {
  return dims.every((d): d is number => typeof d === 'number') ? numel(dims as number[]) : undefined;
}

function normalizeAxes(axes: number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

const conv2d: Converter = (im, op) => {
  const o = options(im, op, 'conv2d');
  const [x, w, y] = [im.input(op, 0), im.input(op, 1), im.output(op)];
  const [cout, kh, kw, cinPerGroup] = im.shape(w);
  const cin = im.shape(x)[3];
  if (cin % cinPerGroup !== 0) im.fail(`CONV_2D (operator ${op.index}): ${cin} input channels do not divide into groups of ${cinPerGroup}`);
  const oihw = permuteData(im.floats(w), [cout, kh, kw, cinPerGroup], TO_NCHW);
  const weight = im.addInitializer(im.baseName(w), float32Tensor(oihw.dims, oihw.data), 'trainable');
  const dilations = [o.dilationH, o.dilationW];
  const attrs = { ...im.window(x, o.padding, [kh, kw], [o.strideH, o.strideW], dilations), dilations: attr.ints(dilations), group: attr.int(cin / cinPerGroup) };
  im.finish(y, 'nchw', 'Conv', [im.nchw(x), weight, ...im.bias(op, 2)], attrs, o.activation);
};

const depthwiseConv2d: Converter = (im, op) => {
  const o = options(im, op, 'depthwiseConv2d');
  const [x, w, y] = [im.input(op, 0), im.input(op, 1), im.output(op)];
  const [one, kh, kw, cout] = im.shape(w);
  const cin = im.shape(x)[3];
  if (one !== 1 || cout % cin !== 0) im.fail(`DEPTHWISE_CONV_2D (operator ${op.index}): weights [${im.shape(w)}] do not fit ${cin} input channels`);
  // [1, KH, KW, C*M] -> [C*M, 1, KH, KW]; output channel c*M+m reads input channel c in both.
  const weights = permuteData(im.floats(w), [1, kh, kw, cout], [3, 0, 1, 2]);
  const weight = im.addInitializer(im.baseName(w), float32Tensor(weights.dims, weights.data), 'trainable');
  const dilations = [o.dilationH, o.dilationW];
  const attrs = { ...im.window(x, o.padding, [kh, kw], [o.strideH, o.strideW], dilations), dilations: attr.ints(dilations), group: attr.int(cin) };
  im.finish(y, 'nchw', 'Conv', [im.nchw(x), weight, ...im.bias(op, 2)], attrs, o.activation);
};

function pool(onnxOp: 'MaxPool' | 'AveragePool'): Converter {
  return (im, op) => {
    const o = options(im, op, 'pool2d');
    const [x, y] = [im.input(op, 0), im.output(op)];
    // AveragePool's default count_include_pad=0 matches TFLite, which averages valid pixels only.
    const attrs = im.window(x, o.padding, [o.filterH, o.filterW], [o.strideH, o.strideW], [1, 1]);
    im.finish(y, 'nchw', onnxOp, [im.nchw(x)], attrs, o.activation);
  };
}

const fullyConnected: Converter = (im, op) => {
  const o = options(im, op, 'fullyConnected');
  if (o.weightsFormat !== 0) im.fail(`FULLY_CONNECTED (operator ${op.index}): shuffled weights are not supported`);
  const [x, w, y] = [im.input(op, 0), im.input(op, 1), im.output(op)];
  const [units, depth] = im.shape(w);
  const weights = im.floats(w);
  const xDims = im.dims(x);
  const perItem = staticNumel(xDims.slice(1));
  if (xDims[xDims.length - 1] !== depth && (o.keepNumDims || perItem === undefined || perItem % depth !== 0)) {
    im.fail(`FULLY_CONNECTED (operator ${op.index}): input [${xDims}] does not fit weights [${units},${depth}]`);
  }
  if (o.keepNumDims) {
    const transposed = permuteData(weights, [units, depth], [1, 0]);
    const wt = im.addInitializer(im.baseName(w), float32Tensor(transposed.dims, transposed.data), 'trainable');
    const bias = im.bias(op, 2);
    if (bias.length === 0) return im.finish(y, 'native', 'MatMul', [im.native(x), wt], {}, o.activation);
    const product = im.emit('MatMul', [im.native(x), wt], {}, im.unique(`${im.baseName(y)}/MatMul`));
    return im.finish(y, 'native', 'Add', [product, bias[0]], {}, o.activation);
  }
  // TFLite flattens the input to [-1, depth] in NHWC order. A 4-D input held in NCHW is flattened
  // as it is, and the weight columns are permuted from (h, w, c) to (c, h, w) order to match.
  const nchwFlatten = xDims.length === 4 && im.hasNchw(x) && perItem === depth;
  let matrix = weights;
  let flat: string;
  if (nchwFlatten) {
    const [, h, wd, c] = xDims as number[];
    matrix = permuteData(weights, [units, h, wd, c], [0, 3, 1, 2]).data;
    flat = im.emit('Reshape', [im.nchw(x), im.int64s(`${im.baseName(x)}/flat_shape`, [-1, depth])], {}, im.unique(`${im.baseName(x)}/flat`));
  } else if (xDims.length === 2) {
    flat = im.native(x);
  } else {
    flat = im.emit('Reshape', [im.native(x), im.int64s(`${im.baseName(x)}/flat_shape`, [-1, depth])], {}, im.unique(`${im.baseName(x)}/flat`));
  }
  const weight = im.addInitializer(im.baseName(w), float32Tensor([units, depth], matrix), 'trainable');
  im.finish(y, 'native', 'Gemm', [flat, weight, ...im.bias(op, 2)], { transB: attr.int(1) }, o.activation);
};

function unary(onnxOp: string): Converter {
  return (im, op) => {
    const { value, layout } = im.preferred(im.input(op, 0));
    im.finish(im.output(op), layout, onnxOp, [value], {});
  };
}

function activationOp(act: FusedActivation): Converter {
  return (im, op) => {
    const y = im.output(op);
    const { value, layout } = im.preferred(im.input(op, 0));
    im.define(y, layout, im.activation(value, act, im.outName(y, layout)));
  };
}

function binary(onnxOp: string): Converter {
  return (im, op) => {
    const [a, b, y] = [im.input(op, 0), im.input(op, 1), im.output(op)];
    const rank = im.rank(y);
    const layout = im.sharedLayout([a, b], rank);
    im.finish(y, layout, onnxOp, [im.operand(a, layout, rank), im.operand(b, layout, rank)], {}, fusedActivation(op));
  };
}

const prelu: Converter = (im, op) => {
  const [x, alpha, y] = [im.input(op, 0), im.input(op, 1), im.output(op)];
  const rank = im.rank(y);
  const layout = im.sharedLayout([x], rank);
  im.finish(y, layout, 'PRelu', [im.operand(x, layout, rank), im.operand(alpha, layout, rank, 'trainable')], {});
};

/** ReduceSum takes its axes as an input from opset 13; ReduceMax/ReduceMean as an attribute until 18. */
function reduceNode(im: Importer, onnxOp: string, input: string, axes: number[], keep: boolean, output: string): string {
  const keepdims = { keepdims: attr.int(keep ? 1 : 0) };
  if (onnxOp === 'ReduceSum') return im.emit(onnxOp, [input, im.int64s(`${output}/axes`, axes)], keepdims, output);
  return im.emit(onnxOp, [input], { ...keepdims, axes: attr.ints(axes) }, output);
}

function reduce(onnxOp: string): Converter {
  return (im, op) => {
    const [x, y] = [im.input(op, 0), im.output(op)];
    const keep = op.options.kind === 'reducer' && op.options.keepDims;
    const rank = im.rank(x);
    const axes = normalizeAxes(im.ints(im.input(op, 1)), rank);
    if (axes.some((a) => a < 0 || a >= rank)) im.fail(`${op.op} (operator ${op.index}): axes out of range for rank ${rank}`);
    const { value, layout } = im.preferred(x);
    if (axes.length === 0) return im.finish(y, layout, 'Identity', [value], {});
    if (layout === 'native') return im.define(y, 'native', reduceNode(im, onnxOp, value, axes, keep, im.outName(y, 'native')));
    const nchwAxes = axes.map(nchwAxis).sort((a, b) => a - b);
    if (keep) return im.define(y, 'nchw', reduceNode(im, onnxOp, value, nchwAxes, true, im.outName(y, 'nchw')));
    // Without keep_dims the result has TFLite's axis order only if the kept axes are in the same order.
    const keptNchw = TO_NCHW.filter((a) => !axes.includes(a));
    const keptNhwc = [0, 1, 2, 3].filter((a) => !axes.includes(a));
    if (keptNchw.every((a, k) => a === keptNhwc[k])) return im.define(y, 'native', reduceNode(im, onnxOp, value, nchwAxes, false, im.outName(y, 'native')));
    const kept = reduceNode(im, onnxOp, value, nchwAxes, true, im.unique(`${im.baseName(y)}/keepdims`));
    const nhwc = im.emit('Transpose', [kept], { perm: attr.ints(TO_NHWC) }, im.unique(`${im.baseName(y)}/keepdims/nhwc`));
    im.finish(y, 'native', 'Squeeze', [nhwc, im.int64s(`${im.baseName(y)}/axes`, axes)], {});
  };
}

/** TFLite's last axis, in the form `preferred` returned. */
function lastAxis(layout: Layout, rank: number): number {
  return layout === 'nchw' ? 1 : rank - 1;
}

const softmax: Converter = (im, op) => {
  const [x, y] = [im.input(op, 0), im.output(op)];
  const beta = op.options.kind === 'softmax' ? op.options.beta : 1;
  const { value, layout } = im.preferred(x);
  const scaled = beta === 1 ? value : im.emit('Mul', [value, im.scalar(beta)], {}, im.unique(`${im.baseName(y)}/beta`));
  im.finish(y, layout, 'Softmax', [scaled], { axis: attr.int(lastAxis(layout, im.rank(x))) });
};

const l2Normalization: Converter = (im, op) => {
  const [x, y] = [im.input(op, 0), im.output(op)];
  const { value, layout } = im.preferred(x);
  const base = im.baseName(y);
  const norm = im.emit('ReduceL2', [value], { axes: attr.ints([lastAxis(layout, im.rank(x))]), keepdims: attr.int(1) }, im.unique(`${base}/norm`));
  const floored = im.emit('Max', [norm, im.scalar(L2_NORM_EPSILON)], {}, im.unique(`${base}/norm_floor`));
  im.finish(y, layout, 'Div', [value, floored], {}, fusedActivation(op));
};

const concatenation: Converter = (im, op) => {
  const o = options(im, op, 'concatenation');
  const y = im.output(op);
  const inputs = op.inputs.filter((i) => i >= 0);
  const rank = im.rank(y);
  const axis = o.axis < 0 ? o.axis + rank : o.axis;
  const layout = im.sharedLayout(inputs, rank);
  const onnxAxis = layout === 'nchw' ? nchwAxis(axis) : axis;
  im.finish(y, layout, 'Concat', inputs.map((i) => im.operand(i, layout, rank)), { axis: attr.int(onnxAxis) }, o.activation);
};

const pad: Converter = (im, op) => {
  const [x, y] = [im.input(op, 0), im.output(op)];
  const rank = im.rank(x);
  const flat = im.ints(im.input(op, 1));
  if (flat.length !== 2 * rank) im.fail(`PAD (operator ${op.index}): paddings have ${flat.length} values, expected ${2 * rank}`);
  const { value, layout } = im.preferred(x);
  const order = layout === 'nchw' ? TO_NCHW : Array.from({ length: rank }, (_, k) => k);
  const pads = [...order.map((a) => flat[2 * a]), ...order.map((a) => flat[2 * a + 1])];
  im.finish(y, layout, 'Pad', [value, im.int64s(`${im.baseName(y)}/pads`, pads)], {});
};

/**
 * TFLite's RESHAPE target, made batch-independent: a target whose first entry is the file's
 * batch and whose other entries hold one item's elements becomes [-1, ...]; a -1 already
 * present resolves the same way in ONNX. Anything else mixes the batch and is kept literally.
 */
function reshapeTarget(requested: number[], fileBatch: number | undefined, perItem: number): number[] {
  if (requested.length === 0 || requested[0] !== fileBatch) return requested;
  const rest = requested.slice(1);
  const known = numel(rest.filter((d) => d !== -1));
  const resolved = rest.map((d) => (d === -1 ? perItem / known : d));
  return numel(resolved) === perItem ? [-1, ...resolved] : requested;
}

const reshape: Converter = (im, op) => {
  const [x, y] = [im.input(op, 0), im.output(op)];
  const shapeInput = im.optionalInput(op, 1);
  const requested = shapeInput !== undefined ? im.ints(shapeInput) : op.options.kind === 'reshape' && op.options.newShape ? op.options.newShape : im.shape(y);
  const from = im.dims(x);
  const perItem = staticNumel(from.slice(1)) ?? im.fail(`RESHAPE (operator ${op.index}) of [${from}] depends on the image size; import without dynamicSpatial`);
  const target = im.isConst(x) ? requested : reshapeTarget(requested, im.shape(x)[0], perItem);
  // TFLite reshapes in NHWC order; an NCHW value with the same element order can be read directly.
  const source = im.hasNchw(x) && sameMemoryOrder(from) ? im.nchw(x) : im.native(x);
  im.finish(y, 'native', 'Reshape', [source, im.int64s(`${im.baseName(y)}/shape`, target)], {});
};

const CONVERTERS: Record<string, Converter> = {
  CONV_2D: conv2d,
  DEPTHWISE_CONV_2D: depthwiseConv2d,
  MAX_POOL_2D: pool('MaxPool'),
  AVERAGE_POOL_2D: pool('AveragePool'),
  FULLY_CONNECTED: fullyConnected,
  RELU: activationOp('RELU'),
  RELU6: activationOp('RELU6'),
  RELU_N1_TO_1: activationOp('RELU_N1_TO_1'),
  TANH: activationOp('TANH'),
  PRELU: prelu,
  NEG: unary('Neg'),
  ABS: unary('Abs'),
  EXP: unary('Exp'),
  LOGISTIC: unary('Sigmoid'),
  ADD: binary('Add'),
  SUB: binary('Sub'),
  MUL: binary('Mul'),
  DIV: binary('Div'),
  MAXIMUM: binary('Max'),
  MINIMUM: binary('Min'),
  SUM: reduce('ReduceSum'),
  MEAN: reduce('ReduceMean'),
  REDUCE_MAX: reduce('ReduceMax'),
  RESHAPE: reshape,
  SOFTMAX: softmax,
  CONCATENATION: concatenation,
  L2_NORMALIZATION: l2Normalization,
  PAD: pad,
};

export const SUPPORTED_TFLITE_OPS: readonly string[] = Object.keys(CONVERTERS).sort();

function checkSupported(sg: TfliteSubgraph, source: string): void {
  for (const op of sg.operators) {
    if (!CONVERTERS[op.op]) {
      const what = op.op === 'CUSTOM' ? `custom op ${op.customCode ?? '?'}` : `op ${op.op}`;
      throw new TfliteImportError(`${source}: unsupported TFLite ${what} (supported: ${SUPPORTED_TFLITE_OPS.join(', ')})`);
    }
  }
  for (const t of sg.tensors) {
    if (QUANTIZED_TYPES.has(t.type) || (t.quantization && t.type !== 'float32')) {
      throw new TfliteImportError(`${source}: tensor ${t.name} is ${t.type} (quantized); quantized TFLite models are not supported yet, only float32`);
    }
  }
}

function declareInputs(im: Importer): void {
  for (const i of im.sg.inputs) {
    const t = im.tensor(i);
    if (t.type !== 'float32') im.fail(`input ${t.name} is ${t.type}; only float32 inputs are supported`);
    const shape: Shape = t.shape.slice();
    if (shape.length > 0) shape[0] = 'N';
    if (im.opts.dynamicSpatial && shape.length === 4) [shape[1], shape[2]] = ['H', 'W'];
    const name = im.outName(i, 'native');
    im.graph.inputs.push({ name, dtype: 'float32', shape });
    im.define(i, 'native', name);
  }
}

function declareOutputs(im: Importer): void {
  for (const i of im.sg.outputs) {
    if (im.isConst(i)) im.fail(`output ${im.baseName(i)} is a constant`);
    im.graph.outputs.push({ name: im.native(i), dtype: 'float32', shape: [] });
  }
}

/** Imports subgraph 0 of a float32 .tflite file; `source` names the file in error messages. */
export function importTflite(bytes: Uint8Array, source: string, opts: TfliteImportOptions = {}): Graph {
  const model = readTfliteModel(bytes, source);
  checkSupported(model.subgraphs[0], source);
  const sg = opts.fusePrelu === false ? model.subgraphs[0] : fusePrelu(model.subgraphs[0]).subgraph;
  const im = new Importer(sg, source, opts);
  declareInputs(im);
  for (const op of sg.operators) CONVERTERS[op.op](im, op);
  declareOutputs(im);
  im.graph.producer = 'arcface tflite import';
  im.graph.metadata[METADATA_KEYS.layout] = 'NHWC';
  if (model.description) im.graph.metadata.tflite_description = model.description;
  resolveOutputs(im.graph);
  if (opts.dynamicSpatial) nameDerivedSizes(im.graph);
  return im.graph;
}

/**
 * Shape inference carries a symbolic size through windowed ops unchanged, but an output's
 * height is not the input's H (P-Net maps are about H/2 - 5). Give such dims their own names
 * so the ONNX file does not claim they are equal; the batch (axis 0) is genuinely shared.
 */
function nameDerivedSizes(graph: Graph): void {
  graph.outputs = graph.outputs.map((o, k) => ({ ...o, shape: o.shape.map((d, axis) => (axis > 0 && typeof d === 'string' ? `${d}_out${k}` : d)) }));
}
