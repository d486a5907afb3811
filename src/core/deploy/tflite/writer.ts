import { Builder } from 'flatbuffers';
import { TfliteOptions, TfliteQuantization, TfliteTensorMap } from './schema';
import {
  ACTIVATIONS,
  ACTIVATION_OPTIONS,
  BUFFER,
  CONCATENATION_OPTIONS,
  CONV_2D_OPTIONS,
  DEPTHWISE_CONV_2D_OPTIONS,
  FILE_IDENTIFIER,
  FULLY_CONNECTED_OPTIONS,
  METADATA,
  MODEL,
  OPERATOR,
  OPERATOR_CODE,
  OPTIONS_TYPE,
  PADDINGS,
  PLACEHOLDER_FOR_GREATER_OP_CODES,
  POOL_2D_OPTIONS,
  QUANTIZATION,
  REDUCER_OPTIONS,
  RESHAPE_OPTIONS,
  SCHEMA_VERSION,
  SIGNATURE_DEF,
  SOFTMAX_OPTIONS,
  SUBGRAPH,
  TENSOR,
  TENSOR_MAP,
  TENSOR_TYPES,
  TfliteTensorType,
  builtinOperatorCode,
} from './schemaFields';

/**
 * Writes a TFLite flatbuffer from plain objects: one subgraph, its tensors (constant contents in
 * 16-byte aligned buffers, buffer 0 the empty sentinel), operators with their builtin options,
 * metadata buffers and signature defs. Options use the reader's TfliteOptions union, so a file
 * written here reads back into the same objects.
 */

export interface TensorSpec {
  name: string;
  shape: number[];
  /** The shape with -1 for dimensions that may change (the batch). */
  shapeSignature?: number[];
  type: TfliteTensorType;
  /** Constant contents, little-endian. */
  data?: Uint8Array;
  quantization?: TfliteQuantization;
}

export interface OperatorSpec {
  /** Builtin operator name, e.g. 'CONV_2D'. */
  op: string;
  version: number;
  /** Tensor indices; -1 marks an omitted optional input. */
  inputs: number[];
  outputs: number[];
  options?: TfliteOptions;
}

export interface SignatureSpec {
  key: string;
  inputs: TfliteTensorMap[];
  outputs: TfliteTensorMap[];
}

export interface ModelSpec {
  description: string;
  subgraph: { name: string; tensors: TensorSpec[]; inputs: number[]; outputs: number[]; operators: OperatorSpec[] };
  /** Named metadata, each stored in its own buffer. */
  metadata: { name: string; data: Uint8Array }[];
  signatures: SignatureSpec[];
}

/** The union type of `options` for operator `op` (AddOptions and MulOptions share one shape). */
function optionsType(op: string, options: TfliteOptions): number {
  switch (options.kind) {
    case 'conv2d':
      return OPTIONS_TYPE.conv2d;
    case 'depthwiseConv2d':
      return OPTIONS_TYPE.depthwiseConv2d;
    case 'pool2d':
      return OPTIONS_TYPE.pool2d;
    case 'fullyConnected':
      return OPTIONS_TYPE.fullyConnected;
    case 'softmax':
      return OPTIONS_TYPE.softmax;
    case 'concatenation':
      return OPTIONS_TYPE.concatenation;
    case 'reshape':
      return OPTIONS_TYPE.reshape;
    case 'reducer':
      return OPTIONS_TYPE.reducer;
    case 'activation': {
      const byOp: Record<string, number> = { ADD: OPTIONS_TYPE.add, SUB: OPTIONS_TYPE.sub, MUL: OPTIONS_TYPE.mul, DIV: OPTIONS_TYPE.div, L2_NORMALIZATION: OPTIONS_TYPE.l2Norm };
      const type = byOp[op];
      if (type === undefined) throw new Error(`${op} has no activation options`);
      return type;
    }
    case 'other':
      return options.unionType;
  }
}

class Writer {
  readonly b = new Builder(1 << 16);

  int32Vector(values: readonly number[]): number {
    this.b.startVector(4, values.length, 4);
    for (let k = values.length - 1; k >= 0; k--) this.b.addInt32(values[k]);
    return this.b.endVector();
  }

  float32Vector(values: readonly number[]): number {
    this.b.startVector(4, values.length, 4);
    for (let k = values.length - 1; k >= 0; k--) this.b.addFloat32(values[k]);
    return this.b.endVector();
  }

  int64Vector(values: readonly number[]): number {
    this.b.startVector(8, values.length, 8);
    for (let k = values.length - 1; k >= 0; k--) this.b.addInt64(BigInt(values[k]));
    return this.b.endVector();
  }

  offsetVector(offsets: readonly number[]): number {
    this.b.startVector(4, offsets.length, 4);
    for (let k = offsets.length - 1; k >= 0; k--) this.b.addOffset(offsets[k]);
    return this.b.endVector();
  }

  /** A byte vector whose first byte is 16-byte aligned (Buffer.data is force_align: 16). */
  alignedBytes(data: Uint8Array): number {
    this.b.prep(16, data.length);
    return this.b.createByteVector(data);
  }

  buffer(data: Uint8Array | undefined): number {
    const vector = data && data.length > 0 ? this.alignedBytes(data) : 0;
    this.b.startObject(3);
    if (vector) this.b.addFieldOffset(BUFFER.data, vector, 0);
    return this.b.endObject();
  }

  quantization(q: TfliteQuantization): number {
    const scale = this.float32Vector(q.scale);
    const zeroPoint = this.int64Vector(q.zeroPoint);
    this.b.startObject(7);
    this.b.addFieldOffset(QUANTIZATION.scale, scale, 0);
    this.b.addFieldOffset(QUANTIZATION.zeroPoint, zeroPoint, 0);
    this.b.addFieldInt32(QUANTIZATION.quantizedDimension, q.quantizedDimension, 0);
    return this.b.endObject();
  }

  tensor(t: TensorSpec, buffer: number): number {
    const name = this.b.createString(t.name);
    const shape = this.int32Vector(t.shape);
    const signature = t.shapeSignature ? this.int32Vector(t.shapeSignature) : 0;
    const quantization = t.quantization ? this.quantization(t.quantization) : 0;
    this.b.startObject(9);
    this.b.addFieldOffset(TENSOR.shape, shape, 0);
    this.b.addFieldInt8(TENSOR.type, TENSOR_TYPES.indexOf(t.type), null);
    this.b.addFieldInt32(TENSOR.buffer, buffer, null);
    this.b.addFieldOffset(TENSOR.name, name, 0);
    if (quantization) this.b.addFieldOffset(TENSOR.quantization, quantization, 0);
    if (signature) this.b.addFieldOffset(TENSOR.shapeSignature, signature, 0);
    this.b.addFieldInt8(TENSOR.hasRank, 1, null);
    return this.b.endObject();
  }

  options(o: TfliteOptions): number {
    const b = this.b;
    const act = (a: (typeof ACTIVATIONS)[number]) => ACTIVATIONS.indexOf(a);
    const pad = (p: (typeof PADDINGS)[number]) => PADDINGS.indexOf(p);
    switch (o.kind) {
      case 'conv2d':
        b.startObject(7);
        b.addFieldInt8(CONV_2D_OPTIONS.padding, pad(o.padding), null);
        b.addFieldInt32(CONV_2D_OPTIONS.strideW, o.strideW, null);
        b.addFieldInt32(CONV_2D_OPTIONS.strideH, o.strideH, null);
        b.addFieldInt8(CONV_2D_OPTIONS.activation, act(o.activation), null);
        b.addFieldInt32(CONV_2D_OPTIONS.dilationW, o.dilationW, null);
        b.addFieldInt32(CONV_2D_OPTIONS.dilationH, o.dilationH, null);
        return b.endObject();
      case 'depthwiseConv2d':
        b.startObject(7);
        b.addFieldInt8(DEPTHWISE_CONV_2D_OPTIONS.padding, pad(o.padding), null);
        b.addFieldInt32(DEPTHWISE_CONV_2D_OPTIONS.strideW, o.strideW, null);
        b.addFieldInt32(DEPTHWISE_CONV_2D_OPTIONS.strideH, o.strideH, null);
        b.addFieldInt32(DEPTHWISE_CONV_2D_OPTIONS.depthMultiplier, o.depthMultiplier, null);
        b.addFieldInt8(DEPTHWISE_CONV_2D_OPTIONS.activation, act(o.activation), null);
        b.addFieldInt32(DEPTHWISE_CONV_2D_OPTIONS.dilationW, o.dilationW, null);
        b.addFieldInt32(DEPTHWISE_CONV_2D_OPTIONS.dilationH, o.dilationH, null);
        return b.endObject();
      case 'pool2d':
        b.startObject(6);
        b.addFieldInt8(POOL_2D_OPTIONS.padding, pad(o.padding), null);
        b.addFieldInt32(POOL_2D_OPTIONS.strideW, o.strideW, null);
        b.addFieldInt32(POOL_2D_OPTIONS.strideH, o.strideH, null);
        b.addFieldInt32(POOL_2D_OPTIONS.filterW, o.filterW, null);
        b.addFieldInt32(POOL_2D_OPTIONS.filterH, o.filterH, null);
        b.addFieldInt8(POOL_2D_OPTIONS.activation, act(o.activation), null);
        return b.endObject();
      case 'fullyConnected':
        b.startObject(3);
        b.addFieldInt8(FULLY_CONNECTED_OPTIONS.activation, act(o.activation), null);
        b.addFieldInt8(FULLY_CONNECTED_OPTIONS.weightsFormat, o.weightsFormat, null);
        b.addFieldInt8(FULLY_CONNECTED_OPTIONS.keepNumDims, o.keepNumDims ? 1 : 0, null);
        return b.endObject();
      case 'softmax':
        b.startObject(1);
        b.addFieldFloat32(SOFTMAX_OPTIONS.beta, o.beta, null);
        return b.endObject();
      case 'concatenation':
        b.startObject(2);
        b.addFieldInt32(CONCATENATION_OPTIONS.axis, o.axis, null);
        b.addFieldInt8(CONCATENATION_OPTIONS.activation, act(o.activation), null);
        return b.endObject();
      case 'activation':
        b.startObject(1);
        b.addFieldInt8(ACTIVATION_OPTIONS.activation, act(o.activation), null);
        return b.endObject();
      case 'reshape': {
        const shape = o.newShape ? this.int32Vector(o.newShape) : 0;
        b.startObject(1);
        if (shape) b.addFieldOffset(RESHAPE_OPTIONS.newShape, shape, 0);
        return b.endObject();
      }
      case 'reducer':
        b.startObject(1);
        b.addFieldInt8(REDUCER_OPTIONS.keepDims, o.keepDims ? 1 : 0, null);
        return b.endObject();
      case 'other':
        // An options table with no fields (PadOptions, TransposeOptions, QuantizeOptions, ...).
        b.startObject(0);
        return b.endObject();
    }
  }

  operator(o: OperatorSpec, opcodeIndex: number): number {
    const inputs = this.int32Vector(o.inputs);
    const outputs = this.int32Vector(o.outputs);
    const type = o.options ? optionsType(o.op, o.options) : 0;
    const options = o.options && type > 0 ? this.options(o.options) : 0;
    this.b.startObject(5);
    this.b.addFieldInt32(OPERATOR.opcodeIndex, opcodeIndex, null);
    this.b.addFieldOffset(OPERATOR.inputs, inputs, 0);
    this.b.addFieldOffset(OPERATOR.outputs, outputs, 0);
    if (options) {
      this.b.addFieldInt8(OPERATOR.builtinOptionsType, type, null);
      this.b.addFieldOffset(OPERATOR.builtinOptions, options, 0);
    }
    return this.b.endObject();
  }

  operatorCode(op: string, version: number): number {
    const code = builtinOperatorCode(op);
    this.b.startObject(4);
    this.b.addFieldInt8(OPERATOR_CODE.deprecatedBuiltinCode, Math.min(code, PLACEHOLDER_FOR_GREATER_OP_CODES), null);
    this.b.addFieldInt32(OPERATOR_CODE.version, version, null);
    this.b.addFieldInt32(OPERATOR_CODE.builtinCode, code, null);
    return this.b.endObject();
  }

  tensorMaps(maps: readonly TfliteTensorMap[]): number {
    return this.offsetVector(
      maps.map((m) => {
        const name = this.b.createString(m.name);
        this.b.startObject(2);
        this.b.addFieldOffset(TENSOR_MAP.name, name, 0);
        this.b.addFieldInt32(TENSOR_MAP.tensorIndex, m.tensorIndex, null);
        return this.b.endObject();
      }),
    );
  }

  signature(s: SignatureSpec): number {
    const inputs = this.tensorMaps(s.inputs);
    const outputs = this.tensorMaps(s.outputs);
    const key = this.b.createString(s.key);
    this.b.startObject(5);
    this.b.addFieldOffset(SIGNATURE_DEF.inputs, inputs, 0);
    this.b.addFieldOffset(SIGNATURE_DEF.outputs, outputs, 0);
    this.b.addFieldOffset(SIGNATURE_DEF.signatureKey, key, 0);
    this.b.addFieldInt32(SIGNATURE_DEF.subgraphIndex, 0, null);
    return this.b.endObject();
  }
}

/** Serialises `spec` as a .tflite file. */
export function writeTfliteModel(spec: ModelSpec): Uint8Array {
  const w = new Writer();
  const sg = spec.subgraph;
  // Buffer 0 is the empty sentinel; then one per constant tensor, then one per metadata entry.
  const bufferData: (Uint8Array | undefined)[] = [undefined];
  const tensorBuffer = sg.tensors.map((t) => {
    if (!t.data) return 0;
    bufferData.push(t.data);
    return bufferData.length - 1;
  });
  const metadataBuffer = spec.metadata.map((m) => {
    bufferData.push(m.data);
    return bufferData.length - 1;
  });
  // Large buffers first, so the builder's back-to-front layout puts them at the end of the file.
  const buffers = w.offsetVector(bufferData.map((d) => w.buffer(d)));
  const codes: { op: string; version: number }[] = [];
  const codeIndex = (op: string, version: number) => {
    let i = codes.findIndex((c) => c.op === op && c.version === version);
    if (i < 0) i = codes.push({ op, version }) - 1;
    return i;
  };
  const tensors = w.offsetVector(sg.tensors.map((t, i) => w.tensor(t, tensorBuffer[i])));
  const operators = w.offsetVector(sg.operators.map((o) => w.operator(o, codeIndex(o.op, o.version))));
  const inputs = w.int32Vector(sg.inputs);
  const outputs = w.int32Vector(sg.outputs);
  const sgName = w.b.createString(sg.name);
  w.b.startObject(5);
  w.b.addFieldOffset(SUBGRAPH.tensors, tensors, 0);
  w.b.addFieldOffset(SUBGRAPH.inputs, inputs, 0);
  w.b.addFieldOffset(SUBGRAPH.outputs, outputs, 0);
  w.b.addFieldOffset(SUBGRAPH.operators, operators, 0);
  w.b.addFieldOffset(SUBGRAPH.name, sgName, 0);
  const subgraph = w.b.endObject();
  const operatorCodes = w.offsetVector(codes.map((c) => w.operatorCode(c.op, c.version)));
  const subgraphs = w.offsetVector([subgraph]);
  const description = w.b.createString(spec.description);
  const metadata = w.offsetVector(
    spec.metadata.map((m, i) => {
      const name = w.b.createString(m.name);
      w.b.startObject(2);
      w.b.addFieldOffset(METADATA.name, name, 0);
      w.b.addFieldInt32(METADATA.buffer, metadataBuffer[i], null);
      return w.b.endObject();
    }),
  );
  const signatures = w.offsetVector(spec.signatures.map((s) => w.signature(s)));
  w.b.startObject(8);
  w.b.addFieldInt32(MODEL.version, SCHEMA_VERSION, null);
  w.b.addFieldOffset(MODEL.operatorCodes, operatorCodes, 0);
  w.b.addFieldOffset(MODEL.subgraphs, subgraphs, 0);
  w.b.addFieldOffset(MODEL.description, description, 0);
  w.b.addFieldOffset(MODEL.buffers, buffers, 0);
  if (spec.metadata.length > 0) w.b.addFieldOffset(MODEL.metadata, metadata, 0);
  if (spec.signatures.length > 0) w.b.addFieldOffset(MODEL.signatureDefs, signatures, 0);
  const model = w.b.endObject();
  w.b.finish(model, FILE_IDENTIFIER);
  return w.b.asUint8Array().slice();
}
