import { cloneGraph, consumers, producers, pruneInitializers } from '../../graph/edit';
import { Graph, Node, TensorData, attr, getAttr } from '../../graph/types';
import { ActivationScheme, QuantParams, Range, activationParams, quantizeBias, quantizePerChannel, quantizeValue } from './params';

/**
 * Static int8 quantization in QDQ form: every quantized tensor T becomes
 * T -> QuantizeLinear -> DequantizeLinear -> (all of T's readers), and every quantized weight an
 * int8 initializer behind a DequantizeLinear. The model stays a standard ONNX graph with float
 * semantics; onnxruntime's graph optimiser turns DQ -> Conv -> Q into QLinearConv (and Add,
 * pooling, MatMul/Gemm likewise), so the speed depends on which tensors carry Q/DQ pairs:
 *
 * - Conv, Gemm, MatMul (constant weights): input and output quantized, weights per output
 *   channel (symmetric int8; one scale when every channel's is the same), bias int32 at input
 *   scale x weight scale.
 * - Add, Mul, Concat, GlobalAveragePool, AveragePool: inputs and output quantized, so a
 *   residual sum stays in int8 between two convolutions.
 * - MaxPool, Reshape, Flatten, Transpose, Squeeze, Unsqueeze: pass int8 through with the
 *   input's parameters (onnxruntime drops the Q/DQ pair around them).
 * - Relu (and Clip from 0) right after a quantized op is removed: quantizing its input over
 *   [0, max] with the zero point at the type's minimum clamps negatives exactly as Relu does.
 * - PRelu has no int8 kernel, and onnxruntime's float PRelu is slow (half of MobileFaceNet's
 *   float time, measured), so before planning it is written with depthwise 1x1 convolutions
 *   (export/preluAsConvs.ts): one or two QLinearConv (the Relu absorbed) and a QLinearAdd.
 *   (Written as Min/Mul/Add instead, its requantizations and QLinearMul ran
 *   at half the speed: MobileFaceNet 177 against 336 img/s.)
 * - Everything else stays float between a DQ and a Q; such ops are listed.
 */

export interface StaticQuantOptions {
  activations: ActivationScheme;
  /** One weight scale per output channel (else one per tensor). */
  perChannel: boolean;
  /** 7-bit weights (onnxruntime's reduce_range), for CPUs whose u8s8 kernel can saturate. */
  reduceRange: boolean;
  /** Op types to quantize (see the module comment for what each kind means). */
  ops: readonly string[];
  /** Quantize the graph outputs (and what reaches them through Reshape-like ops) too; by default the embedding stays float. */
  quantizeOutputs: boolean;
  /** Write PRelu as depthwise convolutions around a Relu before quantizing, so that it runs in int8 (same function). */
  rewritePrelu: boolean;
}

export const WEIGHTED_OPS = ['Conv', 'Gemm', 'MatMul'] as const;
export const ARITHMETIC_OPS = ['Add', 'Mul', 'Concat', 'GlobalAveragePool', 'AveragePool'] as const;
export const PASS_THROUGH_OPS = ['MaxPool', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze'] as const;
/** Clamps at zero (Relu, Clip from 0): a QuantizeLinear can do their work. */
export const ABSORBED_OPS = ['Relu', 'Clip'] as const;

export const QUANTIZABLE_OPS: readonly string[] = [...WEIGHTED_OPS, ...ARITHMETIC_OPS, ...PASS_THROUGH_OPS, ...ABSORBED_OPS];

export const DEFAULT_STATIC: StaticQuantOptions = {
  activations: { type: 'uint8', symmetric: false },
  perChannel: true,
  reduceRange: false,
  ops: QUANTIZABLE_OPS,
  quantizeOutputs: false,
  rewritePrelu: true,
};

type Kind = 'weighted' | 'arithmetic' | 'passThrough' | 'absorbed';

function kindOf(opType: string): Kind | undefined {
  if ((WEIGHTED_OPS as readonly string[]).includes(opType)) return 'weighted';
  if ((ARITHMETIC_OPS as readonly string[]).includes(opType)) return 'arithmetic';
  if ((PASS_THROUGH_OPS as readonly string[]).includes(opType)) return 'passThrough';
  if ((ABSORBED_OPS as readonly string[]).includes(opType)) return 'absorbed';
  return undefined;
}

/** Which nodes and tensors get quantized; computed before calibration, which it drives. */
export interface QdqPlan {
  /** Nodes whose inputs/outputs become int8 (weighted, arithmetic, pass-through). */
  quantized: Set<Node>;
  /** Clamps folded into their producer's output quantization, mapped to that producer. */
  absorbed: Map<Node, Node>;
  /** Each quantized activation tensor -> the tensor whose calibrated range it uses. */
  rangeOf: Map<string, string>;
  /** Tensors that need a calibrated range. */
  calibrate: string[];
  /** Op types left in float, with counts, and why. */
  leftInFloat: { opType: string; count: number; reason: string }[];
}

function isFloatInitializer(graph: Graph, name: string): boolean {
  return graph.initializers.get(name)?.tensor.dtype === 'float32';
}

/** The axis of a weight's output channels, or undefined when the node cannot be quantized as weighted. */
export function weightAxis(graph: Graph, node: Node): number | undefined {
  const w = graph.initializers.get(node.inputs[1]);
  if (!w || w.tensor.dtype !== 'float32') return undefined;
  const bias = node.inputs[2];
  const biasOk = (channels: number) => !bias || (isFloatInitializer(graph, bias) && graph.initializers.get(bias)?.tensor.dims.join() === String(channels));
  switch (node.opType) {
    case 'Conv':
      return biasOk(w.tensor.dims[0]) ? 0 : undefined;
    case 'Gemm': {
      const plain = (getAttr(node, 'transA', 'int') ?? 0) === 0 && (getAttr(node, 'alpha', 'float') ?? 1) === 1 && (getAttr(node, 'beta', 'float') ?? 1) === 1;
      const axis = (getAttr(node, 'transB', 'int') ?? 0) === 1 ? 0 : 1;
      return plain && w.tensor.dims.length === 2 && biasOk(w.tensor.dims[axis]) ? axis : undefined;
    }
    case 'MatMul':
      return w.tensor.dims.length === 2 ? 1 : undefined;
    default:
      return undefined;
  }
}

/** Below this many input channels per group (and above 1, depthwise), QLinearConv loses to float. */
const MIN_INT8_CHANNELS_PER_GROUP = 16;

/** A grouped (not depthwise) convolution with few channels per group, e.g. MobileFaceNet's 64 groups of 2. */
function isNarrowGroupedConv(graph: Graph, node: Node | undefined): boolean {
  if (node?.opType !== 'Conv' || (getAttr(node, 'group', 'int') ?? 1) === 1) return false;
  const perGroup = graph.initializers.get(node.inputs[1])?.tensor.dims[1] ?? 0;
  return perGroup > 1 && perGroup < MIN_INT8_CHANNELS_PER_GROUP;
}

function isScalarZero(graph: Graph, name: string | undefined): boolean {
  const t = name ? graph.initializers.get(name)?.tensor : undefined;
  return t !== undefined && t.data.length === 1 && Number(t.data[0]) === 0;
}

/**
 * Relu and Clip from 0: an asymmetric QuantizeLinear whose range starts at 0 (zero point at the
 * type's minimum) clamps exactly as they do, so they need no op of their own. (Clip's upper end
 * comes from calibration of its output.)
 */
function clampsAtZero(node: Node, graph: Graph): boolean {
  return node.opType === 'Relu' || (node.opType === 'Clip' && isScalarZero(graph, node.inputs[1]));
}

/**
 * The graph outputs and every tensor that reaches them only through data-moving ops (e.g. the
 * last conv's output before a Reshape): quantizing those would round the embedding itself to
 * 256 levels, so by default they stay float (the op writing them then runs in float).
 */
function outputTail(graph: Graph): Set<string> {
  const tail = new Set(graph.outputs.map((o) => o.name));
  const readers = consumers(graph);
  for (const node of [...graph.nodes].reverse()) {
    for (const t of node.inputs) {
      if (t === '' || tail.has(t)) continue;
      const uses = readers.get(t) ?? [];
      if (uses.length > 0 && uses.every((u) => kindOf(u.opType) === 'passThrough' && u.inputs[0] === t && tail.has(u.outputs[0]))) tail.add(t);
    }
  }
  return tail;
}

/** Decides what to quantize. `graph` must be topologically sorted (as ONNX requires). */
export function planQdq(graph: Graph, opts: StaticQuantOptions): QdqPlan {
  const enabled = new Set(opts.ops);
  const readers = consumers(graph);
  const made = producers(graph);
  const quantized = new Set<Node>();
  const absorbed = new Map<Node, Node>();
  /** Outputs of ops left in float on purpose, and what elementwise ops compute from them. */
  const floatOnly = new Set<string>();
  const rangeOf = new Map<string, string>();
  /** One entry per op type and reason, in the order first met. */
  const floatReasons = new Map<string, { opType: string; count: number; reason: string }>();
  const leaveFloat = (n: Node, reason: string) => {
    const opType = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    const key = `${opType}: ${reason}`;
    const entry = floatReasons.get(key) ?? { opType, count: 0, reason };
    entry.count++;
    floatReasons.set(key, entry);
  };
  /** Leaves `n` in float and marks its output float-only, so that what reads it stays float too. */
  const keepFloatOnly = (n: Node, reason: string) => {
    leaveFloat(n, reason);
    floatOnly.add(n.outputs[0]);
  };
  const isActivation = (t: string) => t !== '' && !graph.initializers.has(t);
  /** Marks an input as quantized, keeping the range source it already has. */
  const quantizeInput = (t: string) => rangeOf.set(t, rangeOf.get(t) ?? t);
  const tail = outputTail(graph);
  const quantizeOutput = (t: string, source = t) => {
    if (!tail.has(t) || opts.quantizeOutputs) rangeOf.set(t, source);
  };
  for (const node of graph.nodes) {
    const kind = kindOf(node.opType);
    if ((node.domain && node.domain !== 'ai.onnx') || !kind) {
      leaveFloat(node, !node.domain || node.domain === 'ai.onnx' ? 'no int8 kernel in onnxruntime for this op (runs in float between DequantizeLinear and QuantizeLinear)' : 'unknown to the quantizer');
      continue;
    }
    if (!enabled.has(node.opType)) {
      leaveFloat(node, 'excluded by the op list');
      continue;
    }
    switch (kind) {
      case 'weighted':
        if (weightAxis(graph, node) === undefined || !isActivation(node.inputs[0])) {
          leaveFloat(node, 'weights are not a float constant of a supported layout');
          break;
        }
        if (isNarrowGroupedConv(graph, node)) {
          // Its output stays float too: a Q after it would let onnxruntime fuse it into QLinearConv anyway (it quantizes float weights itself).
          keepFloatOnly(node, `grouped convolution with few channels per group: onnxruntime's QLinearConv runs it ~6x slower than its float Conv (measured at 2 per group)`);
          break;
        }
        if (floatOnly.has(node.inputs[0]) && isNarrowGroupedConv(graph, made.get(node.inputs[0]))) {
          // Quantizing its input would put a QuantizeLinear right after that conv, which onnxruntime fuses into QLinearConv.
          keepFloatOnly(node, 'reads a grouped convolution kept in float');
          break;
        }
        quantized.add(node);
        quantizeInput(node.inputs[0]);
        quantizeOutput(node.outputs[0]);
        break;
      case 'arithmetic':
        if (node.inputs.some((t) => floatOnly.has(t))) {
          keepFloatOnly(node, 'reads a tensor kept in float');
          break;
        }
        quantized.add(node);
        for (const t of node.inputs) if (isActivation(t)) quantizeInput(t);
        quantizeOutput(node.outputs[0]);
        break;
      case 'passThrough': {
        const x = node.inputs[0];
        if (floatOnly.has(x)) {
          keepFloatOnly(node, 'reads a tensor kept in float');
          break;
        }
        const source = rangeOf.get(x);
        if (source === undefined) {
          leaveFloat(node, 'moves data only; its input is float here');
          break;
        }
        quantized.add(node);
        quantizeOutput(node.outputs[0], source);
        break;
      }
      case 'absorbed': {
        const x = node.inputs[0];
        if (floatOnly.has(x)) {
          keepFloatOnly(node, 'reads a tensor kept in float');
          break;
        }
        const producer = made.get(x);
        const sole =
          producer && quantized.has(producer) && kindOf(producer.opType) !== 'passThrough' && readers.get(x)?.length === 1 && rangeOf.get(x) === x && !graph.outputs.some((o) => o.name === x);
        if (!clampsAtZero(node, graph) || opts.activations.symmetric || tail.has(node.outputs[0]) || !producer || !sole) {
          leaveFloat(node, 'not directly after a quantized op, or activations are symmetric');
          break;
        }
        // The producer writes the clamp's output; its own output is no longer a tensor.
        absorbed.set(node, producer);
        rangeOf.delete(x);
        rangeOf.set(node.outputs[0], node.outputs[0]);
        break;
      }
    }
  }
  const calibrate = [...new Set(rangeOf.values())];
  const leftInFloat = [...floatReasons.values()];
  return { quantized, absorbed, rangeOf, calibrate, leftInFloat };
}

/** Names and nodes of the rewrite, with unique names for everything added. */
class Rewriter {
  readonly nodes: Node[] = [];
  private readonly taken: Set<string>;

  constructor(readonly graph: Graph) {
    this.taken = new Set([...graph.initializers.keys(), ...graph.nodes.flatMap((n) => [n.name, ...n.outputs]), ...graph.inputs.map((i) => i.name)]);
  }

  private count = 0;

  unique(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  /**
   * A short id for the tensors one quantized tensor or weight adds (its scale, zero point,
   * quantized and dequantized forms). Each added name is stored once per use, so names derived
   * from the source's (often long) ones were a sixth of MobileFaceNet's int8 file.
   */
  nextId(): number {
    return this.count++;
  }

  constant(hint: string, tensor: TensorData): string {
    const name = this.unique(hint);
    this.graph.initializers.set(name, { name, role: 'constant', tensor });
    return name;
  }

  emit(opType: string, inputs: string[], output: string, attrs: Node['attrs'] = {}): string {
    this.nodes.push({ name: output, opType, domain: '', inputs, outputs: [output], attrs });
    return output;
  }
}

function zeroPointTensor(p: QuantParams): TensorData {
  return p.type === 'int8' ? { dtype: 'int8', dims: [], data: Int8Array.of(p.zeroPoint) } : { dtype: 'uint8', dims: [], data: Uint8Array.of(p.zeroPoint) };
}

function scalarFloat(v: number): TensorData {
  return { dtype: 'float32', dims: [], data: Float32Array.of(v) };
}

/** Emits Q -> DQ for `tensor`; returns the dequantized name (or `output` when given). */
function emitQdq(rw: Rewriter, tensor: string, p: QuantParams, output?: string): string {
  const id = rw.nextId();
  const scale = rw.constant(`s${id}`, scalarFloat(p.scale));
  const zp = rw.constant(`z${id}`, zeroPointTensor(p));
  const q = rw.emit('QuantizeLinear', [tensor, scale, zp], rw.unique(`q${id}`));
  return rw.emit('DequantizeLinear', [q, scale, zp], output ?? rw.unique(`dq${id}`));
}

/**
 * One scale per channel, or a single one when every channel's is the same (e.g. a PReLU's
 * negating conv, whose weights are all -1): the same values, without a float per channel.
 */
function scaleTensor(scales: Float32Array, axis: number): { tensor: TensorData; attrs: Node['attrs'] } {
  const uniform = scales.every((v) => v === scales[0]);
  return uniform
    ? { tensor: scalarFloat(scales[0]), attrs: {} }
    : { tensor: { dtype: 'float32', dims: [scales.length], data: scales }, attrs: { axis: attr.int(axis) } };
}

/** A float constant as int8 per-channel weights behind a DequantizeLinear. */
function emitWeight(rw: Rewriter, name: string, axis: number, opts: StaticQuantOptions): { dq: string; scales: Float32Array } {
  const w = rw.graph.initializers.get(name)?.tensor;
  if (!w) throw new Error(`weight ${name} is missing`);
  const qmax = opts.reduceRange ? 63 : 127;
  const dims = opts.perChannel ? w.dims : [1, w.data.length];
  const q = quantizePerChannel(w.data as Float32Array, dims, opts.perChannel ? axis : 0, qmax);
  const id = rw.nextId();
  const data = rw.constant(`w${id}`, { dtype: 'int8', dims: w.dims, data: q.data });
  const { tensor, attrs } = scaleTensor(q.scales, axis);
  const scale = rw.constant(`ws${id}`, tensor);
  // Symmetric weights: the zero point is 0, DequantizeLinear's default, so it is left out.
  return { dq: rw.emit('DequantizeLinear', [data, scale], rw.unique(`wdq${id}`), attrs), scales: q.scales };
}

function emitBias(rw: Rewriter, name: string, inputScale: number, weightScales: Float32Array): string {
  const b = rw.graph.initializers.get(name)?.tensor;
  if (!b) throw new Error(`bias ${name} is missing`);
  const q = quantizeBias(b.data as Float32Array, inputScale, weightScales);
  const id = rw.nextId();
  const data = rw.constant(`b${id}`, { dtype: 'int32', dims: b.dims, data: q.data });
  const { tensor, attrs } = scaleTensor(q.scales, 0);
  const scale = rw.constant(`bs${id}`, tensor);
  return rw.emit('DequantizeLinear', [data, scale], rw.unique(`bdq${id}`), attrs);
}

/** A float constant operand (of Add, Mul, Concat) quantized per tensor over its own range. */
function emitConstantOperand(rw: Rewriter, name: string, scheme: ActivationScheme): string {
  const t = rw.graph.initializers.get(name)?.tensor;
  if (!t || t.dtype !== 'float32') return name;
  const values = t.data as Float32Array;
  const range = values.reduce((r, v) => ({ min: Math.min(r.min, v), max: Math.max(r.max, v) }), { min: 0, max: 0 });
  const p = activationParams(range, scheme);
  const quantized = Array.from(values, (v) => quantizeValue(v, p));
  const dataTensor: TensorData = p.type === 'int8' ? { dtype: 'int8', dims: t.dims, data: Int8Array.from(quantized) } : { dtype: 'uint8', dims: t.dims, data: Uint8Array.from(quantized) };
  const id = rw.nextId();
  const data = rw.constant(`c${id}`, dataTensor);
  const scale = rw.constant(`cs${id}`, scalarFloat(p.scale));
  const zp = rw.constant(`cz${id}`, zeroPointTensor(p));
  return rw.emit('DequantizeLinear', [data, scale, zp], rw.unique(`cdq${id}`));
}

/**
 * Applies `plan` with the calibrated `ranges` (keyed by the plan's `calibrate` tensors) to a copy
 * of `source`. Input and output names, metadata and opset are kept.
 */
export function applyQdq(source: Graph, plan: QdqPlan, ranges: Map<string, Range>, opts: StaticQuantOptions): Graph {
  const graph = cloneGraph(source);
  const byName = new Map(source.nodes.map((n, i) => [n.name, graph.nodes[i]]));
  const mapped = (n: Node) => byName.get(n.name) as Node;
  const absorbedNodes = new Set([...plan.absorbed.keys()].map(mapped));
  for (const [act, producer] of plan.absorbed) mapped(producer).outputs[0] = act.outputs[0];
  const quantizedNodes = new Set([...plan.quantized].map(mapped));
  const params = new Map<string, QuantParams>();
  for (const [tensor, source] of plan.rangeOf) {
    const range = ranges.get(source);
    if (!range) throw new Error(`no calibrated range for tensor ${source}`);
    params.set(tensor, activationParams(range, opts.activations));
  }
  const rw = new Rewriter(graph);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  /** What readers of a quantized tensor read instead (its DequantizeLinear output). */
  const readAs = new Map<string, string>();
  const quantizeTensor = (t: string, p: QuantParams): string | undefined => {
    if (!outputs.has(t)) {
      readAs.set(t, emitQdq(rw, t, p));
      return undefined;
    }
    // A graph output keeps its name on the DequantizeLinear; the producer writes a new name.
    const pre = rw.unique(`${t}/float`);
    emitQdq(rw, pre, p, t);
    return pre;
  };
  for (const input of graph.inputs) {
    const p = params.get(input.name);
    if (p) quantizeTensor(input.name, p);
  }
  for (const node of graph.nodes) {
    if (absorbedNodes.has(node)) continue;
    const original = node.inputs;
    node.inputs = original.map((t) => readAs.get(t) ?? t);
    if (quantizedNodes.has(node)) {
      if (kindOf(node.opType) === 'weighted') {
        const axis = weightAxis(graph, node) as number;
        const inputParams = params.get(original[0]);
        if (!inputParams) throw new Error(`node ${node.name}: its input is not quantized`);
        const weight = emitWeight(rw, node.inputs[1], axis, opts);
        if (node.inputs[2]) node.inputs[2] = emitBias(rw, node.inputs[2], inputParams.scale, weight.scales);
        node.inputs[1] = weight.dq;
      } else if (kindOf(node.opType) === 'arithmetic') {
        node.inputs = node.inputs.map((t) => (graph.initializers.has(t) ? emitConstantOperand(rw, t, opts.activations) : t));
      }
    }
    rw.nodes.push(node);
    node.outputs.forEach((t, k) => {
      const p = params.get(t);
      if (!p) return;
      // A graph output's Q/DQ reads a new name, which the node now writes.
      const renamed = quantizeTensor(t, p);
      if (renamed) node.outputs[k] = renamed;
    });
  }
  graph.nodes = rw.nodes;
  pruneInitializers(graph);
  return graph;
}
