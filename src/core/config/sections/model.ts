import { z } from 'zod';
import { BackboneOptions } from '../../nn/backbone';
import { BACKBONES, BackboneName } from '../../nn/registry';
import { int, num, oneOf } from '../fields';

const backboneNames = Object.keys(BACKBONES) as [BackboneName, ...BackboneName[]];

/** What is needed to rebuild a backbone graph: stored in checkpoints as well as read from YAML. */
export const modelSection = z.strictObject({
  backbone: oneOf(backboneNames),
  embedding_size: int({ min: 16, max: 4096 }),
  dropout: num({ min: 0, below: 1 }),
  // The Rng takes a 32-bit seed; a larger one would silently alias a smaller one.
  seed: int({ min: 0, max: 0xffffffff }),
});

export type ModelConfig = z.infer<typeof modelSection>;

export function backboneOptions(model: ModelConfig): BackboneOptions {
  return { embeddingSize: model.embedding_size, dropout: model.dropout, seed: model.seed };
}
