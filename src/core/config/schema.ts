import { z } from 'zod';
import { benchSection } from './sections/bench';
import { dataSection } from './sections/data';
import { detectSection } from './sections/detect';
import { engineSection } from './sections/engine';
import { evalSection } from './sections/eval';
import { exportSection } from './sections/export';
import { headSection } from './sections/head';
import { inputSection } from './sections/input';
import { modelSection } from './sections/model';
import { optimizerSection } from './sections/optimizer';
import { quantizeSection } from './sections/quantize';
import { scheduleSection } from './sections/schedule';
import { trainSection } from './sections/train';

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
  eval: evalSection,
  detect: detectSection,
  quantize: quantizeSection,
  data: dataSection,
  head: headSection,
  optimizer: optimizerSection,
  schedule: scheduleSection,
  train: trainSection,
});

export type Config = z.infer<typeof configSchema>;
