import { promises as fsp } from 'fs';
import { performance } from 'perf_hooks';
import { EmbeddingSession } from '../engines/onnxruntime';
import { InputError } from '../errors';
import { InputSpec } from '../export/metadata';
import { ImageError, RgbImage, decodeImage } from '../image/image';
import { resizeBilinear } from '../image/ops';
import { toNchw, toNhwc } from '../image/tensor';
import { flipCombine } from '../metrics/embedding';
import { EmbeddingCache, contentHash } from './cache';
import { ImageRef, imageName } from './evalSet';

/**
 * Embeds a list of images with a model: read, hash (the cache key), look up the cache, decode
 * the misses, resize to the model's input size when they are another size (bilinear, aspect
 * ratio not kept: the images are meant to be aligned crops already), lay out per the input
 * spec, run in batches. With flip TTA each image and its mirror are embedded and the two raw
 * embeddings summed and L2-normalised (insightface's protocol); without it the raw embedding is
 * kept. Reading and decoding the next batch overlaps inference on the current one.
 */

export interface EmbedProgress {
  done: number;
  total: number;
  /** Of `done`, how many came from the cache. */
  cached: number;
}

export interface EmbedOptions {
  spec: InputSpec;
  flip: boolean;
  batchSize: number;
  cache?: EmbeddingCache;
  /** The embedding width the model's metadata declares, checked against what it outputs. */
  declaredSize?: number;
  model: string;
  onProgress?: (p: EmbedProgress) => void;
}

export interface EmbedResult {
  embeddings: Float32Array[];
  size: number;
  /** Images run through the model (cache misses). */
  computed: number;
  /** Wall time of the whole embedding step, and of the model runs alone. */
  seconds: number;
  inferenceSeconds: number;
}

interface PreparedBatch {
  /** Positions in the image list of the images to run. */
  indices: number[];
  /** Images of this batch found in the cache. */
  hits: number;
  hashes: string[];
  images: RgbImage[];
}

/** The preprocessing facts that change an embedding, for the cache key. */
export function preprocessingKey(spec: InputSpec, flip: boolean): Record<string, unknown> {
  return { spec, flip, resize: 'bilinear-stretch' };
}

async function readRef(ref: ImageRef): Promise<Buffer> {
  if (ref.kind === 'bytes') return ref.bytes;
  try {
    return await fsp.readFile(ref.path);
  } catch (err) {
    throw new InputError(`${ref.path}: cannot read image (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function decodeRef(ref: ImageRef, bytes: Buffer, size: number): Promise<RgbImage> {
  let image: RgbImage;
  try {
    image = (await decodeImage(bytes, { name: imageName(ref) })).image;
  } catch (err) {
    // A damaged image in the user's set is bad input (exit 2), named by its file.
    if (err instanceof ImageError) throw new InputError(err.message);
    throw err;
  }
  return image.width === size && image.height === size ? image : resizeBilinear(image, size, size);
}

function toTensor(images: RgbImage[], spec: InputSpec, flip: boolean): Float32Array {
  const opts = { channelOrder: spec.color, mean: spec.mean, std: spec.std, flip };
  return (spec.layout === 'NCHW' ? toNchw(images, opts) : toNhwc(images, opts)).data;
}

/** Runs the model once on a blank image: its output width, checked against the metadata before any real work. */
export async function probeEmbeddingSize(session: EmbeddingSession, spec: InputSpec, model: string, declaredSize?: number): Promise<number> {
  const blank: RgbImage = { width: spec.size, height: spec.size, data: new Uint8Array(spec.size * spec.size * 3) };
  const { size } = await session.embed(toTensor([blank], spec, false), 1, 1);
  if (declaredSize !== undefined && size !== declaredSize) {
    throw new InputError(`model ${model}: outputs ${size}-d embeddings, but its metadata embedding_size says ${declaredSize}`);
  }
  return size;
}

export async function embedImages(session: EmbeddingSession, refs: readonly ImageRef[], opts: EmbedOptions): Promise<EmbedResult> {
  const start = performance.now();
  const size = await probeEmbeddingSize(session, opts.spec, opts.model, opts.declaredSize);
  if (opts.cache) opts.cache.expectedSize = size;
  const embeddings: Float32Array[] = new Array(refs.length);
  let cached = 0;
  let computed = 0;
  let inferenceSeconds = 0;

  const prepare = async (from: number): Promise<PreparedBatch> => {
    const batch: PreparedBatch = { indices: [], hits: 0, hashes: [], images: [] };
    const chunk = refs.slice(from, from + opts.batchSize);
    const loaded = await Promise.all(
      chunk.map(async (ref) => {
        const bytes = await readRef(ref);
        const hash = contentHash(bytes);
        const hit = opts.cache?.get(hash);
        return { ref, bytes, hash, hit };
      }),
    );
    const misses = loaded.filter((l) => l.hit === undefined);
    loaded.forEach((l, k) => {
      if (l.hit !== undefined) {
        embeddings[from + k] = l.hit;
        batch.hits++;
      } else {
        batch.indices.push(from + k);
        batch.hashes.push(l.hash);
      }
    });
    batch.images = await Promise.all(misses.map((l) => decodeRef(l.ref, l.bytes, opts.spec.size)));
    return batch;
  };

  const run = async (batch: PreparedBatch): Promise<void> => {
    cached += batch.hits;
    const n = batch.images.length;
    if (n === 0) return;
    const views = opts.flip ? 2 : 1;
    const plain = toTensor(batch.images, opts.spec, false);
    let input = plain;
    if (opts.flip) {
      input = new Float32Array(plain.length * 2);
      input.set(plain);
      input.set(toTensor(batch.images, opts.spec, true), plain.length);
    }
    const t0 = performance.now();
    const out = await session.embed(input, n * views, opts.batchSize);
    inferenceSeconds += (performance.now() - t0) / 1000;
    for (let k = 0; k < n; k++) {
      const row = out.embeddings.slice(k * size, (k + 1) * size);
      const embedding = opts.flip ? flipCombine(row, out.embeddings.subarray((n + k) * size, (n + k + 1) * size)) : row;
      embeddings[batch.indices[k]] = embedding;
      opts.cache?.put(batch.hashes[k], embedding);
    }
    computed += n;
  };

  let next: Promise<PreparedBatch> | undefined = refs.length > 0 ? prepare(0) : undefined;
  for (let from = 0; next !== undefined; from += opts.batchSize) {
    const current: PreparedBatch = await next;
    next = from + opts.batchSize < refs.length ? prepare(from + opts.batchSize) : undefined;
    // If the run below throws, the prefetch's own failure must not surface as an unhandled rejection.
    next?.catch(() => undefined);
    await run(current);
    opts.onProgress?.({ done: Math.min(from + opts.batchSize, refs.length), total: refs.length, cached });
  }
  return { embeddings, size, computed, seconds: (performance.now() - start) / 1000, inferenceSeconds };
}
