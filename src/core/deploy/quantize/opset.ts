import { inferShapes } from '../../graph/shapes';
import { Graph, Node, TensorData, getAttr, int64Tensor } from '../../graph/types';
import { QuantizeInputError } from './inspect';

/**
 * Brings an older model up to opset 13, where QuantizeLinear/DequantizeLinear take per-channel
 * scales. Most CNN ops kept their meaning from opset 7 to 13; the ones that moved attributes to
 * inputs are rewritten, and the few whose meaning changed in ways a rewrite would have to guess
 * (Upsample, Resize before 11, Softmax over more than 2-D) are refused with a clear message.
 */

export const QDQ_OPSET = 13;

function constantInput(graph: Graph, hint: string, tensor: TensorData): string {
  let name = hint;
  for (let k = 1; graph.initializers.has(name); k++) name = `${hint}_${k}`;
  graph.initializers.set(name, { name, role: 'constant', tensor });
  return name;
}

function floatScalar(value: number): TensorData {
  return { dtype: 'float32', dims: [], data: Float32Array.of(value) };
}

/** The rank of `tensor`, or undefined when shape inference cannot tell. */
function rankOf(graph: Graph, tensor: string): number | undefined {
  try {
    return inferShapes(graph).get(tensor)?.shape.length;
  } catch {
    return undefined;
  }
}

/** Rewrites one node in place; returns false when the node cannot be brought to opset 13. */
type Upgrade = (graph: Graph, node: Node, from: number) => boolean;

/**
 * Before 13, Softmax flattened its input to 2-D at `axis` (default 1); on a 2-D input with
 * axis 1 that is 13's single-axis softmax over the last axis.
 */
const softmaxLike: Upgrade = (graph, node, from) => {
  if (from >= 13) return true;
  const axis = getAttr(node, 'axis', 'int') ?? 1;
  if (rankOf(graph, node.inputs[0]) !== 2 || (axis !== 1 && axis !== -1)) return false;
  node.attrs.axis = { type: 'int', value: 1 };
  return true;
};

const moveAxesToInput: Upgrade = (graph, node) => {
  const axes = getAttr(node, 'axes', 'ints');
  if (axes === undefined) return true;
  delete node.attrs.axes;
  node.inputs = [node.inputs[0], constantInput(graph, `${node.name}.axes`, int64Tensor(axes))];
  return true;
};

const UPGRADES: Record<string, Upgrade> = {
  // Opset 11 moved Clip's bounds and Pad's pads/value from attributes to inputs.
  Clip: (graph, node, from) => {
    if (from >= 11) return true;
    const lo = getAttr(node, 'min', 'float');
    const hi = getAttr(node, 'max', 'float');
    delete node.attrs.min;
    delete node.attrs.max;
    node.inputs = [
      node.inputs[0],
      lo === undefined ? '' : constantInput(graph, `${node.name}.min`, floatScalar(lo)),
      hi === undefined ? '' : constantInput(graph, `${node.name}.max`, floatScalar(hi)),
    ];
    while (node.inputs[node.inputs.length - 1] === '') node.inputs.pop();
    return true;
  },
  Pad: (graph, node, from) => {
    if (from >= 11) return true;
    const mode = getAttr(node, 'mode', 'string') ?? 'constant';
    const pads = getAttr(node, 'pads', 'ints') ?? getAttr(node, 'paddings', 'ints') ?? [];
    const value = getAttr(node, 'value', 'float') ?? 0;
    node.attrs = { mode: { type: 'string', value: mode } };
    node.inputs = [node.inputs[0], constantInput(graph, `${node.name}.pads`, int64Tensor(pads)), constantInput(graph, `${node.name}.value`, floatScalar(value))];
    return true;
  },
  // Opset 13 moved these axes to an input.
  Squeeze: moveAxesToInput,
  Unsqueeze: moveAxesToInput,
  ReduceSum: moveAxesToInput,
  Split: (graph, node) => {
    const split = getAttr(node, 'split', 'ints');
    if (split === undefined) return true;
    delete node.attrs.split;
    node.inputs = [node.inputs[0], constantInput(graph, `${node.name}.split`, int64Tensor(split))];
    return true;
  },
  Softmax: softmaxLike,
  LogSoftmax: softmaxLike,
  Upsample: () => false,
  Resize: (_g, _n, from) => from >= 11,
  Scatter: () => false,
};

/** Returns `graph` at opset >= 13 (rewritten in place); refuses nodes whose meaning would change. */
export function upgradeToQdqOpset(graph: Graph, source: string): Graph {
  const from = graph.opsetVersion;
  if (from >= QDQ_OPSET) return graph;
  for (const node of graph.nodes) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    const upgrade = UPGRADES[node.opType];
    if (upgrade && !upgrade(graph, node, from)) {
      throw new QuantizeInputError(`${source}: node ${node.name} (${node.opType}, opset ${from}) cannot be brought to opset ${QDQ_OPSET}, which quantization needs; re-export the model at opset 13 or later`);
    }
  }
  graph.opsetVersion = QDQ_OPSET;
  return graph;
}
