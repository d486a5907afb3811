import { createHash } from 'crypto';
import { InputError } from '../errors';
import { deployableGraph } from '../export/exportOnnx';
import { METADATA_KEYS } from '../export/metadata';
import { encodeOnnx } from '../graph/onnx';
import { describeModel, loadModelSource } from '../model/load';

/**
 * The model an evaluation runs: ONNX bytes for onnxruntime, the metadata that says how to feed
 * it, and a content hash that keys the embedding cache. Sources: anything loadModelSource
 * takes (our configs and checkpoints, exported as export-onnx would write them; any ONNX file),
 * and the built-in pretrained recognizer, `pretrained:mobilefacenet`.
 */

export interface EvalModel {
  label: string;
  bytes: Uint8Array;
  metadata: Record<string, string>;
  /** sha256 of `bytes`, hex. */
  sha256: string;
  /** What the metadata declares, when it does. */
  declaredEmbeddingSize?: number;
  /** Things the report should mention (e.g. a graph our reader could not parse). */
  notes: string[];
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function declaredSize(metadata: Record<string, string>, label: string): number | undefined {
  const raw = metadata[METADATA_KEYS.embeddingSize];
  if (raw === undefined) return undefined;
  const size = Number(raw);
  if (!Number.isInteger(size) || size < 1) {
    throw new InputError(`model ${label}: metadata ${METADATA_KEYS.embeddingSize} is '${raw}', expected a positive integer`);
  }
  return size;
}

function evalModel(label: string, bytes: Uint8Array, metadata: Record<string, string>, notes: string[] = []): EvalModel {
  return { label, bytes, metadata, sha256: sha256(bytes), declaredEmbeddingSize: declaredSize(metadata, label), notes };
}

/** Resolves `--model`: a pretrained name, an .onnx file, a .safetensors checkpoint, a .yaml config or a shipped config name. */
export function loadEvalModel(spec: string, sets: readonly string[] = []): EvalModel {
  const source = loadModelSource(spec, sets);
  if (source.kind === 'onnx') {
    const notes = source.readError ? [`the ONNX graph could not be read for its metadata (${source.readError}); input settings come from flags or config`] : [];
    return evalModel(source.label, source.bytes, { ...(source.graph?.metadata ?? {}) }, notes);
  }
  // Our own models are evaluated exactly as export-onnx writes them (BatchNorm folded, raw embedding).
  const { graph } = deployableGraph(source.backbone, describeModel(source.config), false, { forOnnxRuntime: true });
  return evalModel(source.label, encodeOnnx(graph), { ...graph.metadata });
}
