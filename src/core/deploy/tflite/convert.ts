import { InputError } from '../../errors';
import { consumers } from '../../graph/edit';
import { inferShapes } from '../../graph/shapes';
import { Dim, Graph, Node, getAttr, numel } from '../../graph/types';
import { QuantParams, Range, activationParams, quantizeBias, quantizePerChannel, quantizeValue } from '../quantize/params';
import { TO_NHWC, padRank, permuteData, samePadding } from './layout';
import { FusedActivation, TfliteOptions, TfliteQuantization } from './schema';
import { ModelSpec, OperatorSpec, TensorSpec } from './writer';

/**
 * The project's graph (ONNX semantics, NCHW) as a TFLite model (NHWC). Every ONNX tensor is held
 * by TFLite tensors in one or more layouts, each a permutation of the ONNX axes; an op asks for
 * the layout it needs (convolutions NHWC, reshapes the ONNX order) and a TRANSPOSE is written only
 * when no tensor in that layout exists yet. ONNX Transposes themselves cost nothing: their output
 * is the same TFLite tensor seen through another permutation. Image inputs are presented NHWC.
 *
 * int8 ("full integer"): activations int8 asymmetric from calibrated ranges, conv weights int8
 * symmetric per output channel, fully connected weights per tensor, biases int32 at input scale x
 * weight scale; a QUANTIZE after each float input and a DEQUANTIZE before each float output, so
 * callers feed and read float32 as with the float model.
 */

export class TfliteExportError extends InputError {}

export interface ConvertOptions {
  /** The batch written into shapes; the shape signature marks it resizable (-1). */
  batch: number;
  /** Calibrated ranges of every activation tensor: makes a full-integer int8 model. */
  int8Ranges?: Map<string, Range>;
  description: string;
  /** Extra named metadata buffers. */
  metadata: { name: string; data: Uint8Array }[];
  signatureKey: string;
  /**
   * Float only: write PReLU as RELU, SUB, MUL, ADD instead of one PRELU, for runtimes without a
   * PRELU kernel (Arm NN's TFLite parser up to 21.x).
   */
  decomposePrelu?: boolean;
}

interface Form {
  index: number;
  /** TFLite tensor = ONNX tensor transposed by `perm` (TFLite axis k is ONNX axis perm[k]). */
  perm: number[];
}

const INT8_SCHEME = { type: 'int8', symmetric: false } as const;

function identity(rank: number): number[] {
  return Array.from({ length: rank }, (_, k) => k);
}

function inverse(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, k) => (inv[p] = k));
  return inv;
}

function sameArray(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function int32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Int32Array.from(values).buffer);
}

function floatBytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function quantization(p: QuantParams): TfliteQuantization {
  return { scale: [p.scale], zeroPoint: [p.zeroPoint], quantizedDimension: 0 };
}

/** The padding of a 2-D window op, as TFLite sees it: VALID, SAME, or explicit pads before a VALID op. */
interface WindowPadding {
  padding: 'SAME' | 'VALID';
  /** [top, bottom, left, right] for a separate PAD, when neither SAME nor VALID fits. */
  explicit?: [number, number, number, number];
}

class Converter {
  readonly tensors: TensorSpec[] = [];
  readonly operators: OperatorSpec[] = [];
  readonly forms = new Map<string, Form[]>();
  readonly shapes: Map<string, number[]>;
  readonly readers: Map<string, Node[]>;
  readonly outputs: Set<string>;
  /** Nodes folded into an earlier op (fused activations, L2 normalization parts). */
  readonly done = new Set<Node>();
  private readonly names = new Set<string>();

  constructor(
    readonly graph: Graph,
    readonly opts: ConvertOptions,
  ) {
    this.shapes = concreteShapes(graph, opts.batch);
    this.readers = consumers(graph);
    this.outputs = new Set(graph.outputs.map((o) => o.name));
  }

  get int8(): boolean {
    return this.opts.int8Ranges !== undefined;
  }

  fail(node: Node, message: string): never {
    throw new TfliteExportError(`node ${node.name} (${node.opType}): ${message}`);
  }

  shape(t: string): number[] {
    const s = this.shapes.get(t);
    if (!s) throw new TfliteExportError(`tensor ${t} has no known shape`);
    return s;
  }

  uniqueName(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  addTensor(t: TensorSpec): number {
    this.tensors.push({ ...t, name: this.uniqueName(t.name) });
    return this.tensors.length - 1;
  }

  /** An activation tensor; its batch (axis `batchAxis`) may be resized. */
  addActivation(name: string, shape: number[], quant: QuantParams | undefined, batchAxis: number | undefined, type: 'float32' | 'int8' = quant ? 'int8' : 'float32'): number {
    const shapeSignature = batchAxis === undefined ? undefined : shape.map((d, k) => (k === batchAxis ? -1 : d));
    return this.addTensor({ name, shape, shapeSignature, type, quantization: quant ? quantization(quant) : undefined });
  }

  constant(name: string, t: Omit<TensorSpec, 'name'>): number {
    return this.addTensor({ name, ...t });
  }

  int32Constant(name: string, values: readonly number[]): number {
    return this.constant(name, { shape: [values.length], type: 'int32', data: int32Bytes(values) });
  }

  emit(op: string, version: number, inputs: number[], outputs: number[], options?: TfliteOptions): void {
    this.operators.push({ op, version, inputs, outputs, options });
  }

  /** Calibrated int8 parameters of ONNX tensor `t`. */
  quant(t: string): QuantParams | undefined {
    if (!this.opts.int8Ranges) return undefined;
    const range = this.opts.int8Ranges.get(t);
    if (!range) throw new TfliteExportError(`no calibrated range for tensor ${t}`);
    return activationParams(range, INT8_SCHEME);
  }

  quantOfIndex(index: number): QuantParams | undefined {
    const q = this.tensors[index].quantization;
    return q ? { scale: q.scale[0], zeroPoint: q.zeroPoint[0], type: 'int8' } : undefined;
  }

  /** Records that TFLite tensor `index` holds ONNX tensor `t` transposed by `perm`. */
  define(t: string, index: number, perm: number[]): void {
    const list = this.forms.get(t) ?? [];
    list.push({ index, perm });
    this.forms.set(t, list);
  }

  firstForm(t: string): Form {
    const f = this.forms.get(t)?.[0];
    if (!f) throw new TfliteExportError(`tensor ${t} is read before anything writes it`);
    return f;
  }

  /** ONNX tensor `t` as a TFLite tensor in layout `perm`, transposing an existing form if needed. */
  value(t: string, perm: number[]): number {
    const forms = this.forms.get(t) ?? [];
    const found = forms.find((f) => sameArray(f.perm, perm));
    if (found) return found.index;
    const from = this.firstForm(t);
    // TFLite axis k of the new tensor is ONNX axis perm[k], which the old one holds at inv[perm[k]].
    const inv = inverse(from.perm);
    const q = perm.map((p) => inv[p]);
    const shape = perm.map((p) => this.shape(t)[p]);
    const out = this.addActivation(`${t}/${perm.join('')}`, shape, this.quantOfIndex(from.index), perm.indexOf(0));
    this.emit('TRANSPOSE', this.int8 ? 2 : 1, [from.index, this.int32Constant(`${t}/perm${q.join('')}`, q)], [out]);
    this.define(t, out, perm);
    return out;
  }

  /** A new activation tensor for ONNX output `t` in layout `perm`. */
  output(t: string, perm: number[], quant = this.quant(t)): number {
    const shape = perm.map((p) => this.shape(t)[p]);
    // An int8 graph output is followed by a DEQUANTIZE that takes the output's name.
    const name = this.int8 && this.outputs.has(t) ? `${t}/int8` : perm.every((p, k) => p === k) ? t : `${t}/${perm.join('')}`;
    const index = this.addActivation(name, shape, quant, perm.indexOf(0));
    this.define(t, index, perm);
    return index;
  }

  /** A float constant (ONNX initializer `name`) broadcast to rank `rank` and laid out by `perm`. */
  broadcastConstant(name: string, rank: number, perm: number[]): { values: Float32Array; shape: number[] } {
    const init = this.graph.initializers.get(name)?.tensor;
    if (!init || init.dtype !== 'float32') throw new TfliteExportError(`constant ${name} is not float32`);
    return this.broadcastValues(init.data as Float32Array, init.dims, rank, perm);
  }

  broadcastValues(values: Float32Array, valueDims: readonly number[], rank: number, perm: number[]): { values: Float32Array; shape: number[] } {
    const dims = padRank(valueDims, rank);
    const permuted = permuteData(values, dims, perm);
    // Leading 1s carry nothing; TFLite broadcasts from the right like numpy.
    let shape = permuted.dims;
    while (shape.length > 1 && shape[0] === 1) shape = shape.slice(1);
    return { values: permuted.data, shape };
  }

  /** Window padding for a 2-D op on an NHWC input of ONNX shape [N, C, H, W]. */
  windowPadding(node: Node, inputShape: number[], kernel: number[], strides: number[], dilations: number[]): WindowPadding {
    const autoPad = getAttr(node, 'auto_pad', 'string') ?? 'NOTSET';
    if (autoPad === 'VALID') return { padding: 'VALID' };
    if (autoPad === 'SAME_UPPER') return { padding: 'SAME' };
    if (autoPad !== 'NOTSET') this.fail(node, `auto_pad ${autoPad} has no TFLite equivalent`);
    const [top, left, bottom, right] = getAttr(node, 'pads', 'ints') ?? [0, 0, 0, 0];
    if (top === 0 && left === 0 && bottom === 0 && right === 0) return { padding: 'VALID' };
    const [sameTop, sameBottom] = samePadding(inputShape[2], kernel[0], strides[0], dilations[0]);
    const [sameLeft, sameRight] = samePadding(inputShape[3], kernel[1], strides[1], dilations[1]);
    if (top === sameTop && bottom === sameBottom && left === sameLeft && right === sameRight) return { padding: 'SAME' };
    return { padding: 'VALID', explicit: [top, bottom, left, right] };
  }

  /** Writes a PAD (value 0, or `fill`) in front of a VALID window op; returns the padded NHWC tensor. */
  padInput(t: string, input: number, pads: [number, number, number, number], fill?: number): number {
    const [top, bottom, left, right] = pads;
    const [n, h, w, c] = this.tensors[input].shape;
    const shape = [n, h + top + bottom, w + left + right, c];
    const quant = this.quantOfIndex(input);
    const out = this.addActivation(`${t}/padded`, shape, quant, 0);
    const paddings = this.constant(`${t}/paddings`, { shape: [4, 2], type: 'int32', data: int32Bytes([0, 0, top, bottom, left, right, 0, 0]) });
    if (fill === undefined) {
      // PAD fills with the zero point: exactly 0 in real terms.
      this.emit('PAD', this.int8 ? 2 : 1, [input, paddings], [out], { kind: 'other', unionType: 22 });
      return out;
    }
    const value = quant
      ? this.constant(`${t}/pad_value`, { shape: [], type: 'int8', data: new Uint8Array(Int8Array.of(-128).buffer), quantization: quantization(quant) })
      : this.constant(`${t}/pad_value`, { shape: [], type: 'float32', data: floatBytes(Float32Array.of(fill)) });
    this.emit('PADV2', this.int8 ? 2 : 1, [input, paddings, value], [out], { kind: 'other', unionType: 43 });
    return out;
  }

  /** The activation a sole Relu/Clip reader of `t` applies, fused into the op writing `t`. */
  fusedActivation(t: string): { activation: FusedActivation; output: string } {
    const readers = this.readers.get(t) ?? [];
    if (readers.length !== 1 || this.outputs.has(t)) return { activation: 'NONE', output: t };
    const next = readers[0];
    if (next.opType === 'Relu') {
      this.done.add(next);
      return { activation: 'RELU', output: next.outputs[0] };
    }
    if (next.opType === 'Clip') {
      const lo = this.scalarInput(next, 1);
      const hi = this.scalarInput(next, 2);
      const act: FusedActivation | undefined = lo === 0 && hi === 6 ? 'RELU6' : lo === -1 && hi === 1 ? 'RELU_N1_TO_1' : undefined;
      if (act) {
        this.done.add(next);
        return { activation: act, output: next.outputs[0] };
      }
    }
    return { activation: 'NONE', output: t };
  }

  /** True when `t` is the output of an op that never gives negative values. */
  nonNegative(t: string): boolean {
    const producer = this.graph.nodes.find((n) => n.outputs.includes(t));
    if (!producer) return false;
    if (producer.opType === 'Relu' || producer.opType === 'Sigmoid') return true;
    return producer.opType === 'Clip' && (this.scalarInput(producer, 1) ?? -1) >= 0;
  }

  scalarInput(node: Node, slot: number): number | undefined {
    const name = node.inputs[slot];
    const t = name ? this.graph.initializers.get(name)?.tensor : undefined;
    return t && t.data.length === 1 ? Number(t.data[0]) : undefined;
  }

  floatInit(node: Node, slot: number): { values: Float32Array; dims: number[] } {
    const t = this.graph.initializers.get(node.inputs[slot])?.tensor;
    if (!t || t.dtype !== 'float32') this.fail(node, `input ${slot} must be a float32 constant`);
    return { values: t.data as Float32Array, dims: t.dims };
  }
}

/** Every tensor's shape with the batch symbol replaced by `batch`; other symbols are refused. */
function concreteShapes(graph: Graph, batch: number): Map<string, number[]> {
  const batchSymbol = graph.inputs[0]?.shape[0];
  const concrete = (shape: Dim[], name: string) =>
    shape.map((d) => {
      if (typeof d === 'number') return d;
      if (d === batchSymbol) return batch;
      throw new TfliteExportError(`tensor ${name} has a dimension '${d}' that depends on the input size; TFLite needs fixed sizes besides the batch`);
    });
  const out = new Map<string, number[]>();
  for (const [name, info] of inferShapes(graph)) out.set(name, concrete(info.shape, name));
  return out;
}

type OpConverter = (c: Converter, node: Node) => void;

const conv: OpConverter = (c, node) => {
  const [x, wName] = node.inputs;
  const w = c.floatInit(node, 1);
  if (w.dims.length !== 4) c.fail(node, 'only 2-D convolutions are supported');
  const [outC, perGroup, kh, kw] = w.dims;
  const inShape = c.shape(x);
  const inC = inShape[1];
  const group = getAttr(node, 'group', 'int') ?? 1;
  const strides = getAttr(node, 'strides', 'ints') ?? [1, 1];
  const dilations = getAttr(node, 'dilations', 'ints') ?? [1, 1];
  const pad = c.windowPadding(node, inShape, [kh, kw], strides, dilations);
  let input = c.value(x, TO_NHWC);
  if (pad.explicit) input = c.padInput(x, input, pad.explicit);
  const { activation, output } = c.fusedActivation(node.outputs[0]);
  const depthwise = group === inC && perGroup === 1 && group > 1;
  const inQuant = c.quantOfIndex(input);
  const outQuant = c.quant(output);
  // Weights: CONV_2D [O, KH, KW, I/g]; DEPTHWISE_CONV_2D [1, KH, KW, O].
  const layout = depthwise ? permuteData(w.values, w.dims, [1, 2, 3, 0]) : permuteData(w.values, w.dims, [0, 2, 3, 1]);
  const channelAxis = depthwise ? 3 : 0;
  let weight: number;
  let bias: number;
  const biasValues = node.inputs[2] ? c.floatInit(node, 2).values : new Float32Array(outC);
  if (inQuant) {
    const q = quantizePerChannel(layout.data, layout.dims, channelAxis);
    weight = c.constant(`${wName}/int8`, {
      shape: layout.dims,
      type: 'int8',
      data: new Uint8Array(q.data.buffer),
      quantization: { scale: Array.from(q.scales), zeroPoint: new Array(outC).fill(0), quantizedDimension: channelAxis },
    });
    const b = quantizeBias(biasValues, inQuant.scale, q.scales);
    bias = c.constant(`${node.name}/bias_int32`, {
      shape: [outC],
      type: 'int32',
      data: new Uint8Array(b.data.buffer),
      quantization: { scale: Array.from(b.scales), zeroPoint: new Array(outC).fill(0), quantizedDimension: 0 },
    });
  } else {
    weight = c.constant(wName, { shape: layout.dims, type: 'float32', data: floatBytes(layout.data) });
    bias = c.constant(node.inputs[2] || `${node.name}/bias`, { shape: [outC], type: 'float32', data: floatBytes(biasValues) });
  }
  const out = c.output(output, TO_NHWC, outQuant);
  const common = { padding: pad.padding, strideW: strides[1], strideH: strides[0], activation, dilationW: dilations[1], dilationH: dilations[0] };
  if (depthwise) {
    c.emit('DEPTHWISE_CONV_2D', inQuant ? 3 : 1, [input, weight, bias], [out], { kind: 'depthwiseConv2d', ...common, depthMultiplier: outC / inC });
  } else {
    // Grouped convolutions (1 < group < channels) are CONV_2D with filters of I/g channels.
    c.emit('CONV_2D', inQuant ? 3 : 1, [input, weight, bias], [out], { kind: 'conv2d', ...common });
  }
};

/** Gemm (transA 0, alpha = beta = 1) and MatMul with constant 2-D weights: FULLY_CONNECTED. */
const fullyConnected: OpConverter = (c, node) => {
  const x = node.inputs[0];
  const w = c.floatInit(node, 1);
  if (w.dims.length !== 2) c.fail(node, 'weights must be 2-D');
  const plain = (getAttr(node, 'transA', 'int') ?? 0) === 0 && (getAttr(node, 'alpha', 'float') ?? 1) === 1 && (getAttr(node, 'beta', 'float') ?? 1) === 1;
  if (!plain) c.fail(node, 'only transA = 0, alpha = beta = 1 is supported');
  const transB = node.opType === 'Gemm' && (getAttr(node, 'transB', 'int') ?? 0) === 1;
  // TFLite wants [units, depth]: Gemm(transB=1)'s layout; MatMul's [depth, units] is transposed.
  const matrix = transB ? { data: w.values, dims: w.dims } : permuteData(w.values, w.dims, [1, 0]);
  const [units, depth] = matrix.dims;
  const rank = c.shape(x).length;
  if (c.shape(x)[rank - 1] !== depth) c.fail(node, `input [${c.shape(x)}] does not fit weights [${w.dims}]`);
  const input = c.value(x, identity(rank));
  const { activation, output } = c.fusedActivation(node.outputs[0]);
  const inQuant = c.quantOfIndex(input);
  const biasValues = node.opType === 'Gemm' && node.inputs[2] ? c.floatInit(node, 2).values : new Float32Array(units);
  if (biasValues.length !== units) c.fail(node, `bias has ${biasValues.length} values, expected ${units}`);
  let weight: number;
  let bias: number;
  if (inQuant) {
    const q = quantizePerChannel(matrix.data, [1, matrix.data.length], 0);
    weight = c.constant(`${node.inputs[1]}/int8`, { shape: [units, depth], type: 'int8', data: new Uint8Array(q.data.buffer), quantization: { scale: [q.scales[0]], zeroPoint: [0], quantizedDimension: 0 } });
    const b = quantizeBias(biasValues, inQuant.scale, q.scales);
    bias = c.constant(`${node.name}/bias_int32`, { shape: [units], type: 'int32', data: new Uint8Array(b.data.buffer), quantization: { scale: [b.scales[0]], zeroPoint: [0], quantizedDimension: 0 } });
  } else {
    weight = c.constant(node.inputs[1], { shape: [units, depth], type: 'float32', data: floatBytes(matrix.data) });
    bias = c.constant(`${node.name}/bias`, { shape: [units], type: 'float32', data: floatBytes(biasValues) });
  }
  const out = c.output(output, identity(rank));
  c.emit('FULLY_CONNECTED', inQuant ? 4 : 1, [input, weight, bias], [out], { kind: 'fullyConnected', activation, weightsFormat: 0, keepNumDims: rank > 2 });
};

/** The layout an elementwise op works in: that of its first activation operand. */
function elementwiseLayout(c: Converter, node: Node): number[] {
  const active = node.inputs.find((t) => t !== '' && !c.graph.initializers.has(t));
  if (!active) c.fail(node, 'all inputs are constants');
  const rank = c.shape(node.outputs[0]).length;
  const perm = c.firstForm(active).perm;
  return perm.length === rank ? perm : identity(rank);
}

/** A constant operand: an initializer of the graph, or values made by a converter. */
type Inline = { name: string; tensor: { dims: number[]; data: Float32Array } };

/** An operand of an elementwise op in layout `perm` (constants broadcast and permuted; int8 quantized per tensor). */
function operand(c: Converter, t: string | Inline, perm: number[]): number {
  if (typeof t === 'string' && !c.graph.initializers.has(t)) return c.value(t, perm);
  const { values, shape } = typeof t === 'string' ? c.broadcastConstant(t, perm.length, perm) : c.broadcastValues(t.tensor.data, t.tensor.dims, perm.length, perm);
  const name = typeof t === 'string' ? t : t.name;
  if (!c.int8) return c.constant(name, { shape, type: 'float32', data: floatBytes(values) });
  const range = values.reduce((r, v) => ({ min: Math.min(r.min, v), max: Math.max(r.max, v) }), { min: 0, max: 0 });
  const p = activationParams(range, INT8_SCHEME);
  const data = Int8Array.from(values, (v) => quantizeValue(v, p));
  return c.constant(`${name}/int8`, { shape, type: 'int8', data: new Uint8Array(data.buffer), quantization: quantization(p) });
}

function binary(op: 'ADD' | 'SUB' | 'MUL' | 'DIV'): OpConverter {
  return (c, node) => {
    if (op === 'DIV' && c.int8) c.fail(node, 'DIV has no int8 kernel in TFLite');
    const perm = elementwiseLayout(c, node);
    const inputs = node.inputs.map((t) => operand(c, t, perm));
    const { activation, output } = c.fusedActivation(node.outputs[0]);
    c.emit(op, c.int8 ? 2 : 1, inputs, [c.output(output, perm)], { kind: 'activation', activation });
  };
}

/** x * scale + shift with per-channel constants (an unfolded inference BatchNorm), float only. */
function scaleShift(c: Converter, node: Node, scale: Inline, shift: Inline): void {
  const perm = elementwiseLayout(c, node);
  const scaled = c.addActivation(`${node.name}/scaled`, perm.map((p) => c.shape(node.outputs[0])[p]), undefined, perm.indexOf(0));
  c.emit('MUL', 1, [c.value(node.inputs[0], perm), operand(c, scale, perm)], [scaled], { kind: 'activation', activation: 'NONE' });
  const { activation, output } = c.fusedActivation(node.outputs[0]);
  c.emit('ADD', 1, [scaled, operand(c, shift, perm)], [c.output(output, perm)], { kind: 'activation', activation });
}

const prelu: OpConverter = (c, node) => {
  const perm = elementwiseLayout(c, node);
  const x = c.value(node.inputs[0], perm);
  const alpha = operand(c, node.inputs[1], perm);
  if (!c.opts.decomposePrelu || c.int8) {
    c.emit('PRELU', 1, [x, alpha], [c.output(node.outputs[0], perm)]);
    return;
  }
  // relu(x) + alpha * (x - relu(x)): four ops any runtime has, exact in float.
  const shape = c.tensors[x].shape;
  const batchAxis = perm.indexOf(0);
  const positive = c.addActivation(`${node.name}/relu`, shape, undefined, batchAxis);
  const negative = c.addActivation(`${node.name}/negative_part`, shape, undefined, batchAxis);
  const scaled = c.addActivation(`${node.name}/scaled`, shape, undefined, batchAxis);
  const none = { kind: 'activation', activation: 'NONE' } as const;
  c.emit('RELU', 1, [x], [positive]);
  c.emit('SUB', 1, [x, positive], [negative], none);
  c.emit('MUL', 1, [negative, alpha], [scaled], none);
  c.emit('ADD', 1, [positive, scaled], [c.output(node.outputs[0], perm)], none);
};

function unary(op: string, fixedQuant?: QuantParams): OpConverter {
  return (c, node) => {
    const perm = elementwiseLayout(c, node);
    c.emit(op, c.int8 ? 2 : 1, [c.value(node.inputs[0], perm)], [c.output(node.outputs[0], perm, c.int8 ? fixedQuant ?? c.quant(node.outputs[0]) : undefined)]);
  };
}

const clip: OpConverter = (c, node) => {
  const lo = c.scalarInput(node, 1);
  const hi = c.scalarInput(node, 2);
  if (lo === 0 && hi === 6) return unary('RELU6')(c, node);
  if (lo === -1 && hi === 1) return unary('RELU_N1_TO_1')(c, node);
  c.fail(node, `Clip to [${lo}, ${hi}] has no TFLite equivalent here (only [0, 6] and [-1, 1])`);
};

function pool(op: 'MAX_POOL_2D' | 'AVERAGE_POOL_2D'): OpConverter {
  return (c, node) => {
    const x = node.inputs[0];
    const kernel = getAttr(node, 'kernel_shape', 'ints') ?? [];
    const strides = getAttr(node, 'strides', 'ints') ?? [1, 1];
    if (kernel.length !== 2) c.fail(node, 'only 2-D pooling is supported');
    if ((getAttr(node, 'ceil_mode', 'int') ?? 0) !== 0) c.fail(node, 'ceil_mode has no TFLite equivalent');
    const pad = c.windowPadding(node, c.shape(x), kernel, strides, [1, 1]);
    let input = c.value(x, TO_NHWC);
    if (pad.explicit) {
      // Average pooling would count padded pixels that ONNX (count_include_pad 0) does not.
      if (op === 'AVERAGE_POOL_2D') c.fail(node, 'asymmetric average-pool padding has no TFLite equivalent');
      // After a ReLU, zero padding is as good as -inf for a max (and PAD runs where PADV2 does not).
      input = c.padInput(x, input, pad.explicit, c.nonNegative(x) ? undefined : -3.4028234663852886e38);
    }
    // Max pooling keeps the input's quantization (TFLite requires it).
    const out = c.output(node.outputs[0], TO_NHWC, op === 'MAX_POOL_2D' ? c.quantOfIndex(input) : c.quant(node.outputs[0]));
    c.emit(op, c.int8 ? 2 : 1, [input], [out], { kind: 'pool2d', padding: pad.padding, strideW: strides[1], strideH: strides[0], filterW: kernel[1], filterH: kernel[0], activation: 'NONE' });
  };
}

const globalAveragePool: OpConverter = (c, node) => {
  const input = c.value(node.inputs[0], TO_NHWC);
  const out = c.output(node.outputs[0], TO_NHWC);
  c.emit('MEAN', c.int8 ? 2 : 1, [input, c.int32Constant(`${node.name}/axes`, [1, 2])], [out], { kind: 'reducer', keepDims: true });
};

/** Flatten and Reshape: in ONNX element order, read from any form with that order. */
const reshape: OpConverter = (c, node) => {
  const x = node.inputs[0];
  const inShape = c.shape(x);
  const outShape = c.shape(node.outputs[0]);
  // A form whose element order matches ONNX's (all non-unit axes in order) can be reshaped directly.
  const ordered = (c.forms.get(x) ?? []).find((f) => {
    const nonUnit = f.perm.filter((p) => inShape[p] !== 1);
    return nonUnit.every((p, k) => k === 0 || p > nonUnit[k - 1]);
  });
  const input = ordered ? ordered.index : c.value(x, identity(inShape.length));
  // The batch stays resizable: -1 where ONNX has the batch.
  const target = outShape.map((d, k) => (k === 0 && d === c.opts.batch ? -1 : d));
  const out = c.output(node.outputs[0], identity(outShape.length), c.quantOfIndex(input));
  c.emit('RESHAPE', 1, [input, c.int32Constant(`${node.name}/shape`, target)], [out], { kind: 'reshape', newShape: target });
};

/** ONNX Transpose: the same TFLite tensor, seen through the composed permutation. */
const transpose: OpConverter = (c, node) => {
  const x = node.inputs[0];
  const rank = c.shape(x).length;
  const perm = getAttr(node, 'perm', 'ints') ?? identity(rank).reverse();
  const pinv = inverse(perm);
  for (const f of c.forms.get(x) ?? []) c.define(node.outputs[0], f.index, f.perm.map((p) => pinv[p]));
};

/** ReduceL2 -> Max(eps) -> Div (export-onnx's L2-normalised output): one L2_NORMALIZATION over the last axis. */
const reduceL2: OpConverter = (c, node) => {
  const x = node.inputs[0];
  const rank = c.shape(x).length;
  const axes = (getAttr(node, 'axes', 'ints') ?? []).map((a) => (a < 0 ? a + rank : a));
  const [max] = c.readers.get(node.outputs[0]) ?? [];
  const [div] = max ? (c.readers.get(max.outputs[0]) ?? []) : [];
  const matches =
    axes.length === 1 && axes[0] === rank - 1 && max?.opType === 'Max' && div?.opType === 'Div' && div.inputs[0] === x && div.inputs[1] === max.outputs[0] && (c.scalarInput(max, 1) ?? 1) <= 1e-6;
  if (!matches) c.fail(node, 'only ReduceL2 -> Max(eps) -> Div over the last axis (L2 normalisation) is supported');
  c.done.add(max);
  c.done.add(div);
  // int8 L2_NORMALIZATION requires output scale 1/128 and zero point 0.
  const out = c.output(div.outputs[0], identity(rank), c.int8 ? { scale: 1 / 128, zeroPoint: 0, type: 'int8' } : undefined);
  c.emit('L2_NORMALIZATION', c.int8 ? 2 : 1, [c.value(x, identity(rank))], [out], { kind: 'activation', activation: 'NONE' });
};

const concat: OpConverter = (c, node) => {
  const perm = elementwiseLayout(c, node);
  const rank = perm.length;
  let axis = getAttr(node, 'axis', 'int') ?? 0;
  if (axis < 0) axis += rank;
  const inputs = node.inputs.map((t) => operand(c, t, perm));
  c.emit('CONCATENATION', c.int8 ? 2 : 1, inputs, [c.output(node.outputs[0], perm)], { kind: 'concatenation', axis: perm.indexOf(axis), activation: 'NONE' });
};

/** Unfolded inference BatchNorm: x * a + b with per-channel constants. */
const batchNorm: OpConverter = (c, node) => {
  if (c.int8) c.fail(node, 'a BatchNorm that could not be folded cannot be exported as int8 (no calibrated range between its multiply and add)');
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => c.floatInit(node, i).values);
  const eps = getAttr(node, 'epsilon', 'float') ?? 1e-5;
  const a = scale.map((g, k) => g / Math.sqrt(variance[k] + eps));
  const b = bias.map((beta, k) => beta - mean[k] * a[k]);
  const dims = [scale.length, ...new Array<number>(c.shape(node.inputs[0]).length - 2).fill(1)];
  scaleShift(c, node, { name: `${node.name}/scale`, tensor: { dims, data: a } }, { name: `${node.name}/shift`, tensor: { dims, data: b } });
};

const CONVERTERS: Record<string, OpConverter> = {
  Conv: conv,
  Gemm: fullyConnected,
  MatMul: fullyConnected,
  Add: binary('ADD'),
  Sub: binary('SUB'),
  Mul: binary('MUL'),
  Div: binary('DIV'),
  PRelu: prelu,
  Relu: unary('RELU'),
  Clip: clip,
  Sigmoid: unary('LOGISTIC', { scale: 1 / 256, zeroPoint: -128, type: 'int8' }),
  Tanh: unary('TANH', { scale: 1 / 128, zeroPoint: 0, type: 'int8' }),
  MaxPool: pool('MAX_POOL_2D'),
  AveragePool: pool('AVERAGE_POOL_2D'),
  GlobalAveragePool: globalAveragePool,
  Flatten: reshape,
  Reshape: reshape,
  Transpose: transpose,
  ReduceL2: reduceL2,
  // Max appears in export-onnx's L2 normalisation, which ReduceL2 converts as a whole.
  Max: (c, node) => c.fail(node, 'Max is exported only as part of an L2 normalisation (ReduceL2 -> Max -> Div)'),
  Concat: concat,
  BatchNormalization: batchNorm,
};

export const SUPPORTED_EXPORT_OPS: readonly string[] = Object.keys(CONVERTERS).sort();

/** Image inputs ([N,3,H,W] or [N,1,H,W]) are presented NHWC; anything else keeps ONNX's order. */
function inputLayout(shape: readonly number[]): number[] {
  return shape.length === 4 && (shape[1] === 3 || shape[1] === 1) && shape[3] !== 3 ? TO_NHWC : identity(shape.length);
}

function declareInputs(c: Converter, sg: ModelSpec['subgraph']): void {
  for (const input of c.graph.inputs) {
    if (input.dtype !== 'float32') throw new TfliteExportError(`input ${input.name} is ${input.dtype}; only float32 inputs are supported`);
    const perm = inputLayout(c.shape(input.name));
    const shape = perm.map((p) => c.shape(input.name)[p]);
    const index = c.addActivation(input.name, shape, undefined, perm.indexOf(0), 'float32');
    sg.inputs.push(index);
    const quant = c.quant(input.name);
    if (!quant) {
      c.define(input.name, index, perm);
      continue;
    }
    const q = c.addActivation(`${input.name}/int8`, shape, quant, perm.indexOf(0));
    c.emit('QUANTIZE', 2, [index], [q], { kind: 'other', unionType: 89 });
    c.define(input.name, q, perm);
  }
}

function declareOutputs(c: Converter, sg: ModelSpec['subgraph']): void {
  for (const output of c.graph.outputs) {
    const rank = c.shape(output.name).length;
    const value = c.value(output.name, identity(rank));
    if (!c.int8) {
      // Graph outputs carry the ONNX name; rename the tensor that holds the value.
      c.tensors[value].name = output.name;
      sg.outputs.push(value);
      continue;
    }
    const f = c.addActivation(`${output.name}`, c.shape(output.name), undefined, 0, 'float32');
    c.emit('DEQUANTIZE', 2, [value], [f], { kind: 'other', unionType: 38 });
    sg.outputs.push(f);
  }
}

/** Converts `graph` (inference-ready: BatchNorm folded, no Dropout) to a TFLite model description. */
export function convertToTflite(graph: Graph, opts: ConvertOptions): ModelSpec {
  const unsupported = [...new Set(graph.nodes.filter((n) => !CONVERTERS[n.opType] || (n.domain && n.domain !== 'ai.onnx')).map((n) => n.opType))];
  if (unsupported.length > 0) throw new TfliteExportError(`no TFLite equivalent for op ${unsupported.join(', ')} (supported: ${SUPPORTED_EXPORT_OPS.join(', ')})`);
  const c = new Converter(graph, opts);
  const sg: ModelSpec['subgraph'] = { name: graph.name, tensors: c.tensors, inputs: [], outputs: [], operators: c.operators };
  declareInputs(c, sg);
  for (const node of graph.nodes) {
    if (c.done.has(node)) continue;
    CONVERTERS[node.opType](c, node);
  }
  declareOutputs(c, sg);
  for (const t of c.tensors) if (t.data === undefined && numel(t.shape) === 0) throw new TfliteExportError(`tensor ${t.name} has no elements`);
  return {
    description: opts.description,
    subgraph: sg,
    metadata: opts.metadata,
    signatures: [
      {
        key: opts.signatureKey,
        inputs: graph.inputs.map((v, k) => ({ name: v.name, tensorIndex: sg.inputs[k] })),
        outputs: graph.outputs.map((v, k) => ({ name: v.name, tensorIndex: sg.outputs[k] })),
      },
    ],
  };
}
