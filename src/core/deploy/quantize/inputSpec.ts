import { InputSpec, inputSpecFromMetadata } from '../../export/metadata';
import { Graph } from '../../graph/types';
import { QuantizeInputError } from './inspect';

/**
 * How to feed a model images: its metadata (what export-onnx writes), then what the user says,
 * then the layout and size read off the input shape, then ArcFace's usual RGB (x - 127.5) / 127.5.
 * Which fields were assumed is reported, since a wrong guess shows up only as poor accuracy.
 */

export const DEFAULT_PIXELS = { color: 'rgb', mean: 127.5, std: 127.5 } as const;

export interface ResolvedInputSpec {
  spec: InputSpec;
  /** Fields neither the metadata nor the user gave (defaults or read off the shape). */
  assumed: (keyof InputSpec)[];
}

function layoutFromShape(shape: readonly (number | string)[]): InputSpec['layout'] | undefined {
  if (shape.length !== 4) return undefined;
  if (shape[1] === 3) return 'NCHW';
  if (shape[3] === 3) return 'NHWC';
  return undefined;
}

export function resolveInputSpec(graph: Graph, source: string, given: Partial<InputSpec> = {}): ResolvedInputSpec {
  const input = graph.inputs.find((v) => v.dtype === 'float32');
  if (!input) throw new QuantizeInputError(`${source} has no float32 input`);
  const fromMeta = inputSpecFromMetadata(graph.metadata);
  const known: Partial<InputSpec> = { ...stripUndefined(fromMeta), ...stripUndefined(given) };
  const assumed: (keyof InputSpec)[] = [];
  const layout = known.layout ?? layoutFromShape(input.shape);
  if (!layout) throw new QuantizeInputError(`${source}: input ${input.name} has shape [${input.shape}], expected an image [N,3,H,W] or [N,H,W,3]`);
  if (!known.layout) assumed.push('layout');
  const [h, w] = layout === 'NCHW' ? input.shape.slice(2) : input.shape.slice(1, 3);
  const size = known.size ?? (typeof h === 'number' && h === w ? h : undefined);
  if (size === undefined) throw new QuantizeInputError(`${source}: input ${input.name} [${input.shape}] has no fixed square size; give the image size`);
  if (!known.size) assumed.push('size');
  for (const key of ['color', 'mean', 'std'] as const) if (known[key] === undefined) assumed.push(key);
  return {
    spec: { size, layout, color: known.color ?? DEFAULT_PIXELS.color, mean: known.mean ?? DEFAULT_PIXELS.mean, std: known.std ?? DEFAULT_PIXELS.std },
    assumed,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
