import * as fs from 'node:fs';
import { GRAPH_OPTIMIZATIONS, GraphOptimization, EngineOptions, PROVIDERS, Provider } from '../engines/onnxruntime';
import { InputError } from '../errors';

/**
 * A `--compare` entry is either another model, or engine settings applied to the first model
 * (`threads=1`, `graph_optimization=basic,threads=2`, `provider=cuda`).
 */
export type CompareEntry = { kind: 'model'; spec: string } | { kind: 'settings'; engine: Partial<EngineOptions>; label: string };

const SETTING_KEYS = ['threads', 'provider', 'graph_optimization'] as const;

function parseSetting(entry: string, pair: string): Partial<EngineOptions> {
  const [key, value] = pair.split('=', 2).map((s) => s.trim());
  switch (key) {
    case 'threads': {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new InputError(`--compare ${entry}: threads must be an integer >= 0, got "${value}"`);
      return { threads: n };
    }
    case 'provider':
      if (!(PROVIDERS as readonly string[]).includes(value)) throw new InputError(`--compare ${entry}: provider must be one of ${PROVIDERS.join(', ')}, got "${value}"`);
      return { provider: value as Provider };
    case 'graph_optimization':
      if (!(GRAPH_OPTIMIZATIONS as readonly string[]).includes(value)) {
        throw new InputError(`--compare ${entry}: graph_optimization must be one of ${GRAPH_OPTIMIZATIONS.join(', ')}, got "${value}"`);
      }
      return { graphOptimization: value as GraphOptimization };
    default:
      throw new InputError(`--compare ${entry}: unknown setting "${key}" (expected ${SETTING_KEYS.join(', ')}, or a model file)`);
  }
}

export function parseCompare(entry: string): CompareEntry {
  if (!entry.includes('=') || fs.existsSync(entry)) return { kind: 'model', spec: entry };
  const engine = entry.split(',').reduce<Partial<EngineOptions>>((acc, pair) => ({ ...acc, ...parseSetting(entry, pair) }), {});
  return { kind: 'settings', engine, label: entry };
}
