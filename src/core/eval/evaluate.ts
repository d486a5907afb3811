import * as path from 'path';
import { performance } from 'perf_hooks';
import { EmbeddingSession, EngineOptions, effectiveThreads } from '../engines/onnxruntime';
import { InputError } from '../errors';
import { InputSpec, inputSpecFromMetadata } from '../export/metadata';
import { EmbeddingCache, modelKey } from './cache';
import { EmbedProgress, EmbedResult, embedImages, preprocessingKey } from './embed';
import { EvalSet, EvalSetOptions, MissingSummary, SetFormat, loadEvalSet } from './evalSet';
import { ResolvedInputSpec, SpecOrigin, guessedSpecNote, resolveInputSpec } from './inputSpec';
import { EvalModel, loadEvalModel } from './model';
import { writeEvalOutputs } from './outputs';
import { IdentificationSummary, VerificationSummary, scorePairs, summarizeIdentification, summarizeVerification } from './scores';

/**
 * eval: a model on a verification set, end to end. Loads the set (refusing missing images
 * unless told to skip them), resolves the model and how to feed it, embeds every distinct image
 * once (through the cache), scores the pairs and computes the report; with an output folder,
 * writes the report, the ROC curve (SVG, PNG, CSV) there. The result is the `eval --json`
 * contract (README, "eval --json").
 */

export interface EvalSettings {
  data: string;
  set: EvalSetOptions;
  model: string;
  /** `--set` overrides, for models given as configs. */
  configSets: readonly string[];
  /** Explicit input settings (flags); they win over the model's metadata. */
  inputOverrides: Partial<InputSpec>;
  /** The config's `input` section: used for what neither the flags nor the model say. */
  inputConfig: { size: number; color: 'rgb' | 'bgr'; mean: number; std: number };
  flip: boolean;
  batchSize: number;
  fars: readonly number[];
  galleryPerIdentity: number;
  seed: number;
  /** Embedding cache root; undefined turns the cache off. */
  cacheDir?: string;
  engine: EngineOptions;
  /** Folder for results.json and the ROC files; undefined writes nothing. */
  outDir?: string;
}

/** The `eval --json` contract (README): the verification summary (without the full ROC) plus context. */
export interface EvalResult extends Omit<VerificationSummary, 'roc'> {
  model: string;
  modelSha256: string;
  data: string;
  format: SetFormat;
  input: InputSpec & { origin: Record<keyof InputSpec, SpecOrigin> };
  flip: boolean;
  embeddingSize: number;
  images: number;
  missing: MissingSummary;
  identification: IdentificationSummary | null;
  cache: { dir: string | null; hits: number; misses: number; corrupt: number };
  timing: {
    seconds: number;
    embedSeconds: number;
    inferenceSeconds: number;
    imagesEmbedded: number;
    imagesPerSecond: number | null;
    pairsPerSecond: number;
  };
  engine: { provider: string; threads: number };
  outputs: { results: string; rocSvg: string; rocPng: string; rocCsv: string } | null;
  notes: string[];
}

export type EvalProgress = { phase: 'embed' } & EmbedProgress;

function identificationOrNote(
  embeddings: Float32Array[],
  identities: string[] | undefined,
  s: EvalSettings,
  notes: string[],
): IdentificationSummary | null {
  if (identities === undefined) return null;
  try {
    return summarizeIdentification(embeddings, identities, { seed: s.seed, galleryPerIdentity: s.galleryPerIdentity });
  } catch (err) {
    notes.push(`1:N identification skipped: ${(err as Error).message}`);
    return null;
  }
}

function openCache(s: EvalSettings, model: EvalModel, spec: InputSpec): EmbeddingCache | undefined {
  if (s.cacheDir === undefined) return undefined;
  return new EmbeddingCache(s.cacheDir, modelKey({ modelSha256: model.sha256, preprocessing: preprocessingKey(spec, s.flip) }));
}

interface ResultParts {
  s: EvalSettings;
  set: EvalSet;
  model: EvalModel;
  resolved: ResolvedInputSpec;
  embedded: EmbedResult;
  verification: VerificationSummary;
  identification: IdentificationSummary | null;
  cache: EmbeddingCache | undefined;
  seconds: number;
  notes: string[];
}

function toResult(p: ResultParts): EvalResult {
  const { s, set, model, resolved, embedded, verification: v, cache } = p;
  return {
    model: model.label,
    modelSha256: model.sha256,
    data: s.data,
    format: set.format,
    input: { ...resolved.spec, origin: resolved.origin },
    flip: s.flip,
    embeddingSize: embedded.size,
    images: set.images.length,
    pairs: v.pairs,
    positives: v.positives,
    negatives: v.negatives,
    missing: set.missing,
    folds: v.folds,
    accuracy: v.accuracy,
    accuracyStd: v.accuracyStd,
    threshold: v.threshold,
    perFold: v.perFold,
    auc: v.auc,
    eer: v.eer,
    eerThreshold: v.eerThreshold,
    tarAtFar: v.tarAtFar,
    identification: p.identification,
    cache: cache
      ? { dir: path.join(cache.root, cache.key), hits: cache.stats.hits, misses: cache.stats.misses, corrupt: cache.stats.corrupt }
      : { dir: null, hits: 0, misses: set.images.length, corrupt: 0 },
    timing: {
      seconds: p.seconds,
      embedSeconds: embedded.seconds,
      inferenceSeconds: embedded.inferenceSeconds,
      imagesEmbedded: embedded.computed,
      imagesPerSecond: embedded.computed > 0 ? embedded.computed / embedded.seconds : null,
      pairsPerSecond: v.pairs / p.seconds,
    },
    engine: { provider: s.engine.provider, threads: effectiveThreads(s.engine.threads) },
    outputs: null,
    notes: p.notes,
  };
}

export async function runEval(s: EvalSettings, onProgress?: (p: EvalProgress) => void): Promise<EvalResult> {
  const start = performance.now();
  if (!Number.isInteger(s.batchSize) || s.batchSize < 1) throw new InputError(`batch size ${s.batchSize}: expected an integer >= 1`);
  const set = loadEvalSet(s.data, s.set);
  const model = loadEvalModel(s.model, s.configSets);
  const notes = [...model.notes];
  if (set.missing.images > 0) notes.push(`${set.missing.pairs} pairs skipped: ${set.missing.images} images missing (first: ${set.missing.first.join(', ')})`);
  const session = await EmbeddingSession.create(model.bytes, s.engine, model.label);
  try {
    const resolved = resolveInputSpec({
      model: model.label,
      overrides: s.inputOverrides,
      metadata: inputSpecFromMetadata(model.metadata),
      inputShape: session.inputShape,
      config: s.inputConfig,
    });
    const guessed = guessedSpecNote(resolved);
    if (guessed) notes.push(guessed);
    const cache = openCache(s, model, resolved.spec);
    const embedded = await embedImages(session, set.images, {
      spec: resolved.spec,
      flip: s.flip,
      batchSize: s.batchSize,
      cache,
      declaredSize: model.declaredEmbeddingSize,
      model: model.label,
      onProgress: (p) => onProgress?.({ phase: 'embed', ...p }),
    });
    if (cache?.writeError) notes.push(cache.writeError);
    const verification = summarizeVerification(scorePairs(embedded.embeddings, set.pairs), set.pairs, { folds: s.set.folds, fars: s.fars });
    const identification = identificationOrNote(embedded.embeddings, set.identities, s, notes);
    const seconds = (performance.now() - start) / 1000;
    const result = toResult({ s, set, model, resolved, embedded, verification, identification, cache, seconds, notes });
    if (s.outDir !== undefined) result.outputs = await writeEvalOutputs(s.outDir, result, verification.roc);
    return result;
  } finally {
    await session.release();
  }
}
