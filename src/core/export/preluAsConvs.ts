import { pruneInitializers } from '../graph/edit';
import { channelCountOf, inferShapes } from '../graph/shapes';
import { Graph, Node, Shape, attr, float32Tensor } from '../graph/types';

/**
 * PRelu with a constant per-channel (or single) slope a over an NCHW tensor x, rewritten with
 * depthwise 1x1 convolutions. When every slope is at most 1 (as trained slopes are):
 *   x + Relu((a - 1) * x)  = depthwise Conv(x; a - 1) -> Relu -> Add x
 * (x < 0: (a - 1) * x >= 0, so x + (a - 1) * x = a * x; x >= 0: the Relu gives 0). Otherwise:
 *   x + (1 - a) * Relu(-x) = depthwise Conv(x; -1) -> Relu -> depthwise Conv(.; 1 - a) -> Add x,
 * the same function for any slope. Both equal PRelu up to float rounding.
 * onnxruntime's PRelu kernel is slow and breaks its blocked (NCHWc) convolution layout into
 * reorders around every PReLU; these convolutions (the Relu fused into the one before it) and
 * the Add stay in that layout, and in int8 they are QLinearConv and QLinearAdd. MobileFaceNet
 * fp32, batch 64, 2 threads: 57-61 -> 107-123 img/s with the general form.
 * PRelu nodes that do not fit (other slope shapes, other ranks) are kept.
 */
export function preluAsDepthwiseConvs(graph: Graph): number {
  const shapes = inferShapes(graph);
  let rewritten = 0;
  graph.nodes = graph.nodes.flatMap((node): Node[] => {
    const channels = perChannelSlopes(graph, node, shapes.get(node.inputs[0])?.shape);
    if (channels === undefined) return [node];
    rewritten++;
    const slope = graph.initializers.get(node.inputs[1])?.tensor.data as Float32Array;
    const perChannel = (f: (a: number) => number) => Float32Array.from({ length: channels }, (_, c) => f(slope[slope.length === 1 ? 0 : c]));
    const depthwise = (suffix: string, input: string, values: Float32Array): Node => {
      const name = `${node.name}/${suffix}`;
      const weight = `${name}/weight`;
      graph.initializers.set(weight, { name: weight, role: 'constant', tensor: float32Tensor([channels, 1, 1, 1], values) });
      return { name, opType: 'Conv', domain: '', inputs: [input, weight], outputs: [name], attrs: { group: attr.int(channels), kernel_shape: attr.ints([1, 1]) } };
    };
    const relu = (input: string): Node => ({ name: `${node.name}/negative_part`, opType: 'Relu', domain: '', inputs: [input], outputs: [`${node.name}/negative_part`], attrs: {} });
    const x = node.inputs[0];
    const sum = (term: string): Node => ({ name: node.name, opType: 'Add', domain: '', inputs: [x, term], outputs: node.outputs, attrs: {} });
    if (slope.every((a) => a <= 1)) {
      const scaled = depthwise('slope_minus_one', x, perChannel((a) => a - 1));
      const negativePart = relu(scaled.outputs[0]);
      return [scaled, negativePart, sum(negativePart.outputs[0])];
    }
    const negated = depthwise('negated', x, perChannel(() => -1));
    const negativePart = relu(negated.outputs[0]);
    const scaled = depthwise('scaled_negative_part', negativePart.outputs[0], perChannel((a) => 1 - a));
    return [negated, negativePart, scaled, sum(scaled.outputs[0])];
  });
  // The slopes now live in the convolutions' weights.
  if (rewritten > 0) pruneInitializers(graph);
  return rewritten;
}

/** C when `node` is a PRelu over a 4-D [N, C, H, W] input with a constant float slope per channel (or one for all). */
function perChannelSlopes(graph: Graph, node: Node, xShape: Shape | undefined): number | undefined {
  if (node.opType !== 'PRelu' || (node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
  const slope = graph.initializers.get(node.inputs[1])?.tensor;
  if (!slope || slope.dtype !== 'float32' || xShape?.length !== 4) return undefined;
  return channelCountOf(xShape, slope.dims);
}
