import * as fs from 'fs';
import * as path from 'path';
import { ByteBuffer } from 'flatbuffers';

/**
 * TFLite's official interpreter, for checking any .tflite in tests: the Emscripten module that
 * @tensorflow/tfjs-tflite ships (wasm/tflite_web_api_cc.js + .wasm). Its browser client fails
 * under Node, but the module factory itself loads when given `locateFile` and `wasmBinary`.
 */

interface TensorInfo {
  id: number;
  dataType: string;
  name: string;
  /** e.g. "1,24,24,3" */
  shape: string;
  data(): Float32Array | Int32Array | Uint8Array | Int8Array;
}

interface TensorInfoVector {
  size(): number;
  get(i: number): TensorInfo;
  delete(): void;
}

interface ModelRunner {
  GetInputs(): TensorInfoVector;
  GetOutputs(): TensorInfoVector;
  Infer(): boolean;
  delete(): void;
}

interface StatusOrRunner {
  ok(): boolean;
  errorMessage(): string;
  value(): ModelRunner;
  delete(): void;
}

interface TfliteWasmModule {
  _malloc(size: number): number;
  _free(ptr: number): void;
  HEAPU8: Uint8Array;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(ptr: number, length: number, options: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries: number }): StatusOrRunner;
  };
}

export interface ReferenceTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface TfliteReference {
  /** Runs `model` once on float32 `inputs` (in the model's input order); returns copies of all outputs. */
  run(model: Uint8Array, inputs: Float32Array[]): ReferenceTensor[];
  /** The model's declared inputs as the interpreter sees them. */
  inputs(model: Uint8Array): { name: string; shape: number[]; dataType: string }[];
}

const WASM_DIR = path.join(path.dirname(require.resolve('@tensorflow/tfjs-tflite/package.json')), 'wasm');

let loaded: Promise<TfliteWasmModule> | undefined;

function loadModule(): Promise<TfliteWasmModule> {
  loaded ??= (async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const factory = require(path.join(WASM_DIR, 'tflite_web_api_cc.js')) as (m: object) => Promise<TfliteWasmModule>;
    return factory({
      locateFile: (file: string) => path.join(WASM_DIR, file),
      wasmBinary: fs.readFileSync(path.join(WASM_DIR, 'tflite_web_api_cc.wasm')),
      print: () => undefined,
      printErr: () => undefined,
    });
  })();
  return loaded;
}

function shapeOf(info: TensorInfo): number[] {
  return info.shape === '' ? [] : info.shape.split(',').map(Number);
}

/** Creates a runner over a copy of `model` in wasm memory, hands it to `use`, then frees both. */
function withRunner<T>(m: TfliteWasmModule, model: Uint8Array, use: (runner: ModelRunner) => T): T {
  const ptr = m._malloc(model.length);
  m.HEAPU8.set(model, ptr);
  const status = m.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, model.length, { numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 1024 });
  try {
    if (!status.ok()) throw new Error(`TFLite interpreter rejected the model: ${status.errorMessage()}`);
    const runner = status.value();
    try {
      return use(runner);
    } finally {
      runner.delete();
    }
  } finally {
    status.delete();
    m._free(ptr);
  }
}

function tensors(vector: TensorInfoVector): TensorInfo[] {
  return Array.from({ length: vector.size() }, (_, i) => vector.get(i));
}

export async function loadTfliteReference(): Promise<TfliteReference> {
  const m = await loadModule();
  return {
    inputs: (model) =>
      withRunner(m, model, (runner) => {
        const vector = runner.GetInputs();
        const infos = tensors(vector).map((t) => ({ name: t.name, shape: shapeOf(t), dataType: t.dataType }));
        vector.delete();
        return infos;
      }),
    run: (model, inputs) =>
      withRunner(m, model, (runner) => {
        const inVector = runner.GetInputs();
        const ins = tensors(inVector);
        if (ins.length !== inputs.length) throw new Error(`model has ${ins.length} inputs, ${inputs.length} given`);
        ins.forEach((t, k) => {
          const target = t.data();
          if (!(target instanceof Float32Array)) throw new Error(`input ${t.name} is ${t.dataType}, not float32`);
          if (target.length !== inputs[k].length) throw new Error(`input ${t.name} [${t.shape}] needs ${target.length} values, ${inputs[k].length} given`);
          target.set(inputs[k]);
        });
        if (!runner.Infer()) throw new Error('TFLite inference failed');
        const outVector = runner.GetOutputs();
        const outs = tensors(outVector).map((t) => ({ name: t.name, shape: shapeOf(t), data: Float32Array.from(t.data()) }));
        inVector.delete();
        outVector.delete();
        return outs;
      }),
  };
}

/**
 * A copy of `model` whose input `index` (of subgraph 0) declares `dims` instead. The web runner
 * cannot resize inputs, but the interpreter recomputes every other shape when it allocates, so
 * this is how a fully convolutional model (P-Net) runs at other sizes. The rank must not change.
 */
export function withInputShape(model: Uint8Array, dims: number[], index = 0): Uint8Array {
  const bytes = Uint8Array.from(model);
  const bb = new ByteBuffer(bytes);
  // Field slots: Model.subgraphs = 2; SubGraph.tensors = 0, inputs = 1; Tensor.shape = 0.
  const slot = (table: number, field: number) => {
    const rel = bb.__offset(table, 4 + 2 * field);
    if (rel === 0) throw new Error(`field ${field} missing`);
    return table + rel;
  };
  const tableAt = (vectorField: number, i: number) => {
    const start = bb.__vector(vectorField);
    return bb.__indirect(start + 4 * i);
  };
  const root = bb.readUint32(0);
  const subgraph = tableAt(slot(root, 2), 0);
  const inputs = slot(subgraph, 1);
  const tensorIndex = bb.readInt32(bb.__vector(inputs) + 4 * index);
  const tensor = tableAt(slot(subgraph, 0), tensorIndex);
  const shape = slot(tensor, 0);
  if (bb.__vector_len(shape) !== dims.length) throw new Error(`input ${index} has rank ${bb.__vector_len(shape)}, [${dims}] given`);
  dims.forEach((d, k) => bb.writeInt32(bb.__vector(shape) + 4 * k, d));
  return bytes;
}
