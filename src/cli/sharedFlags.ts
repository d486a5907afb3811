import { Flags } from '@oclif/core';
import { GRAPH_OPTIMIZATIONS, PROVIDERS } from '../core/engines/onnxruntime';

/** Flags several commands share, declared once. */

export const configFlags = {
  config: Flags.string({ char: 'c', description: 'YAML config file, or the name of a shipped config (e.g. resnet50).' }),
  set: Flags.string({ description: 'Override a config key: --set model.embedding_size=256 (repeatable).', multiple: true, default: [] }),
};

export const engineFlags = {
  threads: Flags.integer({ description: 'onnxruntime intra-op threads (default: engine.threads from the config; 0 = all cores).', min: 0 }),
  provider: Flags.option({ options: PROVIDERS, description: 'Execution provider (default: engine.provider).' })(),
  'graph-optimization': Flags.option({ options: GRAPH_OPTIMIZATIONS, description: 'onnxruntime graph optimisation level.' })(),
};
