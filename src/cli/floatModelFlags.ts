import { Args, Flags } from '@oclif/core';
import { Config } from '../core/config';
import { CALIBRATION_METHODS } from '../core/deploy/quantize/calibrate';
import { InputError } from '../core/errors';
import { configFlags, engineFlags } from './sharedFlags';

/**
 * What the commands that convert a float model (quantize, export-tflite) take alike: the model,
 * how to feed it when its metadata does not say, and the face crops that calibrate int8 ranges.
 * Kept apart from sharedFlags.ts so that other commands do not load the quantizer.
 */

export const floatModelArgs = { model: Args.string({ description: 'The float model.', required: true }) };

/** Each command describes --calibration itself: what the images are used for differs. */
export const floatModelFlags = {
  ...configFlags,
  ...engineFlags,
  'calibration-count': Flags.integer({ description: 'Images drawn (seeded) from --calibration to calibrate (default: quantize.calibration_images).', min: 1 }),
  method: Flags.option({ options: CALIBRATION_METHODS, description: 'Activation ranges: minmax, percentile or entropy (default: quantize.method).' })(),
  equalize: Flags.boolean({ description: 'Cross-layer equalization before calibration (default: quantize.equalize).', allowNo: true }),
  color: Flags.option({ options: ['rgb', 'bgr'] as const, description: "Input channel order, when the model's metadata does not say." })(),
  mean: Flags.string({ description: 'Input mean (pixels 0..255 are fed as (x - mean) / std), when the metadata does not say.' }),
  std: Flags.string({ description: 'Input std, when the metadata does not say.' }),
};

/** The value of a numeric flag given as a string, or undefined when the flag is absent. */
export function parseNumberFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InputError(`--${flag} ${value}: expected a number`);
  return n;
}

interface FloatModelFlagValues {
  set: string[];
  output: string;
  calibration?: string;
  'calibration-count'?: number;
  color?: 'rgb' | 'bgr';
  mean?: string;
  std?: string;
}

/** The request fields runQuantize and runExportTflite share, from the flags and the config. */
export function floatModelRequest(model: string, flags: FloatModelFlagValues, config: Config) {
  return {
    model,
    sets: flags.set,
    output: flags.output,
    input: { color: flags.color, mean: parseNumberFlag('mean', flags.mean), std: parseNumberFlag('std', flags.std) },
    calibrationDir: flags.calibration,
    calibrationCount: flags['calibration-count'] ?? config.quantize.calibration_images,
    seed: config.model.seed,
  };
}
