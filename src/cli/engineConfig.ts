import { EngineConfig } from '../core/config';
import { EngineOptions, GraphOptimization, Provider } from '../core/engines/onnxruntime';

/** Engine options from the config, with command-line flags taking precedence. */
export function engineOptions(
  config: EngineConfig,
  flags: { threads?: number; provider?: Provider; 'graph-optimization'?: GraphOptimization },
): EngineOptions {
  return {
    provider: flags.provider ?? config.provider,
    threads: flags.threads ?? config.threads,
    graphOptimization: flags['graph-optimization'] ?? config.graph_optimization,
  };
}
