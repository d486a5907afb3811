import { Graph, Initializer, Node } from './types';

/** Small graph-editing utilities shared by the optimisation passes. */

export function cloneGraph(graph: Graph): Graph {
  const initializers = new Map<string, Initializer>();
  for (const [name, init] of graph.initializers) {
    initializers.set(name, { ...init, tensor: { ...init.tensor, dims: init.tensor.dims.slice(), data: init.tensor.data.slice() } });
  }
  return {
    ...graph,
    inputs: graph.inputs.map((v) => ({ ...v, shape: v.shape.slice() })),
    outputs: graph.outputs.map((v) => ({ ...v, shape: v.shape.slice() })),
    nodes: graph.nodes.map((n) => ({ ...n, inputs: n.inputs.slice(), outputs: n.outputs.slice(), attrs: { ...n.attrs } })),
    initializers,
    metadata: { ...graph.metadata },
  };
}

export function consumers(graph: Graph): Map<string, Node[]> {
  const map = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const t of n.inputs) {
      if (t === '') continue;
      const list = map.get(t) ?? [];
      list.push(n);
      map.set(t, list);
    }
  }
  return map;
}

export function producers(graph: Graph): Map<string, Node> {
  const map = new Map<string, Node>();
  for (const n of graph.nodes) for (const t of n.outputs) map.set(t, n);
  return map;
}

/** Replaces every read of tensor `from` with `to` (graph outputs included, by renaming the producer). */
export function replaceUses(graph: Graph, from: string, to: string): void {
  const isOutput = graph.outputs.some((o) => o.name === from);
  if (isOutput) {
    // Keep the public output name: rename the producer of `to` instead.
    for (const n of graph.nodes) {
      n.outputs = n.outputs.map((t) => (t === to ? from : t));
      n.inputs = n.inputs.map((t) => (t === to ? from : t));
    }
    return;
  }
  for (const n of graph.nodes) n.inputs = n.inputs.map((t) => (t === from ? to : t));
}

/** Removes a single-output node, making its readers read `replacement` instead. */
export function removeNode(graph: Graph, node: Node, replacement: string): void {
  graph.nodes.splice(graph.nodes.indexOf(node), 1);
  replaceUses(graph, node.outputs[0], replacement);
}

/** Drops initializers no node reads. */
export function pruneInitializers(graph: Graph): void {
  const used = new Set(graph.nodes.flatMap((n) => n.inputs));
  for (const name of [...graph.initializers.keys()]) if (!used.has(name)) graph.initializers.delete(name);
}

export function floatData(graph: Graph, name: string): Float32Array {
  const init = graph.initializers.get(name);
  if (!init || init.tensor.dtype !== 'float32') throw new Error(`${name} is not a float32 initializer`);
  return init.tensor.data as Float32Array;
}
