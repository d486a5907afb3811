import { z } from 'zod';
import { benchSection } from './sections/bench';
import { engineSection } from './sections/engine';
import { exportSection } from './sections/export';
import { inputSection } from './sections/input';
import { modelSection } from './sections/model';

/**
 * The whole config: one strict object per section, each in `sections/`. A new section is a new
 * file there and one line here. Keys are snake_case, exactly as written in the YAML.
 */
export const configSchema = z.strictObject({
  model: modelSection,
  input: inputSection,
  engine: engineSection,
  bench: benchSection,
  export: exportSection,
});

export type Config = z.infer<typeof configSchema>;
