/**
 * How to feed a model, stored in ONNX metadata_props so that eval, bench and other people's code
 * need no side channel. Keys are documented in the README ("Model metadata").
 */

export type ColorOrder = 'rgb' | 'bgr';
export type Layout = 'NCHW' | 'NHWC';

export interface InputSpec {
  size: number;
  color: ColorOrder;
  /** Pixels (0..255) are fed as (v - mean) / std. */
  mean: number;
  std: number;
  layout: Layout;
}

export interface ModelDescription {
  backbone: string;
  embeddingSize: number;
  input: InputSpec;
  /** 5 points (left eye, right eye, nose, left and right mouth corners) in output pixels. */
  alignmentTemplate: readonly (readonly [number, number])[];
}

export const METADATA_KEYS = {
  backbone: 'backbone',
  embeddingSize: 'embedding_size',
  normalized: 'embedding_normalized',
  inputSize: 'input_size',
  color: 'color_order',
  mean: 'input_mean',
  std: 'input_std',
  layout: 'input_layout',
  template: 'alignment_template',
} as const;

export function describeModelMetadata(desc: ModelDescription, normalized: boolean): Record<string, string> {
  return {
    [METADATA_KEYS.backbone]: desc.backbone,
    [METADATA_KEYS.embeddingSize]: String(desc.embeddingSize),
    [METADATA_KEYS.normalized]: String(normalized),
    [METADATA_KEYS.inputSize]: String(desc.input.size),
    [METADATA_KEYS.color]: desc.input.color,
    [METADATA_KEYS.mean]: String(desc.input.mean),
    [METADATA_KEYS.std]: String(desc.input.std),
    [METADATA_KEYS.layout]: desc.input.layout,
    [METADATA_KEYS.template]: JSON.stringify(desc.alignmentTemplate),
  };
}

/** Reads the input spec back from metadata; fields a third-party model lacks stay undefined. */
export function inputSpecFromMetadata(meta: Record<string, string>): Partial<InputSpec> {
  const num = (key: string) => (meta[key] !== undefined && Number.isFinite(Number(meta[key])) ? Number(meta[key]) : undefined);
  const color = meta[METADATA_KEYS.color];
  const layout = meta[METADATA_KEYS.layout];
  return {
    size: num(METADATA_KEYS.inputSize),
    color: color === 'rgb' || color === 'bgr' ? color : undefined,
    mean: num(METADATA_KEYS.mean),
    std: num(METADATA_KEYS.std),
    layout: layout === 'NCHW' || layout === 'NHWC' ? layout : undefined,
  };
}
