import { Graph } from '../../graph/types';
import { NoDecay } from './types';

/**
 * Which parameters weight decay leaves alone, decided from the graph rather than from names:
 * every trainable tensor of rank <= 1 (biases, BatchNorm scales and shifts, per-channel PReLU
 * slopes [C]) and every PReLU slope whatever its shape (the [C,1,1] slopes that broadcast over
 * NCHW). Decaying those pulls BatchNorm scales and PReLU slopes toward zero, which only hurts;
 * the common practice (timm, insightface forks) decays weight matrices and kernels only.
 */
export function noDecayParams(graph: Graph): Set<string> {
  const preluSlopes = new Set(graph.nodes.filter((n) => n.opType === 'PRelu').map((n) => n.inputs[1]));
  const exempt = new Set<string>();
  for (const init of graph.initializers.values()) {
    if (init.role !== 'trainable') continue;
    if (init.tensor.dims.length <= 1 || preluSlopes.has(init.name)) exempt.add(init.name);
  }
  return exempt;
}

/** The predicate optimisers take: the graph's exemptions when enabled, else none. */
export function noDecayRule(graph: Graph, exemptBnBias: boolean): NoDecay {
  if (!exemptBnBias) return () => false;
  const exempt = noDecayParams(graph);
  return (param) => exempt.has(param);
}
