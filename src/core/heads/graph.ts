import { GraphBuilder } from '../graph/builder';
import { resolveOutputs } from '../graph/shapes';
import { Graph, ValueInfo } from '../graph/types';
import { EMBEDDING_NAME } from '../nn/backbone';
import { buildHead } from './registry';
import { HeadDims, HeadOutputs, HeadSpec } from './types';

/**
 * Heads as whole graphs: on their own (embedding and labels in; loss, logits, scores out), or
 * appended to a backbone graph to make the forward graph that training differentiates.
 */

export const LABELS_NAME = 'labels';
export const LOGITS_NAME = 'logits';
export const SCORES_NAME = 'scores';
export const LOSS_NAME = 'loss';

export interface HeadGraph {
  graph: Graph;
  /** Graph output names (scores === logits for the softmax head). */
  outputs: HeadOutputs;
}

/** A graph: `embedding` [N,E] and `labels` [N,C] (one-hot, float) -> `loss`, `logits`, `scores`. */
export function headGraph(spec: HeadSpec, dims: HeadDims, seed: number): HeadGraph {
  const b = new GraphBuilder(`${spec.type}_head`, seed);
  const embedding = b.input(EMBEDDING_NAME, ['N', dims.embeddingSize]);
  const labels = b.input(LABELS_NAME, ['N', dims.classes]);
  const built = buildHead(b, embedding, labels, spec, dims);
  const outputs: HeadOutputs = {
    loss: b.output(built.loss, LOSS_NAME),
    logits: b.output(built.logits, LOGITS_NAME),
    scores: built.scores === built.logits ? LOGITS_NAME : b.output(built.scores, SCORES_NAME),
  };
  resolveOutputs(b.graph);
  return { graph: b.graph, outputs };
}

function tensorNames(graph: Graph): Set<string> {
  return new Set([...graph.initializers.keys(), ...graph.inputs.map((i) => i.name), ...graph.nodes.flatMap((n) => n.outputs)]);
}

function embeddingSizeOf(backbone: Graph): number {
  const out = backbone.outputs.find((o) => o.name === EMBEDDING_NAME);
  const size = out?.shape[1];
  if (!out || out.shape.length !== 2 || typeof size !== 'number') {
    throw new Error(`backbone ${backbone.name}: expected an output ${EMBEDDING_NAME} of shape [N, E], found ${out ? `[${out.shape}]` : 'none'}`);
  }
  return size;
}

/**
 * The backbone with a head on its `embedding`: inputs are the backbone's plus `labels`; outputs
 * are loss, logits, scores and the embedding. The backbone graph is not modified.
 */
export function attachHead(backbone: Graph, spec: HeadSpec, classes: number, seed: number): HeadGraph {
  const head = headGraph(spec, { embeddingSize: embeddingSizeOf(backbone), classes }, seed);
  const taken = tensorNames(backbone);
  const clash = [...tensorNames(head.graph)].find((name) => name !== EMBEDDING_NAME && taken.has(name));
  if (clash !== undefined) throw new Error(`backbone ${backbone.name} already has a tensor named ${clash}`);
  const initializers = new Map([...backbone.initializers, ...head.graph.initializers]);
  const embedding = backbone.outputs.find((o) => o.name === EMBEDDING_NAME) as ValueInfo;
  const labels = head.graph.inputs.filter((i) => i.name !== EMBEDDING_NAME);
  const graph: Graph = {
    ...backbone,
    name: `${backbone.name}+${head.graph.name}`,
    inputs: [...backbone.inputs, ...labels],
    nodes: [...backbone.nodes, ...head.graph.nodes],
    initializers,
    outputs: [...head.graph.outputs, embedding],
    metadata: { ...backbone.metadata },
  };
  return { graph, outputs: head.outputs };
}
