import { cloneGraph, pruneInitializers } from '../../graph/edit';
import { Graph, Node, TensorData, attr, getAttr } from '../../graph/types';

/**
 * float16 conversion, for GPU targets: every float32 weight and constant becomes float16 and the
 * graph computes in float16, behind a Cast at each input and output so the interface (names,
 * float32 types) stays what callers feed today. Half the size; on CPUs without float16 kernels
 * onnxruntime runs such a graph by inserting casts itself, so it is not faster there.
 */

const ONNX_FLOAT = 1;
const ONNX_FLOAT16 = 10;
export const FLOAT16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of `value` (round to nearest even; overflow to infinity, NaN kept). */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal: shift the mantissa (with its hidden bit) and round to nearest even.
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1) === 1)) r++;
  return sign | r;
}

/** The number binary16 `bits` stands for. */
export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 data as float16, with values beyond float16's range clamped to +-65504 (and counted). */
export function toFloat16(t: TensorData): { tensor: TensorData; clamped: number } {
  const src = t.data as Float32Array;
  const out = new Uint16Array(src.length);
  let clamped = 0;
  for (let i = 0; i < src.length; i++) {
    let v = src[i];
    // Comparisons rather than Math.abs: this runs once per weight.
    if ((v > FLOAT16_MAX || v < -FLOAT16_MAX) && v !== Infinity && v !== -Infinity) {
      v = v > 0 ? FLOAT16_MAX : -FLOAT16_MAX;
      clamped++;
    }
    out[i] = float16Bits(v);
  }
  return { tensor: { dtype: 'float16', dims: t.dims.slice(), data: out }, clamped };
}

/** Inputs that must stay float32 whatever the compute type (sizes and scales, not data). */
const FLOAT32_SLOTS: Record<string, number[]> = { Resize: [1, 2], Upsample: [1] };

export interface Float16Result {
  graph: Graph;
  convertedTensors: number;
  clampedValues: number;
}

function castNode(name: string, input: string, output: string, to: number): Node {
  return { name, opType: 'Cast', domain: '', inputs: [input], outputs: [output], attrs: { to: attr.int(to) } };
}

export function convertToFloat16(source: Graph): Float16Result {
  const graph = cloneGraph(source);
  const keep32 = new Set(graph.nodes.flatMap((n) => (FLOAT32_SLOTS[n.opType] ?? []).map((slot) => n.inputs[slot]).filter(Boolean)));
  let convertedTensors = 0;
  let clampedValues = 0;
  for (const init of graph.initializers.values()) {
    if (init.tensor.dtype !== 'float32' || keep32.has(init.name)) continue;
    const { tensor, clamped } = toFloat16(init.tensor);
    init.tensor = tensor;
    convertedTensors++;
    clampedValues += clamped;
  }
  for (const node of graph.nodes) {
    const value = node.opType === 'Constant' ? getAttr(node, 'value', 'tensor') : undefined;
    if (value?.dtype === 'float32') node.attrs.value = attr.tensor(toFloat16(value).tensor);
    if (node.opType === 'Cast' && getAttr(node, 'to', 'int') === ONNX_FLOAT) node.attrs.to = attr.int(ONNX_FLOAT16);
  }
  const head: Node[] = [];
  for (const input of graph.inputs.filter((v) => v.dtype === 'float32')) {
    const half = `${input.name}_float16`;
    for (const n of graph.nodes) n.inputs = n.inputs.map((t) => (t === input.name ? half : t));
    head.push(castNode(`${half}_cast`, input.name, half, ONNX_FLOAT16));
  }
  const tail: Node[] = [];
  for (const output of graph.outputs.filter((v) => v.dtype === 'float32')) {
    const half = `${output.name}_float16`;
    for (const n of graph.nodes) {
      n.outputs = n.outputs.map((t) => (t === output.name ? half : t));
      n.inputs = n.inputs.map((t) => (t === output.name ? half : t));
    }
    tail.push(castNode(`${output.name}_cast`, half, output.name, ONNX_FLOAT));
  }
  graph.nodes = [...head, ...graph.nodes, ...tail];
  pruneInitializers(graph);
  return { graph, convertedTensors, clampedValues };
}
