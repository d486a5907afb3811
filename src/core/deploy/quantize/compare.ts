import { EmbeddingSession, EngineOptions } from '../../engines/onnxruntime';
import { InputSpec } from '../../export/metadata';
import { RgbImage } from '../../image/image';
import { cosine } from '../../metrics/embedding';
import { verifyKFold } from '../../metrics/verification';
import { inputTensor } from './faceImages';
import { VerificationSet } from './faceSets';

/** What quantization did to a model's embeddings: cosine against the float model, and verification accuracy. */

export interface EmbeddingComparison {
  images: number;
  mean: number;
  min: number;
}

export interface VerificationScore {
  accuracy: number;
  accuracyStd: number;
  threshold: number;
}

export interface VerificationComparison {
  source: string;
  pairs: number;
  before: VerificationScore;
  after: VerificationScore;
  /** before - after, in percentage points (positive: the quantized model is worse). */
  dropPoints: number;
}

/** Embeddings [count, E] of `images` under `model`. */
export async function embedImages(model: Uint8Array, images: readonly RgbImage[], spec: InputSpec, engine: EngineOptions, batch: number, label: string): Promise<{ data: Float32Array; size: number }> {
  const session = await EmbeddingSession.create(model, engine, label);
  try {
    const { embeddings, size } = await session.embed(inputTensor(images, spec), images.length, batch);
    return { data: embeddings, size };
  } finally {
    await session.release();
  }
}

export function rowCosines(a: Float32Array, b: Float32Array, size: number): number[] {
  const rows = a.length / size;
  return Array.from({ length: rows }, (_, i) => cosine(a.subarray(i * size, (i + 1) * size), b.subarray(i * size, (i + 1) * size)));
}

export async function compareEmbeddings(
  before: Uint8Array,
  after: Uint8Array,
  images: readonly RgbImage[],
  spec: InputSpec,
  engine: EngineOptions,
  batch: number,
): Promise<EmbeddingComparison> {
  const a = await embedImages(before, images, spec, engine, batch, 'float model');
  const b = await embedImages(after, images, spec, engine, batch, 'quantized model');
  const cos = rowCosines(a.data, b.data, a.size);
  return { images: cos.length, mean: cos.reduce((s, v) => s + v, 0) / cos.length, min: Math.min(...cos) };
}

async function verificationScore(model: Uint8Array, set: VerificationSet, spec: InputSpec, engine: EngineOptions, batch: number, label: string): Promise<VerificationScore> {
  const { data, size } = await embedImages(
    model,
    set.images.map((f) => f.image),
    spec,
    engine,
    batch,
    label,
  );
  const row = (i: number) => data.subarray(i * size, (i + 1) * size);
  const scores = set.pairs.map((p) => cosine(row(p.a), row(p.b)));
  const result = verifyKFold(
    scores,
    set.pairs.map((p) => p.same),
    set.foldOf ? { foldOf: set.foldOf } : {},
  );
  return { accuracy: result.accuracy, accuracyStd: result.accuracyStd, threshold: result.threshold };
}

/** 10-fold verification accuracy of both models on the same pairs (cosine scores, no flip). */
export async function compareVerification(
  before: Uint8Array,
  after: Uint8Array,
  set: VerificationSet,
  spec: InputSpec,
  engine: EngineOptions,
  batch: number,
): Promise<VerificationComparison> {
  const b = await verificationScore(before, set, spec, engine, batch, 'float model');
  const a = await verificationScore(after, set, spec, engine, batch, 'quantized model');
  return { source: set.source, pairs: set.pairs.length, before: b, after: a, dropPoints: (b.accuracy - a.accuracy) * 100 };
}
