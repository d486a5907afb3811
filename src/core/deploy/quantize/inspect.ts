import { InputError } from '../../errors';
import { Graph } from '../../graph/types';

/** What a model already is, before quantizing it: refuses quantized and float16 inputs. */

export class QuantizeInputError extends InputError {}

/** Ops that only appear in quantized models (ONNX standard and onnxruntime contrib). */
const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'QLinearConv',
  'QLinearMatMul',
  'MatMulInteger',
  'ConvInteger',
  'QLinearAdd',
  'QLinearMul',
  'QLinearGlobalAveragePool',
  'QLinearAveragePool',
  'QLinearConcat',
  'QLinearLeakyRelu',
  'QLinearSigmoid',
  'QLinearSoftmax',
  'QGemm',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'QAttention',
]);

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

export function describeCounts(counts: Map<string, number>): string {
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}

/** Throws a one-line input error when `graph` is already quantized or already float16. */
export function assertFloatModel(graph: Graph, source: string): void {
  const quantizedNodes = graph.nodes.filter((n) => QUANTIZED_OPS.has(n.opType));
  if (quantizedNodes.length > 0) {
    throw new QuantizeInputError(
      `${source} is already quantized (${describeCounts(countBy(quantizedNodes, (n) => n.opType))}); quantize the float32 model it came from`,
    );
  }
  const weights = [...graph.initializers.values()].filter((i) => i.tensor.dims.length > 0 && i.tensor.data.length > 1);
  const lowPrecision = weights.filter((i) => i.tensor.dtype === 'int8' || i.tensor.dtype === 'uint8' || i.tensor.dtype === 'float16');
  if (lowPrecision.length > 0) {
    const kinds = describeCounts(countBy(lowPrecision, (i) => `${i.tensor.dtype} tensors`));
    throw new QuantizeInputError(`${source} already holds low-precision weights (${kinds}); quantize the float32 model it came from`);
  }
  const floatInputs = graph.inputs.filter((v) => v.dtype === 'float32');
  if (floatInputs.length === 0) throw new QuantizeInputError(`${source} has no float32 input (inputs: ${graph.inputs.map((v) => `${v.name} ${v.dtype}`).join(', ')})`);
}

/** Op types and how often each occurs, for reports. */
export function opCounts(graph: Graph): Map<string, number> {
  return countBy(graph.nodes, (n) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType));
}
