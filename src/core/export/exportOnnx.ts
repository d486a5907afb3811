import * as fs from 'node:fs';
import { cloneGraph } from '../graph/edit';
import { decodeOnnx, encodeOnnx } from '../graph/onnx';
import { resolveOutputs } from '../graph/shapes';
import { Graph, attr } from '../graph/types';
import { EMBEDDING_NAME } from '../nn/backbone';
import { EmbeddingSession, EngineOptions } from '../engines/onnxruntime';
import { writeFileAtomic } from '../util/atomic';
import { Rng } from '../util/rng';
import { ModelDescription, describeModelMetadata } from './metadata';
import { optimizeForInference } from './optimize';
import { NO_REWRITES, OnnxRuntimeRewrites, rewriteForOnnxRuntime } from './onnxRuntimeForm';

/**
 * export-onnx: the backbone only (a margin head never belongs in a deployed model), with a
 * dynamic batch axis, BatchNorm folded, an optional L2-normalised output, and the facts a
 * consumer needs (normalisation, colour order, embedding size, template) in metadata_props.
 * The written file is read back and checked against the unfolded graph before we report success.
 */

export interface ExportOptions {
  l2Normalize: boolean;
  verify: boolean;
  engine: EngineOptions;
  /** Images in the random verification batch. */
  verifyBatch?: number;
  seed?: number;
}

export interface ExportVerification {
  batch: number;
  /** max |exported - reference| / max |reference|, over the whole output. */
  maxRelativeError: number;
  maxAbsoluteError: number;
}

export interface ExportResult extends OnnxRuntimeRewrites {
  path: string;
  fileBytes: number;
  nodes: number;
  removedNoops: number;
  foldedBatchNorms: number;
  remainingBatchNorms: number;
  metadata: Record<string, string>;
  verification?: ExportVerification;
}

/** Appends x / max(||x||_2, eps) on the embedding, keeping the output name. */
function appendL2Normalize(graph: Graph): void {
  const raw = `${EMBEDDING_NAME}_raw`;
  for (const n of graph.nodes) n.outputs = n.outputs.map((t) => (t === EMBEDDING_NAME ? raw : t));
  const eps = 'l2norm.eps';
  graph.initializers.set(eps, { name: eps, role: 'constant', tensor: { dtype: 'float32', dims: [], data: Float32Array.of(1e-12) } });
  graph.nodes.push(
    { name: 'l2norm.norm', opType: 'ReduceL2', domain: '', inputs: [raw], outputs: ['l2norm.norm'], attrs: { axes: attr.ints([1]), keepdims: attr.int(1) } },
    { name: 'l2norm.clamp', opType: 'Max', domain: '', inputs: ['l2norm.norm', eps], outputs: ['l2norm.clamp'], attrs: {} },
    { name: 'l2norm.div', opType: 'Div', domain: '', inputs: [raw, 'l2norm.clamp'], outputs: [EMBEDDING_NAME], attrs: {} },
  );
}

/**
 * The graph that export writes, without touching `backbone`. `forOnnxRuntime` also applies
 * rewriteForOnnxRuntime (PRelu and narrow grouped convolutions as depthwise convolutions, which
 * onnxruntime runs faster); the quantizer and the TFLite writer take the plain graph, where both
 * stay one op.
 */
export function deployableGraph(
  backbone: Graph,
  desc: ModelDescription,
  l2Normalize: boolean,
  { forOnnxRuntime = false }: { forOnnxRuntime?: boolean } = {},
): { graph: Graph; report: ReturnType<typeof optimizeForInference> & OnnxRuntimeRewrites } {
  const graph = cloneGraph(backbone);
  const report = { ...optimizeForInference(graph), ...(forOnnxRuntime ? rewriteForOnnxRuntime(graph) : NO_REWRITES) };
  if (l2Normalize) appendL2Normalize(graph);
  graph.metadata = { ...graph.metadata, ...describeModelMetadata(desc, l2Normalize) };
  resolveOutputs(graph);
  return { graph, report };
}

function randomBatch(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed, 'export-verify');
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.range(-1, 1));
}

function l2NormalizeRows(data: Float32Array, rows: number): Float32Array {
  const cols = data.length / rows;
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += data[r * cols + c] ** 2;
    const norm = Math.max(Math.sqrt(s), 1e-12);
    for (let c = 0; c < cols; c++) out[r * cols + c] = data[r * cols + c] / norm;
  }
  return out;
}

export function compareOutputs(actual: Float32Array, expected: Float32Array): { maxRelativeError: number; maxAbsoluteError: number } {
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { maxAbsoluteError: maxAbs, maxRelativeError: scale > 0 ? maxAbs / scale : maxAbs };
}

/** Runs the written file and the unfolded reference graph on the same random batch. */
export async function verifyExport(path: string, reference: Graph, l2Normalize: boolean, opts: ExportOptions): Promise<ExportVerification> {
  const batch = opts.verifyBatch ?? 4;
  const written = decodeOnnx(fs.readFileSync(path), path);
  const [, c, h, w] = written.inputs[0].shape;
  const x = randomBatch([batch, Number(c), Number(h), Number(w)], opts.seed ?? 0);
  const exported = await EmbeddingSession.create(path, opts.engine);
  const original = await EmbeddingSession.create(encodeOnnx(reference), opts.engine, 'reference graph');
  try {
    const got = (await exported.run(x, batch)).data;
    let want = (await original.run(x, batch)).data;
    if (l2Normalize) want = l2NormalizeRows(want, batch);
    return { batch, ...compareOutputs(got, want) };
  } finally {
    await exported.release();
    await original.release();
  }
}

export async function exportOnnx(backbone: Graph, desc: ModelDescription, outPath: string, opts: ExportOptions): Promise<ExportResult> {
  const { graph, report } = deployableGraph(backbone, desc, opts.l2Normalize, { forOnnxRuntime: true });
  const bytes = encodeOnnx(graph);
  writeFileAtomic(outPath, bytes);
  const result: ExportResult = { path: outPath, fileBytes: bytes.byteLength, nodes: graph.nodes.length, ...report, metadata: graph.metadata };
  if (opts.verify) result.verification = await verifyExport(outPath, backbone, opts.l2Normalize, opts);
  return result;
}
