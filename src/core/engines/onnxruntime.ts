import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputError } from '../errors';

/**
 * The onnxruntime engine: sessions with a chosen execution provider, thread count and graph
 * optimisation level, and a batched `embed` over image tensors. Vocabulary follows
 * onnxruntime's JS API (InferenceSession, run, feeds).
 */

export const PROVIDERS = ['cpu', 'cuda', 'tensorrt'] as const;
export type Provider = (typeof PROVIDERS)[number];
export const GRAPH_OPTIMIZATIONS = ['disabled', 'basic', 'extended', 'all'] as const;
export type GraphOptimization = (typeof GRAPH_OPTIMIZATIONS)[number];

export interface EngineOptions {
  provider: Provider;
  /** Intra-op threads; 0 lets onnxruntime choose. */
  threads: number;
  graphOptimization: GraphOptimization;
  /**
   * onnxruntime's memory pattern (default on): one block per run, laid out from the first run's
   * allocations. Training graphs should turn it off: on MobileFaceNet's training graph (batch
   * 32) the pattern's block held 4.2 GB where allocating tensor by tensor from the arena peaks at
   * 2.2 GB, and it ran no faster (BENCHMARKS.md, "train").
   */
  memoryPattern?: boolean;
  /**
   * Whether idle intra-op threads spin waiting for work (onnxruntime's default, on). Off yields
   * the cores between ops, which helps when other processes share them.
   */
  spinning?: boolean;
  /**
   * Whether spinning threads go on spinning after a run returns (onnxruntime's default, on). Off
   * (`session.force_spinning_stop`) hands the cores back as each run ends: a training loop runs
   * its optimiser and data workers between runs (ResNet50 whole runs 1-9% faster, BENCHMARKS.md
   * "train").
   */
  spinAfterRun?: boolean;
}

export const DEFAULT_ENGINE: EngineOptions = { provider: 'cpu', threads: 0, graphOptimization: 'all' };

/** The model or provider cannot be used as given: the user can fix it. */
export class EngineError extends InputError {}

/** The shared libraries a GPU provider needs beside the binding; onnxruntime-node does not bundle them. */
const PROVIDER_LIBRARIES: Record<Exclude<Provider, 'cpu'>, string[]> = {
  cuda: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  tensorrt: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'],
};

function bindingDir(): string {
  const root = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(root, 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Checks up front that a GPU provider's libraries are installed, so the user gets one clear
 * line instead of onnxruntime's native load errors.
 */
export function assertProviderAvailable(provider: Provider): void {
  if (provider === 'cpu') return;
  const dir = bindingDir();
  const missing = PROVIDER_LIBRARIES[provider].filter((lib) => !fs.existsSync(path.join(dir, lib)));
  if (missing.length > 0) {
    throw new EngineError(
      `execution provider '${provider}' is not available: this onnxruntime-node install lacks ${missing.join(', ')} ` +
        `(the project skips that download; on a CUDA 12 machine reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci)`,
    );
  }
}

/** The thread count a session will actually use, for reports. */
export function effectiveThreads(threads: number): number {
  return threads > 0 ? threads : os.availableParallelism();
}

export function sessionOptions(opts: EngineOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [opts.provider],
    intraOpNumThreads: effectiveThreads(opts.threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.graphOptimization,
    logSeverityLevel: 3,
    ...(opts.memoryPattern === false ? { enableMemPattern: false } : {}),
    ...sessionConfig(opts),
  };
}

/** Session config entries; they travel as `extra`, flattened to dotted keys by the binding. */
function sessionConfig(opts: EngineOptions): { extra?: { session: Record<string, unknown> } } {
  const session: Record<string, unknown> = {
    ...(opts.spinning === false ? { intra_op: { allow_spinning: '0' } } : {}),
    ...(opts.spinAfterRun === false ? { force_spinning_stop: '1' } : {}),
  };
  return Object.keys(session).length > 0 ? { extra: { session } } : {};
}

export async function createSession(
  model: Uint8Array | string,
  opts: EngineOptions,
  source = typeof model === 'string' ? model : 'model',
): Promise<ort.InferenceSession> {
  assertProviderAvailable(opts.provider);
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, sessionOptions(opts))
      : await ort.InferenceSession.create(model, sessionOptions(opts));
  } catch (e) {
    const first = ((e as Error).message ?? String(e)).split('\n')[0];
    throw new EngineError(`onnxruntime cannot load ${source}: ${first}`);
  }
}

/** A model with one image input and (at least) one embedding output. */
export class EmbeddingSession {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly inputName: string,
    readonly outputName: string,
    /** Input shape with the batch first; non-numeric entries are dynamic. */
    readonly inputShape: readonly (number | string)[],
  ) {}

  static async create(model: Uint8Array | string, opts: EngineOptions, source = typeof model === 'string' ? model : 'model'): Promise<EmbeddingSession> {
    const session = await createSession(model, opts, source);
    if (session.inputNames.length !== 1) {
      throw new EngineError(`${source}: expected a model with one image input, found ${session.inputNames.length} (${session.inputNames.join(', ')})`);
    }
    const meta = session.inputMetadata[0];
    const shape = meta.isTensor ? meta.shape : [];
    if (shape.length !== 4) throw new EngineError(`${source}: expected a 4-D image input, found shape [${shape.join(', ')}]`);
    return new EmbeddingSession(session, session.inputNames[0], session.outputNames[0], shape);
  }

  /** The batch size the model requires, or undefined when its batch axis is dynamic. */
  get fixedBatch(): number | undefined {
    return typeof this.inputShape[0] === 'number' && this.inputShape[0] > 0 ? this.inputShape[0] : undefined;
  }

  /** Runs one batch; `images` holds `batch` images laid out as the model's input shape. */
  async run(images: Float32Array, batch: number): Promise<{ data: Float32Array; dims: readonly number[] }> {
    const dims = [batch, ...this.inputShape.slice(1).map((d) => (typeof d === 'number' ? d : NaN))];
    if (dims.some((d) => !Number.isFinite(d))) throw new EngineError(`input ${this.inputName} has dynamic non-batch dimensions [${this.inputShape}]`);
    const feeds = { [this.inputName]: new ort.Tensor('float32', images, dims) };
    const out = await this.session.run(feeds, [this.outputName]);
    const t = out[this.outputName];
    return { data: t.data as Float32Array, dims: t.dims };
  }

  /**
   * Embeds `count` images (contiguous in `images`) in batches of `batchSize` (the model's fixed
   * batch, when it has one: a short last batch is zero-padded). Returns [count, E] row-major.
   */
  async embed(images: Float32Array, count: number, batchSize: number): Promise<{ embeddings: Float32Array; size: number }> {
    const per = images.length / count;
    const step = this.fixedBatch ?? batchSize;
    let size = 0;
    let embeddings = new Float32Array(0);
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start);
      const chunk = new Float32Array(step * per);
      chunk.set(images.subarray(start * per, (start + n) * per));
      const { data, dims } = await this.run(this.fixedBatch ? chunk : chunk.subarray(0, n * per), this.fixedBatch ?? n);
      if (size === 0) {
        size = data.length / dims[0];
        embeddings = new Float32Array(count * size);
      }
      embeddings.set(data.subarray(0, n * size), start * size);
    }
    return { embeddings, size };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
