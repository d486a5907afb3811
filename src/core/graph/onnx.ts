import { onnx } from 'onnx-proto';
import { Attr, Graph, Initializer, InitializerRole, Node, Shape, TensorData, TypedArray, ValueInfo, emptyGraph, typedArrayFromBytes, ONNX_DTYPE_CODES, DTYPE_OF_ONNX_CODE } from './types';

/** Reading and writing ONNX ModelProto bytes (the maintained onnx-proto protobufjs bindings). */

export class OnnxFormatError extends Error {}


const ATTR_CODES = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;

/** ONNX IR version 8 goes with opset 17 and onnxruntime 1.13+. */
const IR_VERSION = 8;

function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function tensorToProto(name: string, t: TensorData): onnx.ITensorProto {
  const d = t.data;
  return {
    name,
    dims: t.dims,
    dataType: ONNX_DTYPE_CODES[t.dtype],
    rawData: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
  };
}

export function tensorFromProto(p: onnx.ITensorProto): TensorData {
  const dtype = DTYPE_OF_ONNX_CODE[p.dataType ?? 0];
  const name = p.name ?? '';
  if (!dtype) throw new OnnxFormatError(`tensor ${name}: data type ${p.dataType} is not supported`);
  if (p.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new OnnxFormatError(`tensor ${name}: weights stored in an external data file are not supported`);
  }
  const dims = (p.dims ?? []).map(toNumber);
  const count = dims.reduce((a, b) => a * b, 1);
  if (p.rawData && p.rawData.length > 0) {
    const data = typedArrayFromBytes(dtype, p.rawData);
    if (data.length !== count) throw new OnnxFormatError(`tensor ${name}: has ${data.length} values, dims [${dims}] need ${count}`);
    return { dtype, dims, data };
  }
  let data: TypedArray;
  switch (dtype) {
    case 'float32':
      data = Float32Array.from(p.floatData ?? []);
      break;
    case 'int64':
      data = BigInt64Array.from((p.int64Data ?? []).map((v) => BigInt(toNumber(v))));
      break;
    case 'int32':
      data = Int32Array.from(p.int32Data ?? []);
      break;
    case 'int8':
      data = Int8Array.from(p.int32Data ?? []);
      break;
    case 'float16':
      data = Uint16Array.from(p.int32Data ?? []);
      break;
    default:
      data = Uint8Array.from(p.int32Data ?? []);
  }
  if (data.length !== count) throw new OnnxFormatError(`tensor ${name}: has ${data.length} values, dims [${dims}] need ${count}`);
  return { dtype, dims, data };
}

function attrToProto(name: string, a: Attr): onnx.IAttributeProto {
  const type = ATTR_CODES[a.type];
  switch (a.type) {
    case 'int':
      return { name, type, i: a.value };
    case 'float':
      return { name, type, f: a.value };
    case 'ints':
      return { name, type, ints: a.value };
    case 'floats':
      return { name, type, floats: a.value };
    case 'string':
      return { name, type, s: Buffer.from(a.value, 'utf8') };
    case 'strings':
      return { name, type, strings: a.value.map((s) => Buffer.from(s, 'utf8')) };
    case 'tensor':
      return { name, type, t: tensorToProto('', a.value) };
  }
}

function attrFromProto(p: onnx.IAttributeProto, nodeName: string): Attr {
  const utf8 = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
  switch (p.type) {
    case ATTR_CODES.int:
      return { type: 'int', value: toNumber(p.i) };
    case ATTR_CODES.float:
      return { type: 'float', value: p.f ?? 0 };
    case ATTR_CODES.ints:
      return { type: 'ints', value: (p.ints ?? []).map(toNumber) };
    case ATTR_CODES.floats:
      return { type: 'floats', value: p.floats ?? [] };
    case ATTR_CODES.string:
      return { type: 'string', value: utf8(p.s) };
    case ATTR_CODES.strings:
      return { type: 'strings', value: (p.strings ?? []).map(utf8) };
    case ATTR_CODES.tensor:
      return { type: 'tensor', value: tensorFromProto(p.t ?? {}) };
    default:
      throw new OnnxFormatError(`node ${nodeName}: attribute ${p.name} has type ${p.type} (subgraphs are not supported)`);
  }
}

function valueInfoToProto(v: ValueInfo): onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE_CODES[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function valueInfoFromProto(p: onnx.IValueInfoProto): ValueInfo {
  const tt = p.type?.tensorType;
  const name = p.name ?? '';
  const dtype = DTYPE_OF_ONNX_CODE[tt?.elemType ?? 0];
  if (!dtype) throw new OnnxFormatError(`value ${name}: element type ${tt?.elemType} is not supported`);
  const shape: Shape = (tt?.shape?.dim ?? []).map((d, i) => (d.dimParam ? d.dimParam : d.dimValue != null ? toNumber(d.dimValue) : `${name}_d${i}`));
  return { name, dtype, shape };
}

/** Operator domains beyond the default one (onnxruntime's contrib ops, all at version 1). */
function extraDomains(graph: Graph): string[] {
  return [...new Set(graph.nodes.map((n) => n.domain).filter((d) => d !== '' && d !== 'ai.onnx'))];
}

export function graphToModelProto(graph: Graph): onnx.IModelProto {
  return {
    irVersion: IR_VERSION,
    producerName: graph.producer ?? 'arcface',
    opsetImport: [{ domain: '', version: graph.opsetVersion }, ...extraDomains(graph).map((domain) => ({ domain, version: 1 }))],
    metadataProps: Object.entries(graph.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, a]) => attrToProto(k, a)),
      })),
      initializer: [...graph.initializers.values()].map((i) => tensorToProto(i.name, i.tensor)),
      input: graph.inputs.map(valueInfoToProto),
      output: graph.outputs.map(valueInfoToProto),
    },
  };
}

export function encodeOnnx(graph: Graph): Uint8Array {
  return onnx.ModelProto.encode(graphToModelProto(graph)).finish();
}

/**
 * Classifies initializers of a model we did not build: BatchNorm means and variances are state,
 * integer tensors are constants, other floats consumed by a node are trainable parameters.
 */
function initializerRoles(nodes: Node[], inits: Map<string, TensorData>): Map<string, InitializerRole> {
  const roles = new Map<string, InitializerRole>();
  for (const [name, t] of inits) roles.set(name, t.dtype === 'float32' || t.dtype === 'float16' ? 'trainable' : 'constant');
  for (const n of nodes) {
    if (n.opType === 'BatchNormalization') for (const t of n.inputs.slice(3, 5)) if (inits.has(t)) roles.set(t, 'state');
    // Shape-like and scalar inputs are constants, not weights.
    const constantSlots: Record<string, number[]> = { Reshape: [1], Pad: [1, 2], Clip: [1, 2], Pow: [1], Resize: [1, 2, 3], Slice: [1, 2, 3, 4] };
    for (const slot of constantSlots[n.opType] ?? []) if (inits.has(n.inputs[slot])) roles.set(n.inputs[slot], 'constant');
  }
  for (const [name, t] of inits) if (t.dims.length === 0 && roles.get(name) === 'trainable') roles.set(name, 'constant');
  return roles;
}

export function decodeOnnx(bytes: Uint8Array, source = 'model'): Graph {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxFormatError(`${source} is not an ONNX model (${(e as Error).message})`);
  }
  const g = model.graph;
  if (!g || (g.node ?? []).length === 0) throw new OnnxFormatError(`${source} is not an ONNX model (no graph nodes)`);
  const graph = emptyGraph(g.name ?? 'model');
  graph.producer = model.producerName ?? undefined;
  const defaultOpset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  graph.opsetVersion = toNumber(defaultOpset?.version ?? 0);
  for (const m of model.metadataProps ?? []) graph.metadata[m.key ?? ''] = m.value ?? '';
  graph.nodes = (g.node ?? []).map((n, i) => {
    const name = n.name || `${n.opType}_${i}`;
    const attrs: Record<string, Attr> = {};
    for (const a of n.attribute ?? []) attrs[a.name ?? ''] = attrFromProto(a, name);
    return { name, opType: n.opType ?? '', domain: n.domain ?? '', inputs: n.input ?? [], outputs: n.output ?? [], attrs };
  });
  const tensors = new Map<string, TensorData>();
  for (const t of g.initializer ?? []) tensors.set(t.name ?? '', tensorFromProto(t));
  const roles = initializerRoles(graph.nodes, tensors);
  for (const [name, tensor] of tensors) {
    const init: Initializer = { name, tensor, role: roles.get(name) ?? 'constant' };
    graph.initializers.set(name, init);
  }
  // Older exporters list initializers among the inputs; the real inputs are the rest.
  graph.inputs = (g.input ?? []).filter((v) => !tensors.has(v.name ?? '')).map(valueInfoFromProto);
  graph.outputs = (g.output ?? []).map(valueInfoFromProto);
  return graph;
}
