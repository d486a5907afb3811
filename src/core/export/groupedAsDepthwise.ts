import { pruneInitializers } from '../graph/edit';
import { Graph, Node, attr, float32Tensor, getAttr } from '../graph/types';

/**
 * The most channels per group rewritten. Each extra channel per group adds a C x C permutation,
 * so the rewrite pays less as k grows; it stops where the quantizer starts trusting onnxruntime's
 * int8 grouped kernel (MIN_INT8_CHANNELS_PER_GROUP, 16, in quantize/qdq.ts).
 */
const MAX_REWRITTEN_CHANNELS_PER_GROUP = 15;

/**
 * A grouped Conv with k input and k output channels per group (1 < k <= 15: insightface's
 * MobileFaceNet has 64 groups of 2), rewritten as k depthwise convolutions that are summed.
 * With o = g*k + r (group g, position r):
 *   y[o] = sum_j DW_j(P_j x)[o],  (P_j x)[o] = x[g*k + (r + j) mod k],  W_j[o] = w[o, (r + j) mod k]
 * P_0 is the identity, and each other P_j is a 1x1 convolution whose weight is that channel
 * permutation (one 1 per row). It is the same function up to float rounding.
 *
 * Why: onnxruntime runs a narrow grouped Conv on a slow generic path (and as int8 QLinearConv
 * about 6x slower still), while its depthwise and dense kernels are fast in float and in int8.
 * The permutation costs C multiply-adds per element, more than the layer's own 9k, but on the
 * dense kernels that takes a fraction of the grouped path's time. Our MobileFaceNet, batch 32,
 * 2 threads (onnxruntime profile): fp32 237-319 -> 222-284 ms per batch; static int8 279 -> 114
 * ms, since nothing is left in float.
 */
export function groupedConvsAsDepthwise(graph: Graph): number {
  let rewritten = 0;
  graph.nodes = graph.nodes.flatMap((node): Node[] => {
    const parts = narrowGroupedConv(graph, node);
    if (!parts) return [node];
    rewritten++;
    const { channels, perGroup, kernelDims, weight } = parts;
    const [x, , bias] = node.inputs;
    const taps = weight.length / (channels * perGroup);
    const constant = (name: string, dims: number[], data: Float32Array) => {
      graph.initializers.set(name, { name, role: 'constant', tensor: float32Tensor(dims, data) });
      return name;
    };
    const nodes: Node[] = [];
    const terms: string[] = [];
    for (let j = 0; j < perGroup; j++) {
      /** Position within its group of the input channel that output channel o reads in term j. */
      const position = (o: number) => ((o % perGroup) + j) % perGroup;
      const source = (o: number) => o - (o % perGroup) + position(o);
      let input = x;
      if (j > 0) {
        const permutation = new Float32Array(channels * channels);
        for (let o = 0; o < channels; o++) permutation[o * channels + source(o)] = 1;
        input = `${node.name}/rotated_${j}`;
        nodes.push({
          name: input,
          opType: 'Conv',
          domain: '',
          inputs: [x, constant(`${node.name}/rotation_${j}`, [channels, channels, 1, 1], permutation)],
          outputs: [input],
          attrs: { kernel_shape: attr.ints([1, 1]) },
        });
      }
      const w = new Float32Array(channels * taps);
      for (let o = 0; o < channels; o++) {
        const from = (o * perGroup + position(o)) * taps;
        w.set(weight.subarray(from, from + taps), o * taps);
      }
      const term = `${node.name}/term_${j}`;
      const inputs = [input, constant(`${node.name}/weight_${j}`, [channels, 1, ...kernelDims], w)];
      if (j === 0 && bias) inputs.push(bias);
      nodes.push({ name: term, opType: 'Conv', domain: '', inputs, outputs: [term], attrs: { ...node.attrs, group: attr.int(channels) } });
      terms.push(term);
    }
    let sum = terms[0];
    for (let j = 1; j < terms.length; j++) {
      const out = j === terms.length - 1 ? node.outputs[0] : `${node.name}/sum_${j}`;
      nodes.push({ name: j === terms.length - 1 ? node.name : out, opType: 'Add', domain: '', inputs: [sum, terms[j]], outputs: [out], attrs: {} });
      sum = out;
    }
    return nodes;
  });
  if (rewritten > 0) pruneInitializers(graph);
  return rewritten;
}

/** The parts of a Conv with constant float weights and k (1 < k <= 15) input and output channels per group. */
function narrowGroupedConv(graph: Graph, node: Node): { channels: number; perGroup: number; kernelDims: number[]; weight: Float32Array } | undefined {
  if (node.opType !== 'Conv' || (node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
  const groups = getAttr(node, 'group', 'int') ?? 1;
  const w = graph.initializers.get(node.inputs[1])?.tensor;
  if (groups === 1 || !w || w.dtype !== 'float32' || w.dims.length !== 4) return undefined;
  const [channels, perGroup] = w.dims;
  if (perGroup < 2 || perGroup > MAX_REWRITTEN_CHANNELS_PER_GROUP || channels !== groups * perGroup) return undefined;
  return { channels, perGroup, kernelDims: w.dims.slice(2), weight: w.data as Float32Array };
}
