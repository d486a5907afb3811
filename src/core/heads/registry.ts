import { GraphBuilder } from '../graph/builder';
import { marginHead } from './marginHead';
import { softmaxHead } from './softmaxHead';
import { HeadDims, HeadOutputs, HeadSpec, HeadType } from './types';

/** Adds a head's nodes reading `embedding` [N,E] and one-hot `labels` [N,C] (float); returns its tensors. */
export type HeadBuilder<S extends HeadSpec> = (b: GraphBuilder, embedding: string, labels: string, spec: S, dims: HeadDims) => HeadOutputs;

/** Every head by the name configs use. */
export const HEADS: { [T in HeadType]: HeadBuilder<Extract<HeadSpec, { type: T }>> } = {
  softmax: softmaxHead,
  sphereface: marginHead,
  cosface: marginHead,
  arcface: marginHead,
  combined: marginHead,
};

/** The scope every head's parameters live under: `head.weight`, `head.bias`. */
export const HEAD_SCOPE = 'head';

export function buildHead(b: GraphBuilder, embedding: string, labels: string, spec: HeadSpec, dims: HeadDims): HeadOutputs {
  // HEADS is keyed so that each entry receives its own spec type; TypeScript cannot follow that
  // correlation through an index, hence the widening.
  const build = HEADS[spec.type] as HeadBuilder<HeadSpec>;
  return b.within(HEAD_SCOPE, () => build(b, embedding, labels, spec, dims));
}
