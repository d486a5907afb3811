import * as ort from 'onnxruntime-node';
import { EngineOptions, createSession } from '../../engines/onnxruntime';
import { compareOutputs } from '../../export/exportOnnx';
import { encodeOnnx } from '../../graph/onnx';
import { Graph, numel } from '../../graph/types';
import { Rng } from '../../util/rng';
import { TfliteImportError, importTflite } from './import';
import { TO_NCHW, permuteData } from './layout';
import { readTfliteModel } from './schema';
import { ModelSpec } from './writer';

/**
 * Checks a written .tflite file with code that did not write it: the project's TFLite reader
 * must read back exactly what was meant (ops, tensors, quantization, signature, metadata), and a
 * float file, imported back into an ONNX graph, must compute what the source graph computes
 * (onnxruntime on both, one random batch). Tests add TFLite's own interpreter and Arm NN.
 */

export interface TfliteVerification {
  /** What the reader found that differs from what was written; empty when the round trip is exact. */
  roundTripProblems: string[];
  /** Float files: the imported file against the source graph. */
  numeric?: { batch: number; maxRelativeError: number; maxAbsoluteError: number };
  /** Why the numeric check did not run (int8 files; ops the importer does not read). */
  numericSkipped?: string;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return !a === !b || (a?.length ?? 0) === (b?.length ?? 0);
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Differences between `spec` and what the reader parses out of `bytes`. */
export function roundTripProblems(bytes: Uint8Array, spec: ModelSpec): string[] {
  const problems: string[] = [];
  const read = readTfliteModel(bytes, 'exported model');
  const sg = read.subgraphs[0];
  const want = spec.subgraph;
  if (sg.operators.length !== want.operators.length) problems.push(`${sg.operators.length} operators read, ${want.operators.length} written`);
  sg.operators.forEach((op, i) => {
    const w = want.operators[i];
    if (!w) return;
    if (op.op !== w.op || op.version !== w.version) problems.push(`operator ${i} reads as ${op.op} v${op.version}, written ${w.op} v${w.version}`);
    if (op.inputs.join() !== w.inputs.join() || op.outputs.join() !== w.outputs.join()) problems.push(`operator ${i} (${op.op}) has other tensors than written`);
  });
  if (sg.tensors.length !== want.tensors.length) problems.push(`${sg.tensors.length} tensors read, ${want.tensors.length} written`);
  sg.tensors.forEach((t, i) => {
    const w = want.tensors[i];
    if (!w) return;
    if (t.name !== w.name || t.type !== w.type || t.shape.join() !== w.shape.join()) problems.push(`tensor ${i} reads as ${t.name} ${t.type} [${t.shape}], written ${w.name} ${w.type} [${w.shape}]`);
    if (!sameBytes(t.data, w.data)) problems.push(`tensor ${w.name}: constant contents differ`);
    const q = t.quantization;
    const wq = w.quantization;
    if (!!q !== !!wq || (q && wq && (q.scale.some((s, k) => s !== Math.fround(wq.scale[k])) || q.zeroPoint.join() !== wq.zeroPoint.join() || q.quantizedDimension !== wq.quantizedDimension))) {
      problems.push(`tensor ${w.name}: quantization differs`);
    }
  });
  if (sg.inputs.join() !== want.inputs.join() || sg.outputs.join() !== want.outputs.join()) problems.push('subgraph inputs or outputs differ');
  const sig = JSON.stringify(read.signatures.map((s) => ({ key: s.key, inputs: s.inputs, outputs: s.outputs })));
  if (sig !== JSON.stringify(spec.signatures)) problems.push(`signatures read as ${sig}`);
  const metadata = read.metadata.map((m) => m.name).join();
  if (metadata !== spec.metadata.map((m) => m.name).join()) problems.push(`metadata read as [${metadata}]`);
  for (const m of read.metadata) {
    const w = spec.metadata.find((x) => x.name === m.name);
    if (w && !sameBytes(read.buffers[m.buffer], w.data)) problems.push(`metadata ${m.name}: contents differ`);
  }
  return problems;
}

async function runOnce(model: Uint8Array, x: Float32Array, dims: number[], engine: EngineOptions, label: string): Promise<Float32Array> {
  const session = await createSession(model, engine, label);
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, dims) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** Runs the imported float file and `reference` (the graph it was made from) on one random batch. */
export async function compareImported(bytes: Uint8Array, reference: Graph, engine: EngineOptions, batch: number, seed: number): Promise<{ maxRelativeError: number; maxAbsoluteError: number }> {
  const imported = importTflite(bytes, 'exported model');
  const tfliteDims = imported.inputs[0].shape.map((d, k) => (k === 0 ? batch : Number(d)));
  const rng = new Rng(seed, 'tflite-verify');
  const x = Float32Array.from({ length: numel(tfliteDims) }, () => rng.range(-1, 1));
  const ours = await runOnce(encodeOnnx(imported), x, tfliteDims, engine, 'exported model (read back)');
  const refShape = reference.inputs[0].shape;
  // The file presents an NCHW image input as NHWC; feed the source graph the same pixels.
  const nchw = refShape.length === 4 && refShape[1] !== tfliteDims[1];
  const refInput = nchw ? permuteData(x, tfliteDims, TO_NCHW) : { data: x, dims: tfliteDims };
  const want = await runOnce(encodeOnnx(reference), refInput.data, refInput.dims, engine, 'source graph');
  return compareOutputs(ours, want);
}

export async function verifyTfliteExport(bytes: Uint8Array, spec: ModelSpec, reference: Graph, int8: boolean, engine: EngineOptions, seed = 0): Promise<TfliteVerification> {
  const result: TfliteVerification = { roundTripProblems: roundTripProblems(bytes, spec) };
  if (int8) {
    result.numericSkipped = "the project's importer reads float models only; int8 files are checked by TFLite's interpreter in the tests";
    return result;
  }
  const batch = 2;
  try {
    result.numeric = { batch, ...(await compareImported(bytes, reference, engine, batch, seed)) };
  } catch (e) {
    if (!(e instanceof TfliteImportError)) throw e;
    result.numericSkipped = `the project's importer cannot read this file back (${e.message})`;
  }
  return result;
}
