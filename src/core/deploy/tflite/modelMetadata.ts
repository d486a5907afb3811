import { Builder, ByteBuffer } from 'flatbuffers';

/**
 * TFLite Model Metadata (tensorflow/tflite-support, metadata_schema.fbs, file identifier M001),
 * stored in the model under the name TFLITE_METADATA. It is what Android Studio's ML model
 * binding, the TFLite Support library's MetadataExtractor and the codegen tools read: model
 * name and description, and per input tensor the image colour space and the normalisation
 * (mean, std) the pixels need; per output tensor a description. Only the fields written here
 * (all from schema version 1.0.0) are modelled.
 */

export const METADATA_BUFFER_NAME = 'TFLITE_METADATA';
const FILE_IDENTIFIER = 'M001';
const MIN_PARSER_VERSION = '1.0.0';

// Table field indices (declaration order in metadata_schema.fbs).
const MODEL_METADATA = { name: 0, description: 1, version: 2, subgraphMetadata: 3, author: 4, license: 5, associatedFiles: 6, minParserVersion: 7 } as const;
const SUBGRAPH_METADATA = { name: 0, description: 1, inputTensorMetadata: 2, outputTensorMetadata: 3 } as const;
const TENSOR_METADATA = { name: 0, description: 1, dimensionNames: 2, content: 3, processUnits: 4, stats: 5 } as const;
const CONTENT = { propertiesType: 0, properties: 1, range: 2 } as const;
const IMAGE_PROPERTIES = { colorSpace: 0, defaultSize: 1 } as const;
const IMAGE_SIZE = { width: 0, height: 1 } as const;
const PROCESS_UNIT = { optionsType: 0, options: 1 } as const;
const NORMALIZATION_OPTIONS = { mean: 0, std: 1 } as const;
const STATS = { max: 0, min: 1 } as const;
/** Union ContentProperties and ProcessUnitOptions ids (1-based), enum ColorSpaceType. */
const CONTENT_TYPE = { feature: 1, image: 2 } as const;
const PROCESS_UNIT_TYPE = { normalization: 1 } as const;
const COLOR_SPACES = ['UNKNOWN', 'RGB', 'GRAYSCALE'] as const;

export type ColorSpace = (typeof COLOR_SPACES)[number];

export interface ImageInputMetadata {
  kind: 'image';
  name: string;
  description: string;
  colorSpace: ColorSpace;
  width: number;
  height: number;
  mean: number[];
  std: number[];
  /** Range of the normalised values, for reference ([-1, 1] for (x - 127.5) / 127.5). */
  min: number;
  max: number;
}

export interface FeatureMetadata {
  kind: 'feature';
  name: string;
  description: string;
}

export type TensorMetadata = ImageInputMetadata | FeatureMetadata;

export interface ModelMetadata {
  name: string;
  description: string;
  version: string;
  author: string;
  license: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

function floats(b: Builder, values: readonly number[]): number {
  b.startVector(4, values.length, 4);
  for (let k = values.length - 1; k >= 0; k--) b.addFloat32(values[k]);
  return b.endVector();
}

function offsets(b: Builder, list: readonly number[]): number {
  b.startVector(4, list.length, 4);
  for (let k = list.length - 1; k >= 0; k--) b.addOffset(list[k]);
  return b.endVector();
}

function writeTensor(b: Builder, t: TensorMetadata): number {
  const name = b.createString(t.name);
  const description = b.createString(t.description);
  let properties: number;
  let processUnits = 0;
  let stats = 0;
  if (t.kind === 'image') {
    b.startObject(2);
    b.addFieldInt32(IMAGE_SIZE.width, t.width, null);
    b.addFieldInt32(IMAGE_SIZE.height, t.height, null);
    const size = b.endObject();
    b.startObject(2);
    b.addFieldInt8(IMAGE_PROPERTIES.colorSpace, COLOR_SPACES.indexOf(t.colorSpace), null);
    b.addFieldOffset(IMAGE_PROPERTIES.defaultSize, size, 0);
    properties = b.endObject();
    const mean = floats(b, t.mean);
    const std = floats(b, t.std);
    b.startObject(2);
    b.addFieldOffset(NORMALIZATION_OPTIONS.mean, mean, 0);
    b.addFieldOffset(NORMALIZATION_OPTIONS.std, std, 0);
    const normalization = b.endObject();
    b.startObject(2);
    b.addFieldInt8(PROCESS_UNIT.optionsType, PROCESS_UNIT_TYPE.normalization, null);
    b.addFieldOffset(PROCESS_UNIT.options, normalization, 0);
    processUnits = offsets(b, [b.endObject()]);
    const max = floats(b, [t.max]);
    const min = floats(b, [t.min]);
    b.startObject(2);
    b.addFieldOffset(STATS.max, max, 0);
    b.addFieldOffset(STATS.min, min, 0);
    stats = b.endObject();
  } else {
    b.startObject(0);
    properties = b.endObject();
  }
  b.startObject(3);
  b.addFieldInt8(CONTENT.propertiesType, t.kind === 'image' ? CONTENT_TYPE.image : CONTENT_TYPE.feature, null);
  b.addFieldOffset(CONTENT.properties, properties, 0);
  const content = b.endObject();
  b.startObject(6);
  b.addFieldOffset(TENSOR_METADATA.name, name, 0);
  b.addFieldOffset(TENSOR_METADATA.description, description, 0);
  b.addFieldOffset(TENSOR_METADATA.content, content, 0);
  if (processUnits) b.addFieldOffset(TENSOR_METADATA.processUnits, processUnits, 0);
  if (stats) b.addFieldOffset(TENSOR_METADATA.stats, stats, 0);
  return b.endObject();
}

/** The TFLITE_METADATA buffer's bytes. */
export function writeModelMetadata(m: ModelMetadata): Uint8Array {
  const b = new Builder(1024);
  const inputs = offsets(
    b,
    m.inputs.map((t) => writeTensor(b, t)),
  );
  const outputs = offsets(
    b,
    m.outputs.map((t) => writeTensor(b, t)),
  );
  const sgName = b.createString(m.name);
  b.startObject(4);
  b.addFieldOffset(SUBGRAPH_METADATA.name, sgName, 0);
  b.addFieldOffset(SUBGRAPH_METADATA.inputTensorMetadata, inputs, 0);
  b.addFieldOffset(SUBGRAPH_METADATA.outputTensorMetadata, outputs, 0);
  const subgraph = offsets(b, [b.endObject()]);
  const [name, description, version, author, license, parser] = [m.name, m.description, m.version, m.author, m.license, MIN_PARSER_VERSION].map((s) => b.createString(s));
  b.startObject(8);
  b.addFieldOffset(MODEL_METADATA.name, name, 0);
  b.addFieldOffset(MODEL_METADATA.description, description, 0);
  b.addFieldOffset(MODEL_METADATA.version, version, 0);
  b.addFieldOffset(MODEL_METADATA.subgraphMetadata, subgraph, 0);
  b.addFieldOffset(MODEL_METADATA.author, author, 0);
  b.addFieldOffset(MODEL_METADATA.license, license, 0);
  b.addFieldOffset(MODEL_METADATA.minParserVersion, parser, 0);
  b.finish(b.endObject(), FILE_IDENTIFIER);
  return b.asUint8Array().slice();
}

/** Reads back what writeModelMetadata writes (for checks; not a general metadata reader). */
export function readModelMetadata(bytes: Uint8Array): ModelMetadata {
  const bb = new ByteBuffer(bytes);
  if (bytes.length < 8 || !bb.__has_identifier(FILE_IDENTIFIER)) throw new Error(`not a TFLite metadata buffer (identifier ${FILE_IDENTIFIER} missing)`);
  const field = (table: number, index: number) => {
    const rel = bb.__offset(table, 4 + 2 * index);
    return rel === 0 ? 0 : table + rel;
  };
  const str = (table: number, index: number) => {
    const at = field(table, index);
    return at === 0 ? '' : (bb.__string(at) as string);
  };
  const sub = (table: number, index: number) => {
    const at = field(table, index);
    return at === 0 ? 0 : bb.__indirect(at);
  };
  const tables = (table: number, index: number) => {
    const at = field(table, index);
    if (at === 0) return [];
    const start = bb.__vector(at);
    return Array.from({ length: bb.__vector_len(at) }, (_, i) => bb.__indirect(start + 4 * i));
  };
  const floatVector = (table: number, index: number) => {
    const at = field(table, index);
    if (at === 0) return [];
    const start = bb.__vector(at);
    return Array.from({ length: bb.__vector_len(at) }, (_, i) => bb.readFloat32(start + 4 * i));
  };
  const byte = (table: number, index: number) => {
    const at = field(table, index);
    return at === 0 ? 0 : bb.readInt8(at);
  };
  const tensor = (t: number): TensorMetadata => {
    const content = sub(t, TENSOR_METADATA.content);
    const name = str(t, TENSOR_METADATA.name);
    const description = str(t, TENSOR_METADATA.description);
    if (byte(content, CONTENT.propertiesType) !== CONTENT_TYPE.image) return { kind: 'feature', name, description };
    const image = sub(content, CONTENT.properties);
    const size = sub(image, IMAGE_PROPERTIES.defaultSize);
    const unit = tables(t, TENSOR_METADATA.processUnits)[0];
    const normalization = unit ? sub(unit, PROCESS_UNIT.options) : 0;
    const stats = sub(t, TENSOR_METADATA.stats);
    const u32 = (table: number, index: number) => (field(table, index) === 0 ? 0 : bb.readUint32(field(table, index)));
    return {
      kind: 'image',
      name,
      description,
      colorSpace: COLOR_SPACES[byte(image, IMAGE_PROPERTIES.colorSpace)] ?? 'UNKNOWN',
      width: u32(size, IMAGE_SIZE.width),
      height: u32(size, IMAGE_SIZE.height),
      mean: normalization ? floatVector(normalization, NORMALIZATION_OPTIONS.mean) : [],
      std: normalization ? floatVector(normalization, NORMALIZATION_OPTIONS.std) : [],
      max: stats ? floatVector(stats, STATS.max)[0] : NaN,
      min: stats ? floatVector(stats, STATS.min)[0] : NaN,
    };
  };
  const root = bb.readInt32(bb.position()) + bb.position();
  const subgraph = tables(root, MODEL_METADATA.subgraphMetadata)[0];
  return {
    name: str(root, MODEL_METADATA.name),
    description: str(root, MODEL_METADATA.description),
    version: str(root, MODEL_METADATA.version),
    author: str(root, MODEL_METADATA.author),
    license: str(root, MODEL_METADATA.license),
    inputs: subgraph ? tables(subgraph, SUBGRAPH_METADATA.inputTensorMetadata).map(tensor) : [],
    outputs: subgraph ? tables(subgraph, SUBGRAPH_METADATA.outputTensorMetadata).map(tensor) : [],
  };
}
