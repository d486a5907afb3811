import { ByteBuffer } from 'flatbuffers';
import {
  ACTIVATIONS,
  ACTIVATION_OPTIONS,
  BUFFER,
  BUILTIN_OPERATORS,
  CONCATENATION_OPTIONS,
  CONV_2D_OPTIONS,
  DEPTHWISE_CONV_2D_OPTIONS,
  FILE_IDENTIFIER,
  FULLY_CONNECTED_OPTIONS,
  FusedActivation,
  METADATA,
  MODEL,
  OPERATOR,
  OPERATOR_CODE,
  OPTIONS_TYPE,
  PADDINGS,
  POOL_2D_OPTIONS,
  Padding,
  QUANTIZATION,
  REDUCER_OPTIONS,
  RESHAPE_OPTIONS,
  SIGNATURE_DEF,
  SOFTMAX_OPTIONS,
  SUBGRAPH,
  TENSOR,
  TENSOR_MAP,
  TENSOR_TYPES,
  TfliteTensorType,
} from './schemaFields';

export { FusedActivation, Padding, TfliteTensorType } from './schemaFields';

/**
 * Reads a TFLite flatbuffer (tensorflow/lite/schema/schema.fbs, file identifier TFL3) into
 * plain typed objects. Only the subset the importer needs is decoded; the field indices are the
 * schema's declaration order, shared with the writer in schemaFields.ts.
 * The flatbuffers runtime does no bounds checking, so every access here is range-checked: a
 * truncated or corrupt file fails with one clear line instead of reading zeros.
 */

export class TfliteFormatError extends Error {}

export function builtinOperatorName(code: number): string {
  return BUILTIN_OPERATORS[code] ?? `BUILTIN_${code}`;
}

/** The builtin options tables the importer reads, tagged by table type. */
export type TfliteOptions =
  | { kind: 'conv2d'; padding: Padding; strideW: number; strideH: number; activation: FusedActivation; dilationW: number; dilationH: number }
  | {
      kind: 'depthwiseConv2d';
      padding: Padding;
      strideW: number;
      strideH: number;
      depthMultiplier: number;
      activation: FusedActivation;
      dilationW: number;
      dilationH: number;
    }
  | { kind: 'pool2d'; padding: Padding; strideW: number; strideH: number; filterW: number; filterH: number; activation: FusedActivation }
  | { kind: 'fullyConnected'; activation: FusedActivation; weightsFormat: number; keepNumDims: boolean }
  | { kind: 'softmax'; beta: number }
  | { kind: 'concatenation'; axis: number; activation: FusedActivation }
  /** AddOptions, SubOptions, MulOptions, DivOptions, L2NormOptions: a fused activation only. */
  | { kind: 'activation'; activation: FusedActivation }
  | { kind: 'reshape'; newShape: number[] | undefined }
  | { kind: 'reducer'; keepDims: boolean }
  /** A table this reader does not decode (its union type id), or no options at all (type 0). */
  | { kind: 'other'; unionType: number };

export interface TfliteQuantization {
  scale: number[];
  zeroPoint: number[];
  quantizedDimension: number;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  /** Unknown dimensions as -1, when the file records them. */
  shapeSignature: number[] | undefined;
  type: TfliteTensorType;
  buffer: number;
  /** Constant contents (a view into the file), or undefined for activations. */
  data: Uint8Array | undefined;
  quantization: TfliteQuantization | undefined;
  isVariable: boolean;
}

export interface TfliteOperatorCode {
  builtinCode: number;
  name: string;
  customCode: string | undefined;
  version: number;
}

export interface TfliteOperator {
  index: number;
  opcodeIndex: number;
  /** The builtin op name (e.g. 'CONV_2D'), or 'CUSTOM'. */
  op: string;
  customCode: string | undefined;
  version: number;
  /** Tensor indices; -1 marks an omitted optional input. */
  inputs: number[];
  outputs: number[];
  options: TfliteOptions;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

export interface TfliteMetadata {
  name: string;
  buffer: number;
}

export interface TfliteTensorMap {
  name: string;
  tensorIndex: number;
}

/** A named entry point (SignatureDef): input and output names mapped to subgraph tensors. */
export interface TfliteSignature {
  key: string;
  subgraphIndex: number;
  inputs: TfliteTensorMap[];
  outputs: TfliteTensorMap[];
}

export interface TfliteModel {
  version: number;
  description: string;
  operatorCodes: TfliteOperatorCode[];
  subgraphs: TfliteSubgraph[];
  buffers: Uint8Array[];
  metadata: TfliteMetadata[];
  signatures: TfliteSignature[];
}

/** Range-checked access to flatbuffer tables, vectors and strings over the runtime's ByteBuffer. */
class FlatReader {
  readonly bb: ByteBuffer;

  constructor(
    bytes: Uint8Array,
    private readonly source: string,
  ) {
    this.bb = new ByteBuffer(bytes);
  }

  fail(what: string): never {
    throw new TfliteFormatError(`${this.source} is truncated or corrupt (${what})`);
  }

  check(pos: number, size: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + size > this.bb.capacity()) this.fail(`${what} at byte ${pos} is outside the ${this.bb.capacity()}-byte file`);
  }

  /** The root table's position. */
  root(): number {
    this.check(0, 8, 'root offset');
    return this.table(this.bb.readUint32(0), 'root table');
  }

  /** Validates a table at `pos` and its vtable; returns `pos`. */
  table(pos: number, what: string): number {
    this.check(pos, 4, what);
    const vtable = pos - this.bb.readInt32(pos);
    this.check(vtable, 4, `${what} vtable`);
    this.check(vtable, this.bb.readUint16(vtable), `${what} vtable`);
    return pos;
  }

  /** Absolute position of field `index` of the table at `pos`, or 0 when absent. */
  field(pos: number, index: number): number {
    const rel = this.bb.__offset(pos, 4 + 2 * index);
    return rel === 0 ? 0 : pos + rel;
  }

  int(pos: number, index: number, fallback: number, width: 'i8' | 'u8' | 'i32' | 'u32'): number {
    const at = this.field(pos, index);
    if (at === 0) return fallback;
    const size = width === 'i8' || width === 'u8' ? 1 : 4;
    this.check(at, size, `field ${index}`);
    switch (width) {
      case 'i8':
        return this.bb.readInt8(at);
      case 'u8':
        return this.bb.readUint8(at);
      case 'i32':
        return this.bb.readInt32(at);
      case 'u32':
        return this.bb.readUint32(at);
    }
  }

  float(pos: number, index: number, fallback: number): number {
    const at = this.field(pos, index);
    if (at === 0) return fallback;
    this.check(at, 4, `field ${index}`);
    return this.bb.readFloat32(at);
  }

  uint64(pos: number, index: number): number {
    const at = this.field(pos, index);
    if (at === 0) return 0;
    this.check(at, 8, `field ${index}`);
    return Number(this.bb.readUint64(at));
  }

  /** The table a field points to, or undefined when absent. */
  subtable(pos: number, index: number, what: string): number | undefined {
    const at = this.field(pos, index);
    if (at === 0) return undefined;
    this.check(at, 4, what);
    return this.table(this.bb.__indirect(at), what);
  }

  /** Start and length of a vector field with elements of `elementSize` bytes. */
  vector(pos: number, index: number, elementSize: number, what: string): { start: number; length: number } {
    const at = this.field(pos, index);
    if (at === 0) return { start: 0, length: 0 };
    this.check(at, 4, what);
    this.check(this.bb.__indirect(at), 4, what);
    const length = this.bb.__vector_len(at);
    const start = this.bb.__vector(at);
    this.check(start, length * elementSize, `${what} (${length} elements)`);
    return { start, length };
  }

  int32s(pos: number, index: number, what: string): number[] {
    const { start, length } = this.vector(pos, index, 4, what);
    return Array.from({ length }, (_, i) => this.bb.readInt32(start + 4 * i));
  }

  float32s(pos: number, index: number, what: string): number[] {
    const { start, length } = this.vector(pos, index, 4, what);
    return Array.from({ length }, (_, i) => this.bb.readFloat32(start + 4 * i));
  }

  int64s(pos: number, index: number, what: string): number[] {
    const { start, length } = this.vector(pos, index, 8, what);
    return Array.from({ length }, (_, i) => Number(this.bb.readInt64(start + 8 * i)));
  }

  bytes(pos: number, index: number, what: string): Uint8Array | undefined {
    const at = this.field(pos, index);
    if (at === 0) return undefined;
    const { start, length } = this.vector(pos, index, 1, what);
    return this.bb.bytes().subarray(start, start + length);
  }

  /** Positions of the tables in a vector-of-tables field. */
  tables(pos: number, index: number, what: string): number[] {
    const { start, length } = this.vector(pos, index, 4, what);
    return Array.from({ length }, (_, i) => {
      const slot = start + 4 * i;
      return this.table(slot + this.bb.readUint32(slot), `${what}[${i}]`);
    });
  }

  string(pos: number, index: number, what: string): string | undefined {
    const at = this.field(pos, index);
    if (at === 0) return undefined;
    const { start, length } = this.vector(pos, index, 1, what);
    return Buffer.from(this.bb.bytes().buffer, this.bb.bytes().byteOffset + start, length).toString('utf8');
  }
}

function enumValue<T>(values: readonly T[], code: number, what: string, r: FlatReader): T {
  const v = values[code];
  if (v === undefined) r.fail(`${what} ${code} is not a known value`);
  return v;
}

function readQuantization(r: FlatReader, pos: number): TfliteQuantization | undefined {
  const scale = r.float32s(pos, QUANTIZATION.scale, 'quantization scale');
  const zeroPoint = r.int64s(pos, QUANTIZATION.zeroPoint, 'quantization zero point');
  if (scale.length === 0 && zeroPoint.length === 0) return undefined;
  return { scale, zeroPoint, quantizedDimension: r.int(pos, QUANTIZATION.quantizedDimension, 0, 'i32') };
}

function readTensor(r: FlatReader, pos: number, index: number, buffers: Uint8Array[]): TfliteTensor {
  const what = `tensor ${index}`;
  const buffer = r.int(pos, TENSOR.buffer, 0, 'u32');
  if (buffer >= buffers.length) r.fail(`${what} names buffer ${buffer} of ${buffers.length}`);
  const quantPos = r.subtable(pos, TENSOR.quantization, `${what} quantization`);
  const signature = r.int32s(pos, TENSOR.shapeSignature, `${what} shape signature`);
  const data = buffers[buffer];
  return {
    index,
    name: r.string(pos, TENSOR.name, `${what} name`) ?? '',
    shape: r.int32s(pos, TENSOR.shape, `${what} shape`),
    shapeSignature: signature.length > 0 ? signature : undefined,
    type: enumValue(TENSOR_TYPES, r.int(pos, TENSOR.type, 0, 'i8'), `${what} type`, r),
    buffer,
    data: data.length > 0 ? data : undefined,
    quantization: quantPos === undefined ? undefined : readQuantization(r, quantPos),
    isVariable: r.int(pos, TENSOR.isVariable, 0, 'u8') !== 0,
  };
}

function padding(r: FlatReader, pos: number, index: number): Padding {
  return enumValue(PADDINGS, r.int(pos, index, 0, 'i8'), 'padding', r);
}

function activation(r: FlatReader, pos: number, index: number): FusedActivation {
  return enumValue(ACTIVATIONS, r.int(pos, index, 0, 'i8'), 'fused activation', r);
}

/** Decodes one builtin options table by its union type id. */
function readOptions(r: FlatReader, unionType: number, pos: number): TfliteOptions {
  switch (unionType) {
    case OPTIONS_TYPE.conv2d:
      return {
        kind: 'conv2d',
        padding: padding(r, pos, CONV_2D_OPTIONS.padding),
        strideW: r.int(pos, CONV_2D_OPTIONS.strideW, 0, 'i32'),
        strideH: r.int(pos, CONV_2D_OPTIONS.strideH, 0, 'i32'),
        activation: activation(r, pos, CONV_2D_OPTIONS.activation),
        dilationW: r.int(pos, CONV_2D_OPTIONS.dilationW, 1, 'i32'),
        dilationH: r.int(pos, CONV_2D_OPTIONS.dilationH, 1, 'i32'),
      };
    case OPTIONS_TYPE.depthwiseConv2d:
      return {
        kind: 'depthwiseConv2d',
        padding: padding(r, pos, DEPTHWISE_CONV_2D_OPTIONS.padding),
        strideW: r.int(pos, DEPTHWISE_CONV_2D_OPTIONS.strideW, 0, 'i32'),
        strideH: r.int(pos, DEPTHWISE_CONV_2D_OPTIONS.strideH, 0, 'i32'),
        depthMultiplier: r.int(pos, DEPTHWISE_CONV_2D_OPTIONS.depthMultiplier, 0, 'i32'),
        activation: activation(r, pos, DEPTHWISE_CONV_2D_OPTIONS.activation),
        dilationW: r.int(pos, DEPTHWISE_CONV_2D_OPTIONS.dilationW, 1, 'i32'),
        dilationH: r.int(pos, DEPTHWISE_CONV_2D_OPTIONS.dilationH, 1, 'i32'),
      };
    case OPTIONS_TYPE.pool2d:
      return {
        kind: 'pool2d',
        padding: padding(r, pos, POOL_2D_OPTIONS.padding),
        strideW: r.int(pos, POOL_2D_OPTIONS.strideW, 0, 'i32'),
        strideH: r.int(pos, POOL_2D_OPTIONS.strideH, 0, 'i32'),
        filterW: r.int(pos, POOL_2D_OPTIONS.filterW, 0, 'i32'),
        filterH: r.int(pos, POOL_2D_OPTIONS.filterH, 0, 'i32'),
        activation: activation(r, pos, POOL_2D_OPTIONS.activation),
      };
    case OPTIONS_TYPE.fullyConnected:
      return {
        kind: 'fullyConnected',
        activation: activation(r, pos, FULLY_CONNECTED_OPTIONS.activation),
        weightsFormat: r.int(pos, FULLY_CONNECTED_OPTIONS.weightsFormat, 0, 'i8'),
        keepNumDims: r.int(pos, FULLY_CONNECTED_OPTIONS.keepNumDims, 0, 'u8') !== 0,
      };
    case OPTIONS_TYPE.softmax:
      return { kind: 'softmax', beta: r.float(pos, SOFTMAX_OPTIONS.beta, 0) };
    case OPTIONS_TYPE.concatenation:
      return { kind: 'concatenation', axis: r.int(pos, CONCATENATION_OPTIONS.axis, 0, 'i32'), activation: activation(r, pos, CONCATENATION_OPTIONS.activation) };
    case OPTIONS_TYPE.add:
    case OPTIONS_TYPE.sub:
    case OPTIONS_TYPE.mul:
    case OPTIONS_TYPE.div:
    case OPTIONS_TYPE.l2Norm:
      return { kind: 'activation', activation: activation(r, pos, ACTIVATION_OPTIONS.activation) };
    case OPTIONS_TYPE.reshape: {
      const present = r.field(pos, RESHAPE_OPTIONS.newShape) !== 0;
      return { kind: 'reshape', newShape: present ? r.int32s(pos, RESHAPE_OPTIONS.newShape, 'reshape new_shape') : undefined };
    }
    case OPTIONS_TYPE.reducer:
      return { kind: 'reducer', keepDims: r.int(pos, REDUCER_OPTIONS.keepDims, 0, 'u8') !== 0 };
    default:
      return { kind: 'other', unionType };
  }
}

function readOperator(r: FlatReader, pos: number, index: number, codes: TfliteOperatorCode[]): TfliteOperator {
  const what = `operator ${index}`;
  const opcodeIndex = r.int(pos, OPERATOR.opcodeIndex, 0, 'u32');
  const code = codes[opcodeIndex];
  if (!code) r.fail(`${what} names operator code ${opcodeIndex} of ${codes.length}`);
  const unionType = r.int(pos, OPERATOR.builtinOptionsType, 0, 'u8');
  const optionsPos = r.subtable(pos, OPERATOR.builtinOptions, `${what} options`);
  return {
    index,
    opcodeIndex,
    op: code.name,
    customCode: code.customCode,
    version: code.version,
    inputs: r.int32s(pos, OPERATOR.inputs, `${what} inputs`),
    outputs: r.int32s(pos, OPERATOR.outputs, `${what} outputs`),
    options: optionsPos === undefined ? { kind: 'other', unionType: 0 } : readOptions(r, unionType, optionsPos),
  };
}

function readOperatorCode(r: FlatReader, pos: number, index: number): TfliteOperatorCode {
  const what = `operator code ${index}`;
  // Files before schema 3a only have the byte-sized code; newer ones write both, and the
  // interpreter takes the larger of the two (the byte saturates at 127).
  const deprecated = r.int(pos, OPERATOR_CODE.deprecatedBuiltinCode, 0, 'i8');
  const extended = r.int(pos, OPERATOR_CODE.builtinCode, 0, 'i32');
  const builtinCode = Math.max(deprecated, extended);
  return {
    builtinCode,
    name: builtinOperatorName(builtinCode),
    customCode: r.string(pos, OPERATOR_CODE.customCode, `${what} custom code`),
    version: r.int(pos, OPERATOR_CODE.version, 1, 'i32'),
  };
}

function readBuffer(r: FlatReader, pos: number, index: number): Uint8Array {
  const data = r.bytes(pos, BUFFER.data, `buffer ${index}`);
  if (data && data.length > 0) return data;
  // Models over 2 GB keep buffers after the flatbuffer; offset is from the file start.
  const offset = r.uint64(pos, BUFFER.offset);
  const size = r.uint64(pos, BUFFER.size);
  if (offset > 1) {
    r.check(offset, size, `buffer ${index} data`);
    return r.bb.bytes().subarray(offset, offset + size);
  }
  return new Uint8Array(0);
}

function readSubgraph(r: FlatReader, pos: number, index: number, codes: TfliteOperatorCode[], buffers: Uint8Array[]): TfliteSubgraph {
  const what = `subgraph ${index}`;
  const tensors = r.tables(pos, SUBGRAPH.tensors, `${what} tensors`).map((p, i) => readTensor(r, p, i, buffers));
  const inRange = (list: number[], role: string): number[] => {
    for (const t of list) if (t < -1 || t >= tensors.length) r.fail(`${what} ${role} names tensor ${t} of ${tensors.length}`);
    return list;
  };
  const operators = r.tables(pos, SUBGRAPH.operators, `${what} operators`).map((p, i) => {
    const op = readOperator(r, p, i, codes);
    inRange(op.inputs, `operator ${i} inputs`);
    inRange(op.outputs, `operator ${i} outputs`);
    return op;
  });
  return {
    name: r.string(pos, SUBGRAPH.name, `${what} name`) ?? '',
    tensors,
    inputs: inRange(r.int32s(pos, SUBGRAPH.inputs, `${what} inputs`), 'inputs'),
    outputs: inRange(r.int32s(pos, SUBGRAPH.outputs, `${what} outputs`), 'outputs'),
    operators,
  };
}

export function isTfliteFlatbuffer(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && Buffer.from(bytes.subarray(4, 8)).toString('latin1') === FILE_IDENTIFIER;
}

/** Parses a .tflite file; `source` names it in error messages. */
export function readTfliteModel(bytes: Uint8Array, source = 'model'): TfliteModel {
  if (!isTfliteFlatbuffer(bytes)) throw new TfliteFormatError(`${source} is not a TFLite flatbuffer (identifier ${FILE_IDENTIFIER} missing)`);
  // A plain Uint8Array view, so that views handed out are never Node Buffers (whose slice() aliases).
  const r = new FlatReader(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), source);
  const root = r.root();
  const codes = r.tables(root, MODEL.operatorCodes, 'operator codes').map((p, i) => readOperatorCode(r, p, i));
  const buffers = r.tables(root, MODEL.buffers, 'buffers').map((p, i) => readBuffer(r, p, i));
  const subgraphs = r.tables(root, MODEL.subgraphs, 'subgraphs').map((p, i) => readSubgraph(r, p, i, codes, buffers));
  if (subgraphs.length === 0) throw new TfliteFormatError(`${source} has no subgraph`);
  const metadata = r.tables(root, MODEL.metadata, 'metadata').map((p, i) => ({
    name: r.string(p, METADATA.name, `metadata ${i} name`) ?? '',
    buffer: r.int(p, METADATA.buffer, 0, 'u32'),
  }));
  const tensorMaps = (pos: number, index: number, what: string) =>
    r.tables(pos, index, what).map((p, i) => ({
      name: r.string(p, TENSOR_MAP.name, `${what}[${i}] name`) ?? '',
      tensorIndex: r.int(p, TENSOR_MAP.tensorIndex, 0, 'u32'),
    }));
  const signatures = r.tables(root, MODEL.signatureDefs, 'signature defs').map((p, i) => ({
    key: r.string(p, SIGNATURE_DEF.signatureKey, `signature ${i} key`) ?? '',
    subgraphIndex: r.int(p, SIGNATURE_DEF.subgraphIndex, 0, 'u32'),
    inputs: tensorMaps(p, SIGNATURE_DEF.inputs, `signature ${i} inputs`),
    outputs: tensorMaps(p, SIGNATURE_DEF.outputs, `signature ${i} outputs`),
  }));
  return {
    version: r.int(root, MODEL.version, 0, 'u32'),
    description: r.string(root, MODEL.description, 'description') ?? '',
    operatorCodes: codes,
    subgraphs,
    buffers,
    metadata,
    signatures,
  };
}

/** A constant tensor's contents as float32 (copied, so the view is aligned). */
export function tensorFloats(t: TfliteTensor): Float32Array {
  if (!t.data) throw new TfliteFormatError(`tensor ${t.name} has no constant data`);
  // new Uint8Array(view) copies into a fresh, aligned buffer (a Buffer's slice() would not copy).
  return new Float32Array(new Uint8Array(t.data).buffer, 0, t.data.length / 4);
}

/** A constant int32 or int64 tensor's contents as numbers (shape vectors, axes, paddings). */
export function tensorInts(t: TfliteTensor): number[] {
  if (!t.data) throw new TfliteFormatError(`tensor ${t.name} has no constant data`);
  const copy = new Uint8Array(t.data).buffer;
  if (t.type === 'int32') return Array.from(new Int32Array(copy, 0, t.data.length / 4));
  if (t.type === 'int64') return Array.from(new BigInt64Array(copy, 0, t.data.length / 8), (v) => Number(v));
  throw new TfliteFormatError(`tensor ${t.name} is ${t.type}, expected int32 or int64`);
}
