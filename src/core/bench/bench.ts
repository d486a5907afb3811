import { performance } from 'node:perf_hooks';
import { countFlops, countParams } from '../graph/stats';
import { Graph } from '../graph/types';
import { EmbeddingSession, EngineOptions, effectiveThreads } from '../engines/onnxruntime';
import { peakRssBytes, resetPeakRss } from '../util/memory';
import { Rng } from '../util/rng';
import { median, percentile } from '../util/stats';

/**
 * bench: parameters, FLOPs, size, batch-1 latency percentiles and throughput per batch size,
 * as medians over repeated timed samples after warm-up. The result shape is the documented
 * `bench --json` contract (README, "bench --json").
 */

export interface BenchTarget {
  label: string;
  /** The ONNX bytes to run. */
  model: Uint8Array;
  /** The graph, when it could be read, for parameter and FLOP counts. */
  graph?: Graph;
  fileBytes: number;
}

export interface BenchSettings {
  batchSizes: number[];
  warmup: number;
  repeats: number;
  latencyIterations: number;
  engine: EngineOptions;
  seed: number;
}

export interface ThroughputPoint {
  batch: number;
  imagesPerSecond: number;
  /** Slowest and fastest sample, to show the noise behind the median. */
  minImagesPerSecond: number;
  maxImagesPerSecond: number;
}

export interface BenchResult {
  model: string;
  params: number | null;
  flops: number | null;
  fileBytes: number;
  inputShape: (number | string)[];
  latencyMs: { p50: number; p95: number; p99: number };
  throughput: ThroughputPoint[];
  threads: number;
  provider: string;
  graphOptimization: string;
  peakRssBytes: number;
  notes: string[];
}

export interface BenchProgress {
  model: string;
  phase: 'latency' | 'throughput';
  batch: number;
  done: number;
  total: number;
}

/** Images per timed sample, so that small batches are not timed one short call at a time. */
const MIN_IMAGES_PER_SAMPLE = 32;

function staticCounts(graph: Graph | undefined): { params: number | null; flops: number | null; note?: string } {
  if (!graph) return { params: null, flops: null, note: 'graph not readable: params and FLOPs unknown' };
  const params = countParams(graph);
  try {
    return { params, flops: countFlops(graph).total };
  } catch (e) {
    return { params, flops: null, note: `FLOPs unknown: ${(e as Error).message}` };
  }
}

function randomImages(session: EmbeddingSession, batch: number, seed: number): Float32Array {
  const per = session.inputShape.slice(1).reduce<number>((a, d) => a * Number(d), 1);
  const rng = new Rng(seed, `bench-input-${batch}`);
  return Float32Array.from({ length: per * batch }, () => rng.range(-1, 1));
}

async function timeRuns(session: EmbeddingSession, x: Float32Array, batch: number, runs: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < runs; i++) await session.run(x, batch);
  return (performance.now() - start) / 1000;
}

export async function benchModel(target: BenchTarget, s: BenchSettings, onProgress?: (p: BenchProgress) => void): Promise<BenchResult> {
  const notes: string[] = [];
  const counts = staticCounts(target.graph);
  if (counts.note) notes.push(counts.note);
  resetPeakRss();
  const session = await EmbeddingSession.create(target.model, s.engine, target.label);
  try {
    const fixed = session.fixedBatch;
    let batchSizes = s.batchSizes;
    if (fixed !== undefined && batchSizes.some((b) => b !== fixed)) {
      notes.push(`model has a fixed batch of ${fixed}: throughput measured at batch ${fixed} only`);
      batchSizes = [fixed];
    }
    const latencyBatch = fixed ?? 1;
    const x1 = randomImages(session, latencyBatch, s.seed);
    for (let i = 0; i < s.warmup; i++) await session.run(x1, latencyBatch);
    const latencies: number[] = [];
    for (let i = 0; i < s.latencyIterations; i++) {
      latencies.push((await timeRuns(session, x1, latencyBatch, 1)) * 1000);
      onProgress?.({ model: target.label, phase: 'latency', batch: latencyBatch, done: i + 1, total: s.latencyIterations });
    }
    if (latencyBatch !== 1) notes.push(`latency measured at batch ${latencyBatch}`);
    const throughput: ThroughputPoint[] = [];
    for (const batch of batchSizes) {
      const x = randomImages(session, batch, s.seed);
      for (let i = 0; i < s.warmup; i++) await session.run(x, batch);
      const runs = Math.max(1, Math.ceil(MIN_IMAGES_PER_SAMPLE / batch));
      const rates: number[] = [];
      for (let r = 0; r < s.repeats; r++) {
        rates.push((runs * batch) / (await timeRuns(session, x, batch, runs)));
        onProgress?.({ model: target.label, phase: 'throughput', batch, done: r + 1, total: s.repeats });
      }
      throughput.push({ batch, imagesPerSecond: median(rates), minImagesPerSecond: Math.min(...rates), maxImagesPerSecond: Math.max(...rates) });
    }
    return {
      model: target.label,
      params: counts.params,
      flops: counts.flops,
      fileBytes: target.fileBytes,
      inputShape: [...session.inputShape],
      latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) },
      throughput,
      threads: effectiveThreads(s.engine.threads),
      provider: s.engine.provider,
      graphOptimization: s.engine.graphOptimization,
      peakRssBytes: peakRssBytes(),
      notes,
    };
  } finally {
    await session.release();
  }
}
