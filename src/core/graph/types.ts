/**
 * The project's model graph: ONNX operator semantics, held in plain data so that the same
 * structure can be shape-checked, counted, differentiated and written as an ONNX ModelProto.
 */

export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** A dimension is a number, or a symbol (e.g. 'N', the batch) whose value is known only at run time. */
export type Dim = number | string;

/** ONNX TensorProto.DataType codes of the element types we handle. */
export const ONNX_DTYPE_CODES: Record<DType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10 };
export const DTYPE_OF_ONNX_CODE: Partial<Record<number, DType>> = Object.fromEntries(
  Object.entries(ONNX_DTYPE_CODES).map(([k, v]) => [v, k as DType]),
);
export type Shape = Dim[];

export type TypedArray = Float32Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

/** A constant tensor: parameter values, running statistics, shape constants. */
export interface TensorData {
  dtype: DType;
  dims: number[];
  data: TypedArray;
}

export interface ValueInfo {
  name: string;
  dtype: DType;
  shape: Shape;
}

/** ONNX attribute values, tagged because JavaScript numbers cannot tell INT from FLOAT. */
export type Attr =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'ints'; value: number[] }
  | { type: 'floats'; value: number[] }
  | { type: 'string'; value: string }
  | { type: 'strings'; value: string[] }
  | { type: 'tensor'; value: TensorData };

export interface Node {
  name: string;
  opType: string;
  /** '' is the default ONNX domain. */
  domain: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

/**
 * What an initializer is for. Only `trainable` ones are counted as parameters (PyTorch's
 * `parameters()`); BatchNorm running statistics are `state`; shape vectors are `constant`.
 */
export type InitializerRole = 'trainable' | 'state' | 'constant';

export interface Initializer {
  name: string;
  role: InitializerRole;
  tensor: TensorData;
}

export interface Graph {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: Node[];
  initializers: Map<string, Initializer>;
  /** Stored as ONNX metadata_props: normalisation, colour order, embedding size, template. */
  metadata: Record<string, string>;
  opsetVersion: number;
  producer?: string;
}

export const OPSET_VERSION = 17;

export const attr = {
  int: (value: number): Attr => ({ type: 'int', value }),
  // ONNX stores FLOAT attributes as float32; hold exactly what a file can hold.
  float: (value: number): Attr => ({ type: 'float', value: Math.fround(value) }),
  ints: (value: number[]): Attr => ({ type: 'ints', value }),
  floats: (value: number[]): Attr => ({ type: 'floats', value: value.map(Math.fround) }),
  string: (value: string): Attr => ({ type: 'string', value }),
  tensor: (value: TensorData): Attr => ({ type: 'tensor', value }),
};

/**
 * Copies raw little-endian bytes into a fresh typed array of `dtype`: aligned for any element
 * size and owned by the caller (protobuf and file slices may be unaligned views into shared memory).
 */
export function typedArrayFromBytes(dtype: DType, bytes: Uint8Array): TypedArray {
  const buffer = new Uint8Array(bytes).buffer;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float16':
      return new Uint16Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer);
  }
}

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function emptyGraph(name: string): Graph {
  return { name, inputs: [], outputs: [], nodes: [], initializers: new Map(), metadata: {}, opsetVersion: OPSET_VERSION };
}

export function float32Tensor(dims: number[], data?: Float32Array): TensorData {
  const n = numel(dims);
  if (data && data.length !== n) throw new Error(`tensor data has ${data.length} values, dims [${dims}] need ${n}`);
  return { dtype: 'float32', dims, data: data ?? new Float32Array(n) };
}

export function int64Tensor(values: number[]): TensorData {
  return { dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}

interface AttrValues {
  int: number;
  float: number;
  ints: number[];
  floats: number[];
  string: string;
  strings: string[];
  tensor: TensorData;
}
type AttrValue<T extends Attr['type']> = AttrValues[T];

export function getAttr<T extends Attr['type']>(node: Node, key: string, type: T): AttrValue<T> | undefined {
  const a = node.attrs[key];
  if (!a) return undefined;
  if (a.type !== type) throw new Error(`node ${node.name} (${node.opType}): attribute ${key} is ${a.type}, expected ${type}`);
  return (a as { value: unknown }).value as AttrValue<T>;
}
