import { GraphBuilder } from '../graph/builder';
import { resolveOutputs } from '../graph/shapes';
import { Graph } from '../graph/types';

/** What every backbone builder receives. Inputs are [N,3,112,112] RGB in [-1, 1]. */
export interface BackboneOptions {
  embeddingSize: number;
  /** Dropout before the embedding layer, where the architecture has one. */
  dropout: number;
  seed: number;
}

/** Adds the backbone's nodes to `b`, reading `input`; returns the embedding tensor name. */
export type BackboneBuilder = (b: GraphBuilder, input: string, opts: BackboneOptions) => string;

export const INPUT_NAME = 'input';
export const EMBEDDING_NAME = 'embedding';
export const INPUT_SIZE = 112;

/** Builds a complete backbone graph: `input` [N,3,112,112] -> `embedding` [N,E]. */
export function backboneGraph(name: string, build: BackboneBuilder, opts: BackboneOptions): Graph {
  const b = new GraphBuilder(name, opts.seed);
  const input = b.input(INPUT_NAME, ['N', 3, INPUT_SIZE, INPUT_SIZE]);
  const embedding = b.within('backbone', () => build(b, input, opts));
  b.output(embedding, EMBEDDING_NAME);
  resolveOutputs(b.graph);
  return b.graph;
}
