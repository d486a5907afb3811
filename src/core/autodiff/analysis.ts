import { Graph, Node, getAttr } from '../graph/types';
import { DISCRETE_OPS } from './registry';
import { AutodiffError, RuleSet } from './types';

/** What the builder needs to know about the forward graph before emitting anything. */

/** ONNX element types FLOAT16, FLOAT, DOUBLE, BFLOAT16: a Cast to one of them keeps gradients. */
const FLOAT_TYPES = new Set([1, 10, 11, 16]);

export function isDiscrete(node: Node): boolean {
  if (node.opType === 'Cast') return !FLOAT_TYPES.has(getAttr(node, 'to', 'int') ?? 0);
  return DISCRETE_OPS.has(node.opType);
}

/** The nodes in an order where every tensor is produced before it is read (Kahn's algorithm, stable). */
export function topologicalOrder(graph: Graph): Node[] {
  const available = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.initializers.keys(), '']);
  const pending = graph.nodes.slice();
  const ordered: Node[] = [];
  while (pending.length > 0) {
    const ready = pending.findIndex((n) => n.inputs.every((t) => available.has(t)));
    if (ready < 0) {
      const stuck = pending[0];
      throw new AutodiffError(`node ${stuck.name} (${stuck.opType}) reads ${stuck.inputs.find((t) => !available.has(t))}, which nothing produces (or a cycle)`);
    }
    const [node] = pending.splice(ready, 1);
    ordered.push(node);
    for (const t of node.outputs) available.add(t);
  }
  return ordered;
}

/** Input slots of `node` through which gradients can flow under `rules`. */
export function differentiableSlots(node: Node, rules: RuleSet, training: boolean): number[] {
  const rule = (training ? rules.trainingForms[node.opType] : undefined) ?? rules.gradients[node.opType];
  const all = node.inputs.map((_, i) => i);
  return rule?.differentiable ? rule.differentiable.filter((i) => i < node.inputs.length) : all;
}

/**
 * Tensors that depend on a trained parameter through differentiable slots: exactly those whose
 * gradient anybody needs. Everything else (data, labels, frozen branches) gets no gradient work.
 */
export function tensorsNeedingGradient(
  nodes: readonly Node[],
  params: ReadonlySet<string>,
  slotsOf: (node: Node) => number[],
): Set<string> {
  const needing = new Set<string>(params);
  for (const node of nodes) {
    if (isDiscrete(node)) continue;
    if (slotsOf(node).some((i) => needing.has(node.inputs[i]))) for (const t of node.outputs) if (t !== '') needing.add(t);
  }
  return needing;
}

export function isFrozen(name: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => name.startsWith(p));
}
