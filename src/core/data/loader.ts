/**
 * The training data loader: seeded, reproducible batches of normalised float32 NCHW images with
 * their labels, prepared ahead of the consumer (by worker threads, or inline).
 *
 * Reproducibility: batch b of epoch e holds the samples at positions [b*B, (b+1)*B) of that
 * epoch's seeded order, each augmented by a plan drawn from Rng(seed, epoch, position) in the
 * main thread. Preparing a sample is a pure function of its file and plan, so the bytes do not
 * depend on the worker count or on scheduling, and `startAt` resumes the exact stream.
 *
 * A sample that cannot be decoded is skipped, reported once through `onSkip` and listed in
 * `stats()`; its position takes the next decodable sample of the same epoch order (wrapping),
 * still with that position's plan. Which files are bad depends only on their contents, so the
 * substitution is deterministic too.
 */
import { InputError } from '../errors';
import { ImageError } from '../image/image';
import { FloatTensor } from '../image/tensor';
import { AugmentSettings, drawAugmentation } from './augment';
import { Dataset } from './dataset';
import { augmentRng, batchRange, batchesPerEpoch, checkBatchSize, epochOrder } from './order';
import { SampleExecutor, createExecutor } from './pool';
import { SampleSpec } from './sample';

export interface LoaderOptions {
  batchSize: number;
  /** Drop each epoch's last, smaller batch. */
  dropLast: boolean;
  /** A new seeded order every epoch; otherwise dataset order. */
  shuffle: boolean;
  seed: number;
  augment: AugmentSettings;
  /** The model input: size, channel order, (x - mean) / std. */
  input: SampleSpec;
  /** Worker threads; 0 prepares samples in this thread. */
  workers: number;
  /** Batches prepared ahead of the one being consumed (default 2). */
  prefetchBatches?: number;
  /** Called once for each image that cannot be decoded, when it is found. */
  onSkip?: (skipped: SkippedImage) => void;
}

export interface SkippedImage {
  path: string;
  /** The decoder's one-line message, naming the file. */
  message: string;
}

export interface Batch {
  epoch: number;
  /** Batch index within the epoch. */
  index: number;
  /** [B, 3, size, size], normalised as the model expects. */
  images: FloatTensor;
  /** Class index per image. */
  labels: Int32Array;
  /** [B, classes] one-hot rows. */
  oneHot: Float32Array;
  /** The dataset index of each image (after any substitution of a bad image). */
  samples: Int32Array;
}

export interface LoaderStats {
  batches: number;
  images: number;
  /** Time `next()` spent waiting for data: what the loader cost the consumer. */
  waitMs: number;
  skipped: SkippedImage[];
}

export interface Position {
  epoch: number;
  batch: number;
}

export class DataLoader {
  readonly batchesPerEpoch: number;
  readonly classes: number;
  private readonly prefetch: number;
  private readonly orders = new Map<number, Int32Array>();
  private readonly bad = new Map<number, SkippedImage>();
  private readonly ahead = new Map<number, Promise<Batch>>();
  /** Global number (epoch * batchesPerEpoch + index) of the next batch `next()` returns. */
  private cursor = 0;
  private served = { batches: 0, images: 0, waitMs: 0 };
  private closed = false;

  private constructor(
    private readonly dataset: Dataset,
    private readonly options: LoaderOptions,
    private readonly executor: SampleExecutor,
  ) {
    this.batchesPerEpoch = batchesPerEpoch(dataset.samples.length, options.batchSize, options.dropLast);
    this.classes = dataset.classes.length;
    this.prefetch = options.prefetchBatches ?? 2;
  }

  /** Checks the batch size against the dataset and starts the workers. */
  static create(dataset: Dataset, options: LoaderOptions): DataLoader {
    checkBatchSize(options.batchSize, dataset.samples.length, dataset.source);
    if (!Number.isInteger(options.workers) || options.workers < 0) throw new InputError(`data.workers ${options.workers}: expected an integer >= 0`);
    return new DataLoader(dataset, options, createExecutor(options.input, options.workers));
  }

  get workers(): number {
    return this.executor.workers;
  }

  /** Where the next batch comes from: save it with a checkpoint, pass it to `startAt` to resume. */
  get position(): Position {
    return { epoch: Math.floor(this.cursor / this.batchesPerEpoch), batch: this.cursor % this.batchesPerEpoch };
  }

  /** Makes `next()` continue from batch `batch` of epoch `epoch`, exactly as an uninterrupted run would. */
  startAt(epoch: number, batch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new InputError(`start epoch ${epoch}: expected an integer >= 0`);
    if (!Number.isInteger(batch) || batch < 0 || batch >= this.batchesPerEpoch) {
      throw new InputError(`start batch ${batch}: expected an integer in 0..${this.batchesPerEpoch - 1} (${this.batchesPerEpoch} batches per epoch)`);
    }
    // Batches already prepared for another position are dropped; their samples finish unused.
    this.ahead.clear();
    this.cursor = epoch * this.batchesPerEpoch + batch;
  }

  /** The next batch, continuing into the next epoch after the last. */
  async next(): Promise<Batch> {
    if (this.closed) throw new Error('data loader: next() after close()');
    this.fill();
    const pending = this.ahead.get(this.cursor) as Promise<Batch>;
    this.ahead.delete(this.cursor);
    this.cursor++;
    this.fill();
    const started = performance.now();
    const batch = await pending;
    this.served.waitMs += performance.now() - started;
    this.served.batches++;
    this.served.images += batch.labels.length;
    return batch;
  }

  /**
   * Called with true while a training step has the cores: until called with false, workers
   * start samples only of the batch `next()` returns next, not of those prefetched after it.
   */
  hold(held: boolean): void {
    this.executor.hold(held ? this.cursor : undefined);
  }

  stats(): LoaderStats {
    return { ...this.served, skipped: [...this.bad.values()] };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ahead.clear();
    await this.executor.close();
  }

  /** Requests the next batch and the `prefetch` after it. */
  private fill(): void {
    for (let g = this.cursor; g <= this.cursor + this.prefetch; g++) {
      if (this.ahead.has(g)) continue;
      const batch = this.assemble(g);
      // A prefetched batch that is dropped (startAt, close) must not become an unhandled rejection.
      batch.catch(() => undefined);
      this.ahead.set(g, batch);
    }
  }

  private order(epoch: number): Int32Array {
    let order = this.orders.get(epoch);
    if (order === undefined) {
      order = epochOrder(this.dataset.samples.length, this.options.seed, epoch, this.options.shuffle);
      this.orders.set(epoch, order);
      // Only the epochs around the cursor are ever needed again.
      for (const e of this.orders.keys()) if (e < epoch - 1) this.orders.delete(e);
    }
    return order;
  }

  /** Batch `g` of the whole stream (epoch * batchesPerEpoch + index). */
  private async assemble(g: number): Promise<Batch> {
    const { batchSize, input } = this.options;
    const epoch = Math.floor(g / this.batchesPerEpoch);
    const index = g % this.batchesPerEpoch;
    const order = this.order(epoch);
    const { start, end } = batchRange(order.length, batchSize, index);
    const loaded = await Promise.all(Array.from({ length: end - start }, (_, i) => this.loadSlot(g, epoch, order, start + i)));
    const plane = 3 * input.size * input.size;
    const images = new Float32Array(loaded.length * plane);
    const labels = new Int32Array(loaded.length);
    const samples = new Int32Array(loaded.length);
    const oneHot = new Float32Array(loaded.length * this.classes);
    loaded.forEach(({ sample, data }, i) => {
      images.set(data, i * plane);
      samples[i] = sample;
      labels[i] = this.dataset.samples[sample].label;
      oneHot[i * this.classes + labels[i]] = 1;
    });
    return { epoch, index, images: { data: images, dims: [loaded.length, 3, input.size, input.size] }, labels, oneHot, samples };
  }

  /** The sample for one position of an epoch: its own, or the next decodable one in the order. */
  private async loadSlot(batch: number, epoch: number, order: Int32Array, slot: number): Promise<{ sample: number; data: Float32Array }> {
    const plan = drawAugmentation(augmentRng(this.options.seed, epoch, slot), this.options.augment);
    const n = order.length;
    for (let k = 0; k < n; k++) {
      const sample = order[(slot + k) % n];
      if (this.bad.has(sample)) continue;
      try {
        return { sample, data: await this.executor.run({ file: this.dataset.samples[sample].path, plan, batch }) };
      } catch (err) {
        if (!(err instanceof ImageError)) throw err;
        this.markBad(sample, err);
      }
    }
    throw new InputError(`${this.dataset.source}: none of its ${n} images could be decoded (e.g. ${[...this.bad.values()][0]?.message ?? 'unknown'})`);
  }

  private markBad(sample: number, err: ImageError): void {
    if (this.bad.has(sample)) return;
    const skipped = { path: this.dataset.samples[sample].path, message: err.message };
    this.bad.set(sample, skipped);
    this.options.onSkip?.(skipped);
  }
}
