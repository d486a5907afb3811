import { Graph } from '../graph/types';

/**
 * Drops every node no graph output depends on, then every initializer nothing reads. Nodes must
 * be in topological order (the builder emits them so).
 */
export function pruneToOutputs(graph: Graph): void {
  const needed = new Set(graph.outputs.map((o) => o.name));
  const kept = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (!node.outputs.some((t) => needed.has(t))) continue;
    kept.push(node);
    for (const t of node.inputs) if (t !== '') needed.add(t);
  }
  graph.nodes = kept.reverse();
  for (const name of [...graph.initializers.keys()]) if (!needed.has(name)) graph.initializers.delete(name);
}
