import { cloneGraph, pruneInitializers } from '../../graph/edit';
import { Graph, Node, TensorData, attr, getAttr } from '../../graph/types';
import { permuteData } from '../tflite/layout';
import { quantizePerChannel } from './params';

/**
 * Dynamic int8 quantization of MatMul/Gemm weights (the seed's `quantize_dynamic` on Linear
 * layers): weights become per-output-column int8, and each activation is quantized at run time
 * from its own min/max, so no calibration is needed. Two forms, both standard ONNX:
 *
 * - 'integer': DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale * w_scale) -> Add,
 *   the pattern onnxruntime fuses into one DynamicQuantizeMatMul kernel (its own quantize_dynamic
 *   writes the same).
 * - 'qdq': DynamicQuantizeLinear -> DequantizeLinear -> MatMul <- DequantizeLinear(int8 weights).
 *
 * Convolutions stay float: onnxruntime's ConvInteger is slower than its float Conv on x86.
 */

export type DynamicForm = 'integer' | 'qdq';
export const DYNAMIC_FORMS: readonly DynamicForm[] = ['integer', 'qdq'];

export interface DynamicQuantOptions {
  form: DynamicForm;
  reduceRange: boolean;
}

export const DEFAULT_DYNAMIC: DynamicQuantOptions = { form: 'integer', reduceRange: false };

/** The weight as a [K, N] matrix (rows reduce against the input) and the bias, when `node` qualifies. */
function matmulOperands(graph: Graph, node: Node): { weight: Float32Array; k: number; n: number; bias?: string } | undefined {
  const w = graph.initializers.get(node.inputs[1])?.tensor;
  if (!w || w.dtype !== 'float32' || w.dims.length !== 2) return undefined;
  if (node.opType === 'MatMul') return { weight: w.data as Float32Array, k: w.dims[0], n: w.dims[1] };
  if (node.opType !== 'Gemm') return undefined;
  const plain = (getAttr(node, 'transA', 'int') ?? 0) === 0 && (getAttr(node, 'alpha', 'float') ?? 1) === 1 && (getAttr(node, 'beta', 'float') ?? 1) === 1;
  const bias = node.inputs[2] || undefined;
  const biasTensor = bias ? graph.initializers.get(bias)?.tensor : undefined;
  if (!plain || (bias && (!biasTensor || biasTensor.dtype !== 'float32'))) return undefined;
  if ((getAttr(node, 'transB', 'int') ?? 0) === 0) return { weight: w.data as Float32Array, k: w.dims[0], n: w.dims[1], bias };
  const t = permuteData(w.data as Float32Array, w.dims, [1, 0]);
  return { weight: t.data, k: w.dims[1], n: w.dims[0], bias };
}

class Emitter {
  readonly nodes: Node[] = [];
  constructor(
    readonly graph: Graph,
    readonly prefix: string,
  ) {}

  constant(suffix: string, tensor: TensorData): string {
    const name = `${this.prefix}_${suffix}`;
    this.graph.initializers.set(name, { name, role: 'constant', tensor });
    return name;
  }

  emit(opType: string, inputs: string[], outputs: string[], attrs: Node['attrs'] = {}): string {
    this.nodes.push({ name: `${outputs[0]}_node`, opType, domain: '', inputs, outputs, attrs });
    return outputs[0];
  }

  tensor(suffix: string): string {
    return `${this.prefix}_${suffix}`;
  }
}

/** The nodes replacing one MatMul/Gemm; the last writes the node's original output. */
function rewrite(graph: Graph, node: Node, opts: DynamicQuantOptions): Node[] | undefined {
  const ops = matmulOperands(graph, node);
  if (!ops) return undefined;
  const e = new Emitter(graph, node.name.replace(/[^A-Za-z0-9_./-]/g, '_'));
  const q = quantizePerChannel(ops.weight, [ops.k, ops.n], 1, opts.reduceRange ? 63 : 127);
  const wq = e.constant('weight_quantized', { dtype: 'int8', dims: [ops.k, ops.n], data: q.data });
  const wScale = e.constant('weight_scale', { dtype: 'float32', dims: [ops.n], data: q.scales });
  const wZero = e.constant('weight_zero_point', { dtype: 'int8', dims: [ops.n], data: new Int8Array(ops.n) });
  const out = node.outputs[0];
  const [xq, xScale, xZero] = [e.tensor('x_quantized'), e.tensor('x_scale'), e.tensor('x_zero_point')];
  e.emit('DynamicQuantizeLinear', [node.inputs[0]], [xq, xScale, xZero]);
  const product = ops.bias ? e.tensor('product') : out;
  if (opts.form === 'integer') {
    const acc = e.emit('MatMulInteger', [xq, wq, xZero, wZero], [e.tensor('int32')]);
    const asFloat = e.emit('Cast', [acc], [e.tensor('int32_float')], { to: attr.int(1) });
    const scale = e.emit('Mul', [xScale, wScale], [e.tensor('scale')]);
    e.emit('Mul', [asFloat, scale], [product]);
  } else {
    const x = e.emit('DequantizeLinear', [xq, xScale, xZero], [e.tensor('x_dequantized')]);
    const w = e.emit('DequantizeLinear', [wq, wScale, wZero], [e.tensor('weight_dequantized')], { axis: attr.int(1) });
    e.emit('MatMul', [x, w], [product]);
  }
  if (ops.bias) e.emit('Add', [product, ops.bias], [out]);
  return e.nodes;
}

export interface DynamicResult {
  graph: Graph;
  quantizedNodes: number;
}

/** Quantizes every MatMul/Gemm with constant 2-D weights; other nodes are copied unchanged. */
export function quantizeDynamic(source: Graph, opts: DynamicQuantOptions): DynamicResult {
  const graph = cloneGraph(source);
  const nodes: Node[] = [];
  let quantizedNodes = 0;
  for (const node of graph.nodes) {
    const replaced = node.opType === 'MatMul' || node.opType === 'Gemm' ? rewrite(graph, node, opts) : undefined;
    if (replaced) quantizedNodes++;
    nodes.push(...(replaced ?? [node]));
  }
  graph.nodes = nodes;
  pruneInitializers(graph);
  return { graph, quantizedNodes };
}
