import { InputError } from '../errors';
import { ColorOrder, InputSpec, Layout } from '../export/metadata';

/**
 * How to feed a model, decided field by field: what the user says on the command line wins,
 * then what the model's metadata says, then what its input shape implies (layout, size), then
 * the config's `input` section. Each field's origin is kept so that a report can say which
 * facts came from where, and a model without metadata is not silently fed the config defaults.
 */

export type SpecOrigin = 'flag' | 'metadata' | 'model-shape' | 'config';

export interface ResolvedInputSpec {
  spec: InputSpec;
  origin: Record<keyof InputSpec, SpecOrigin>;
}

export interface InputSpecSources {
  /** Model label, for messages. */
  model: string;
  /** Explicit choices (command-line flags). */
  overrides: Partial<InputSpec>;
  /** Read from the model's metadata_props (inputSpecFromMetadata). */
  metadata: Partial<InputSpec>;
  /** The model's input shape, batch first; strings are symbolic axes. */
  inputShape: readonly (number | string)[];
  /** The config's `input` section: the last resort for size, colour and normalisation. */
  config: { size: number; color: ColorOrder; mean: number; std: number };
}

function numeric(d: number | string | undefined): number | undefined {
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** NCHW when axis 1 holds 3 channels, NHWC when axis 3 does; undefined when the shape cannot tell. */
export function layoutFromShape(shape: readonly (number | string)[]): Layout | undefined {
  const c1 = numeric(shape[1]) === 3;
  const c3 = numeric(shape[3]) === 3;
  if (c1 && !c3) return 'NCHW';
  if (c3 && !c1) return 'NHWC';
  return undefined;
}

function spatialDims(shape: readonly (number | string)[], layout: Layout): { channels: number | string; height: number | string; width: number | string } {
  return layout === 'NCHW' ? { channels: shape[1], height: shape[2], width: shape[3] } : { channels: shape[3], height: shape[1], width: shape[2] };
}

function pick<T>(...candidates: [T | undefined, SpecOrigin][]): [T, SpecOrigin] | undefined {
  for (const [value, origin] of candidates) if (value !== undefined) return [value, origin];
  return undefined;
}

export function resolveInputSpec(s: InputSpecSources): ResolvedInputSpec {
  const where = `model ${s.model} (input shape [${s.inputShape.join(', ')}])`;
  const layoutChoice = pick<Layout>([s.overrides.layout, 'flag'], [s.metadata.layout, 'metadata'], [layoutFromShape(s.inputShape), 'model-shape']);
  if (layoutChoice === undefined) {
    throw new InputError(`${where}: cannot tell whether the input is NCHW or NHWC; pass --layout NCHW or --layout NHWC`);
  }
  const [layout, layoutOrigin] = layoutChoice;
  const dims = spatialDims(s.inputShape, layout);
  if (numeric(dims.channels) !== undefined && dims.channels !== 3) {
    throw new InputError(`${where}: a ${layout} input needs 3 channels, this one has ${dims.channels}`);
  }
  const height = numeric(dims.height);
  const width = numeric(dims.width);
  if (height !== undefined && width !== undefined && height !== width) {
    throw new InputError(`${where}: expected a square image input, found ${height}x${width}`);
  }
  const shapeSize = height ?? width;
  const [size, sizeOrigin] = pick<number>([s.overrides.size, 'flag'], [s.metadata.size, 'metadata'], [shapeSize, 'model-shape'], [s.config.size, 'config'])!;
  if (shapeSize !== undefined && size !== shapeSize) {
    const by = sizeOrigin === 'flag' ? '--input-size' : 'its metadata';
    throw new InputError(`${where}: the model takes ${shapeSize}x${shapeSize} images, but ${by} says ${size}`);
  }
  const [color, colorOrigin] = pick<ColorOrder>([s.overrides.color, 'flag'], [s.metadata.color, 'metadata'], [s.config.color, 'config'])!;
  const [mean, meanOrigin] = pick<number>([s.overrides.mean, 'flag'], [s.metadata.mean, 'metadata'], [s.config.mean, 'config'])!;
  const [std, stdOrigin] = pick<number>([s.overrides.std, 'flag'], [s.metadata.std, 'metadata'], [s.config.std, 'config'])!;
  if (!(std > 0) || !Number.isFinite(std)) throw new InputError(`${where}: input std must be a number > 0, got ${std}`);
  if (!Number.isFinite(mean)) throw new InputError(`${where}: input mean must be a finite number, got ${mean}`);
  if (!Number.isInteger(size) || size < 1) throw new InputError(`${where}: input size must be an integer >= 1, got ${size}`);
  return {
    spec: { size, color, mean, std, layout },
    origin: { size: sizeOrigin, color: colorOrigin, mean: meanOrigin, std: stdOrigin, layout: layoutOrigin },
  };
}

/** A note for reports when colour or normalisation were not known from the model or the user. */
export function guessedSpecNote(resolved: ResolvedInputSpec): string | undefined {
  const guessed = (['color', 'mean', 'std'] as const).filter((k) => resolved.origin[k] === 'config');
  if (guessed.length === 0) return undefined;
  const values = guessed.map((k) => `${k} ${resolved.spec[k]}`).join(', ');
  return `the model's metadata does not say how to feed it; using the config's ${values}: pass --color/--mean/--std if the model expects otherwise`;
}

/** "112x112 rgb (x - 127.5) / 128 NHWC". */
export function formatInputSpec(spec: InputSpec): string {
  return `${spec.size}x${spec.size} ${spec.color} (x - ${spec.mean}) / ${spec.std} ${spec.layout}`;
}
