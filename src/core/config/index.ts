/** Configs: YAML files validated against one strict schema; see configs/base.yaml for every key. */
export { ConfigError } from './errors';
export { loadConfig } from './load';
export { BASE_CONFIG, configsDir, resolveConfigFile, shippedConfigNames } from './paths';
export { Config, configSchema } from './schema';
export { BenchConfig } from './sections/bench';
export { EngineConfig } from './sections/engine';
export { ExportConfig } from './sections/export';
export { InputConfig } from './sections/input';
export { ModelConfig, backboneOptions } from './sections/model';
export { QuantizeConfig } from './sections/quantize';
