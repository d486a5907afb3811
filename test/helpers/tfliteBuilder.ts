import { Builder } from 'flatbuffers';

/**
 * Writes small hand-made .tflite files for tests (ops and layouts the pretrained models do not
 * contain). Field slots follow tensorflow/lite/schema/schema.fbs declaration order.
 */

export type Scalar = { slot: number; kind: 'i8' | 'i32' | 'f32' | 'bool'; value: number };
export type IntVector = { slot: number; kind: 'i32s'; value: number[] };
export type OptionField = Scalar | IntVector;

export interface SpecTensor {
  name: string;
  shape: number[];
  type?: 'float32' | 'int32' | 'int8';
  data?: Float32Array | Int32Array | Int8Array;
}

export interface SpecOp {
  /** BuiltinOperator code, e.g. 3 for CONV_2D. */
  code: number;
  inputs: number[];
  outputs: number[];
  /** Union BuiltinOptions type id and the table's fields. */
  options?: { type: number; fields: OptionField[] };
}

export interface ModelSpec {
  tensors: SpecTensor[];
  inputs: number[];
  outputs: number[];
  ops: SpecOp[];
}

/** BuiltinOperator codes used by the tests. */
export const OP = {
  ADD: 0, AVERAGE_POOL_2D: 1, CONCATENATION: 2, CONV_2D: 3, DEPTHWISE_CONV_2D: 4, FULLY_CONNECTED: 9,
  L2_NORMALIZATION: 11, LOGISTIC: 14, MAX_POOL_2D: 17, MUL: 18, RELU: 19, RELU6: 21, RESHAPE: 22, SOFTMAX: 25,
  TANH: 28, PAD: 34, MEAN: 40, SUB: 41, DIV: 42, EXP: 47, PRELU: 54, NEG: 59, SUM: 74, REDUCE_MAX: 82,
  SQUARED_DIFFERENCE: 99, ABS: 101,
} as const;

/** Union BuiltinOptions ids. */
export const OPTIONS = {
  Conv2D: 1, DepthwiseConv2D: 2, Pool2D: 5, FullyConnected: 8, Softmax: 9, Concatenation: 10, Add: 11,
  L2Norm: 12, Reshape: 17, Mul: 21, Pad: 22, Reducer: 27, Sub: 28, Div: 29,
} as const;

const TYPE_CODES = { float32: 0, int32: 2, int8: 9 } as const;

function writeTable(b: Builder, fields: OptionField[]): number {
  const vectors = new Map<number, number>();
  for (const f of fields) {
    if (f.kind === 'i32s') {
      b.startVector(4, f.value.length, 4);
      for (let k = f.value.length - 1; k >= 0; k--) b.addInt32(f.value[k]);
      vectors.set(f.slot, b.endVector());
    }
  }
  b.startObject(Math.max(0, ...fields.map((f) => f.slot + 1)));
  for (const f of fields) {
    if (f.kind === 'i8' || f.kind === 'bool') b.addFieldInt8(f.slot, f.value, null);
    else if (f.kind === 'i32') b.addFieldInt32(f.slot, f.value, null);
    else if (f.kind === 'f32') b.addFieldFloat32(f.slot, f.value, null);
    else b.addFieldOffset(f.slot, vectors.get(f.slot) ?? 0, 0);
  }
  return b.endObject();
}

function int32Vector(b: Builder, values: number[]): number {
  b.startVector(4, values.length, 4);
  for (let k = values.length - 1; k >= 0; k--) b.addInt32(values[k]);
  return b.endVector();
}

function offsetVector(b: Builder, offsets: number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let k = offsets.length - 1; k >= 0; k--) b.addOffset(offsets[k]);
  return b.endVector();
}

function bufferTable(b: Builder, data: Uint8Array | undefined): number {
  let vector = 0;
  if (data) {
    b.startVector(1, data.length, 16);
    for (let k = data.length - 1; k >= 0; k--) b.addInt8(data[k]);
    vector = b.endVector();
  }
  b.startObject(1);
  if (data) b.addFieldOffset(0, vector, 0);
  return b.endObject();
}

export function buildTflite(spec: ModelSpec, description = 'arcface test model'): Uint8Array {
  const b = new Builder(1024);
  const codes = [...new Set(spec.ops.map((o) => o.code))];
  // Buffer 0 is the empty sentinel; each constant tensor gets its own buffer.
  const bufferOffsets = [bufferTable(b, undefined)];
  const tensorBuffer = spec.tensors.map((t) => {
    if (!t.data) return 0;
    bufferOffsets.push(bufferTable(b, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
    return bufferOffsets.length - 1;
  });
  const tensorOffsets = spec.tensors.map((t, i) => {
    const name = b.createString(t.name);
    const shape = int32Vector(b, t.shape);
    // Tensor: shape 0, type 1, buffer 2, name 3.
    b.startObject(4);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, TYPE_CODES[t.type ?? 'float32'], null);
    b.addFieldInt32(2, tensorBuffer[i], null);
    b.addFieldOffset(3, name, 0);
    return b.endObject();
  });
  const opOffsets = spec.ops.map((o) => {
    const inputs = int32Vector(b, o.inputs);
    const outputs = int32Vector(b, o.outputs);
    const options = o.options ? writeTable(b, o.options.fields) : 0;
    // Operator: opcode_index 0, inputs 1, outputs 2, builtin_options_type 3, builtin_options 4.
    b.startObject(5);
    b.addFieldInt32(0, codes.indexOf(o.code), null);
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    if (o.options) {
      b.addFieldInt8(3, o.options.type, null);
      b.addFieldOffset(4, options, 0);
    }
    return b.endObject();
  });
  const tensors = offsetVector(b, tensorOffsets);
  const sgInputs = int32Vector(b, spec.inputs);
  const sgOutputs = int32Vector(b, spec.outputs);
  const operators = offsetVector(b, opOffsets);
  const sgName = b.createString('main');
  // SubGraph: tensors 0, inputs 1, outputs 2, operators 3, name 4.
  b.startObject(5);
  b.addFieldOffset(0, tensors, 0);
  b.addFieldOffset(1, sgInputs, 0);
  b.addFieldOffset(2, sgOutputs, 0);
  b.addFieldOffset(3, operators, 0);
  b.addFieldOffset(4, sgName, 0);
  const subgraph = b.endObject();
  const codeOffsets = codes.map((code) => {
    // OperatorCode: deprecated_builtin_code 0, custom_code 1, version 2, builtin_code 3.
    b.startObject(4);
    b.addFieldInt8(0, Math.min(code, 127), null);
    b.addFieldInt32(2, 1, null);
    b.addFieldInt32(3, code, null);
    return b.endObject();
  });
  const operatorCodes = offsetVector(b, codeOffsets);
  const subgraphs = offsetVector(b, [subgraph]);
  const desc = b.createString(description);
  const buffers = offsetVector(b, bufferOffsets);
  // Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4.
  b.startObject(5);
  b.addFieldInt32(0, 3, null);
  b.addFieldOffset(1, operatorCodes, 0);
  b.addFieldOffset(2, subgraphs, 0);
  b.addFieldOffset(3, desc, 0);
  b.addFieldOffset(4, buffers, 0);
  const model = b.endObject();
  b.finish(model, 'TFL3');
  return b.asUint8Array().slice();
}
